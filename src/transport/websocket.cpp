// WebSocket: /sub/{channel} (one channel, each message an envelope frame) and /ws (many channels,
// the JSON protocol of transport/ws_protocol). One session type serves both.
#include "transport/websocket.hpp"

#include <spdlog/spdlog.h>
#include <limits>
#include <unordered_map>

#include "http/http_session.hpp"
#include "transport/stream_core.hpp"
#include "transport/ws_frames.hpp"
#include "transport/ws_layer.hpp"
#include "transport/ws_protocol.hpp"

namespace herald {
namespace {

class WebSocketSession final : public StreamCore, public std::enable_shared_from_this<WebSocketSession> {
 public:
  WebSocketSession(NetStream stream, ServerContext& context, Hub& hub, bool multiplex, std::shared_ptr<void> ticket,
                   Client client, std::string upgrade_token)
      : StreamCore(context, hub, Wire::websocket),
        ticket_(std::move(ticket)),
        ws_(std::move(stream)),
        multiplex_(multiplex),
        client_(std::move(client)),
        upgrade_token_(std::move(upgrade_token)) {
    // A socket's frames publish only as a client (where a namespace lets clients publish): neither a key
    // given with the upgrade nor the machine it comes from makes them more. The upgrade's Origin was
    // checked by the route.
    client_.bearer.reset();
    client_.this_machine = false;
    client_.origin_ok = true;
  }

  void accept(const Request& request, std::optional<SubscribeRequest> single) {
    const Limits& limits = context_.config.limits;
    ws_.next_layer().net().tcp().expires_never();  // the WebSocket's own timeouts (below) take over
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::seconds(limits.request_timeout_seconds);
    timeouts.idle_timeout = std::chrono::seconds(limits.ws_idle_timeout_seconds);
    timeouts.keep_alive_pings = true;  // ping at half the idle timeout; no pong by the end: dropped
    ws_.set_option(timeouts);
    ws_.read_message_max(limits.ws_max_message_bytes);
    if (limits.ws_deflate) {
      // Beast negotiates permessage-deflate and inflates what the client compresses; herald compresses its
      // own frames, once per message (ws_frames), which server_no_context_takeover makes possible.
      websocket::permessage_deflate deflate;
      deflate.server_enable = true;
      deflate.server_no_context_takeover = true;
      ws_.set_option(deflate);
    }
    // Runs on the answer Beast has built, its Sec-WebSocket-Extensions included.
    ws_.set_option(websocket::stream_base::decorator([this](websocket::response_type& response) {
      response.set(http::field::server, "herald");
      deflate_ = ws::deflate_agreed(response[http::field::sec_websocket_extensions]);
    }));
    ws_.text(true);
    if (single) {
      single_channel_ = single->channel;
      single_presence_ = std::move(single->presence);  // held while the socket lives
    }
    ws_.async_accept(request, [self = shared_from_this(), single = std::move(single)](error_code ec) {
      if (ec) return;
      self->route_writes();
      self->hub_.attach(self.get());
      self->attached_ = true;
      if (self->context_.shutting_down.load(std::memory_order_relaxed)) {
        self->close(CloseReason::shutdown);  // close_all ran during the handshake
        return self->read();                 // to hear the client's close reply
      }
      if (single) self->subscribe(single->channel, single->from, {});
      self->read();
    });
  }

  Delivery deliver(const MessagePtr& message) override {
    auto it = subscriptions_.find(message->channel());
    if (it == subscriptions_.end()) return closing_ ? Delivery::dropped : Delivery::skipped;
    return offer(it->second.catch_up, message, frame_of(*message), message->channel());
  }

  void close(CloseReason reason) override {
    if (closing_) return;
    closing_ = true;
    if (reason == CloseReason::slow_consumer) {
      spdlog::info("websocket: dropping a slow consumer ({} bytes queued, {} channels)", queue_.bytes(),
                   subscriptions_.size());
      // What is queued cannot all be sent; the client resumes from its last cursor instead.
      close_reason_ = {websocket::close_code::policy_error, "slow consumer: write queue full"};
      drop_unsent();
    }
    leave_all();
    flush();  // sends what is queued, then the close frame
  }

  Transport transport() const override { return Transport::websocket; }

 private:
  NetStream& out() override { return ws_.next_layer().net(); }

  // A message's frame for this socket: compressed where it negotiated permessage-deflate.
  const std::string& frame_of(const Message& message) const {
    if (!deflate_) return ws::message_frame(message, multiplex_);
    return ws::deflated_message_frame(message, multiplex_, context_.config.limits.ws_deflate_threshold_bytes);
  }
  std::shared_ptr<void> keep_alive() override { return shared_from_this(); }

  // From the end of the handshake, Beast's own frames (pong, ping, close) queue behind the data frames.
  void route_writes() {
    ws_.next_layer().route_writes(
        [this](std::string bytes) {
          if (!push(std::move(bytes))) return false;
          flush();
          return true;
        },
        [this](std::function<void()> then) {
          if (queue_.empty() && !writing()) return then();
          after_written_ = std::move(then);
        });
  }

  // Everything queued is written: Beast's teardown may go on; a closing socket sends its close frame;
  // a subscription still catching up reads its next page.
  void drained() override {
    if (after_written_) return std::exchange(after_written_, {})();
    if (closing_) {
      if (!close_sent_) send_close();
      return;
    }
    continue_catch_up();
  }

  void write_failed() override {
    error_code ignored;
    ws_.next_layer().net().socket().close(ignored);           // the pending read fails, and tears the session down
    if (after_written_) std::exchange(after_written_, {})();  // a teardown waiting for the queue goes on
  }

  // A subscription refused for want of a valid token closes the socket (1008, policy violation): the
  // error frame says why first.
  void refuse_and_close(const Error& error, const std::string& ref) {
    send(error_frame(error, ref));
    closing_ = true;
    close_reason_ = {websocket::close_code::policy_error, error.code};
    leave_all();
    flush();
  }

  void read() {
    ws_.async_read(in_, [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec) return self->teardown();
      std::string text = beast::buffers_to_string(self->in_.data());
      self->in_.consume(self->in_.size());
      if (self->multiplex_) {
        self->on_frame(text);
      } else {
        self->on_single_frame(text);
      }
      self->read();
    });
  }

  // /sub/{channel} listens to its one channel and may publish to it (where clients may publish), so a
  // chat page needs one socket; everything else belongs on /ws.
  void on_single_frame(std::string_view text) {
    if (closing_) return;
    std::string ref;
    auto parsed = parse_client_frame(text, ref);
    if (auto* error = std::get_if<Error>(&parsed)) return send(error_frame(*error, ref));
    ClientFrame& frame = std::get<ClientFrame>(parsed);
    if (frame.op != ClientFrame::Op::publish) {
      return send(error_frame({"bad_frame",
                               "A /sub/{channel} socket already listens to its channel and takes only publish "
                               "frames; subscribe and unsubscribe belong on /ws."},
                              ref));
    }
    if (frame.channel != single_channel_) {
      return send(error_frame(
          {"bad_frame", "A /sub/{channel} socket only publishes to its own channel; use /ws for more."}, ref));
    }
    if (frame.token.empty()) frame.token = upgrade_token_;  // the token the socket was opened with
    publish(std::move(frame));
  }

  void on_frame(std::string_view text) {
    if (closing_) return;  // the server is closing this socket: nothing new starts
    std::string ref;
    auto parsed = parse_client_frame(text, ref);
    if (auto* error = std::get_if<Error>(&parsed)) return send(error_frame(*error, ref));
    ClientFrame& frame = std::get<ClientFrame>(parsed);
    switch (frame.op) {
      case ClientFrame::Op::subscribe:
        return subscribe(frame);
      case ClientFrame::Op::unsubscribe:
        if (auto refused = context_.admission->inspect(frame.channel)) return send(error_frame(*refused, ref));
        return unsubscribe(frame.channel, frame.ref);
      case ClientFrame::Op::publish:
        return publish(std::move(frame));
    }
  }

  // A /ws subscribe frame: admitted here as the route admits /sub/{channel}.
  void subscribe(const ClientFrame& frame) {
    const std::string& ref = frame.ref;
    if (auto refused = context_.admission->read(client_, frame.channel, frame.token)) {
      // A refused token ends the socket (1008): a client must not keep probing tokens on one connection.
      if (context_.config.namespaces.for_channel(frame.channel).private_channels) {
        return refuse_and_close(*refused, ref);
      }
      return send(error_frame(*refused, ref));
    }
    std::shared_ptr<void> held;
    if (!frame.client.empty() || !frame.name.empty()) {
      auto member = context_.admission->hold_member(client_, frame.channel, PresenceMember{frame.client, frame.name});
      if (auto* refused = std::get_if<Error>(&member)) return send(error_frame(*refused, ref));
      held = std::get<std::shared_ptr<void>>(std::move(member));
    }
    if (!subscribe(frame.channel, {frame.since, frame.last}, ref)) return;
    // Stored whatever it looks like: a hold owns no pointer (its deleter is the release), so it tests false.
    subscriptions_[frame.channel].presence = std::move(held);
  }

  // False when refused (the error frame is sent).
  bool subscribe(const std::string& channel, const ReadFrom& from, const std::string& ref) {
    if (subscriptions_.contains(channel)) {
      send(error_frame({"already_subscribed", "This socket already listens to " + channel + "."}, ref));
      return false;
    }
    if (subscriptions_.size() >= context_.config.limits.ws_max_channels) {
      send(error_frame({"too_many_channels", "One socket may listen to at most " +
                                                 std::to_string(context_.config.limits.ws_max_channels) + " channels."},
                       ref));
      return false;
    }
    Subscription& subscription = subscriptions_[channel];
    subscription.ref = ref;
    join_channel(context_, hub_, *this, subscription.catch_up, channel, from,
                 [self = shared_from_this(), channel](auto outcome) { self->on_page(channel, std::move(outcome)); });
    return true;
  }

  // A page of a channel's history: the first one answers the subscribe.
  void on_page(const std::string& channel, std::variant<ReadResult, Error> outcome) {
    auto it = subscriptions_.find(channel);
    if (closing_ || it == subscriptions_.end()) return;
    Subscription& subscription = it->second;
    if (auto* error = std::get_if<Error>(&outcome)) {
      std::string ref = subscription.ref;
      hub_.unsubscribe(channel, this);
      subscriptions_.erase(it);
      send(error_frame(*error, ref));
      if (!multiplex_) {  // /sub/{channel} without its channel has nothing left to do: try again later
        close_reason_ = {websocket::close_code::try_again_later, error->code};
        close(CloseReason::shutdown);
      }
      return;
    }
    const auto& page = std::get<ReadResult>(outcome);
    const bool first = !subscription.announced;
    subscription.announced = true;
    if (first && multiplex_) {
      send(subscribed_frame(channel, page.newest, page.gap, subscription.ref));  // carries the first gap
    } else if (page.gap) {
      push(ws::gap_frame(channel, page.gap_cursor, multiplex_));
    }
    take_page(subscription.catch_up, page,
              [this](const Message& message) -> const std::string& { return frame_of(message); });
    flush();
  }

  // The next page of one channel still catching up, once everything queued has been written.
  void continue_catch_up() {
    for (auto& [channel, subscription] : subscriptions_) {
      if (!subscription.catch_up.wants_more()) continue;
      read_next_page(
          context_, subscription.catch_up, channel,
          [self = shared_from_this(), channel = channel](auto outcome) { self->on_page(channel, std::move(outcome)); });
      return;  // one page at a time; the next drain continues
    }
  }

  void unsubscribe(const std::string& channel, const std::string& ref) {
    if (subscriptions_.erase(channel) == 0) {
      return send(error_frame({"not_subscribed", "This socket does not listen to " + channel + "."}, ref));
    }
    hub_.unsubscribe(channel, this);
    send(unsubscribed_frame(channel, ref));
  }

  void publish(ClientFrame frame) {
    if (auto refused = context_.admission->publish(client_, frame.channel, frame.event, frame.token)) {
      return send(error_frame(*refused, frame.ref));
    }
    auto made = make_publish_request(frame.channel, std::move(frame.event), std::move(frame.data), frame.data_is_json,
                                     context_.admission->payload_limit(frame.channel));
    if (auto* error = std::get_if<Error>(&made)) return send(error_frame(*error, frame.ref));
    context_.broker.publish(std::get<PublishRequest>(std::move(made)),
                            [self = shared_from_this(), ref = frame.ref](auto outcome) {
                              if (auto* error = std::get_if<Error>(&outcome)) {
                                return self->send(error_frame(*error, ref));
                              }
                              const auto& message = std::get<MessagePtr>(outcome);
                              self->send(published_frame(message->channel(), message->id(), ref));
                            });
  }

  // A reply of the connection's own (JSON), as a text frame behind what is queued.
  void send(const std::string& json) {
    if (closing_) return;
    if (!push(ws::text_frame(json))) return close(CloseReason::slow_consumer);
    flush();
  }

  void send_close() {
    close_sent_ = true;
    ws_.async_close(close_reason_, [self = shared_from_this()](error_code) { self->teardown(); });
  }

  void leave_all() {
    for (const auto& [channel, subscription] : subscriptions_) hub_.unsubscribe(channel, this);
    subscriptions_.clear();
  }

  // The connection is over (closed by either side, or failed): forget it everywhere.
  void teardown() {
    closing_ = true;
    stopped_ = true;
    leave_all();
    single_presence_.reset();
    if (attached_) hub_.detach(this);
    attached_ = false;
  }

  std::shared_ptr<void> ticket_;  // this connection's place under limits.max_connections
  websocket::stream<WsLayer> ws_;
  bool multiplex_;
  beast::flat_buffer in_;
  struct Subscription {
    CatchUp catch_up;
    std::string ref;                 // of the subscribe frame, echoed in `subscribed`
    bool announced = false;          // `subscribed` sent
    std::shared_ptr<void> presence;  // the member's hold, when the frame named one
  };
  Client client_;               // who is on this socket (its address, for limits)
  std::string upgrade_token_;   // the token the upgrade carried (?token= or Bearer), for a /sub socket's publishes
  std::string single_channel_;  // /sub/{channel}: its channel
  std::shared_ptr<void> single_presence_;  // /sub/{channel}: the member's hold
  std::unordered_map<std::string, Subscription> subscriptions_;
  websocket::close_reason close_reason_{websocket::close_code::going_away, "server shutting down"};
  std::function<void()> after_written_;  // Beast's teardown, waiting for the queue to be written
  bool close_sent_ = false, attached_ = false;
  bool deflate_ = false;  // permessage-deflate agreed in the handshake
};

}  // namespace

void start_websocket(const std::shared_ptr<HttpSession>& session, const Request& request,
                     std::optional<SubscribeRequest> single) {
  std::string token;
  if (single) token = single->token;
  auto ws = std::make_shared<WebSocketSession>(session->take_stream(), session->context(), session->hub(),
                                               !single.has_value(), session->take_ticket(), session->client(request),
                                               std::move(token));
  ws->accept(request, std::move(single));
}

}  // namespace herald
