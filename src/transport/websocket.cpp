// WebSocket: /sub/{channel} (one channel, each message an envelope frame) and /ws (many channels,
// the JSON protocol of transport/ws_protocol). One session type serves both.
#include "transport/websocket.hpp"

#include <spdlog/spdlog.h>
#include <array>
#include <limits>
#include <unordered_map>
#include <vector>

#include "access/user_connections.hpp"
#include "http/http_session.hpp"
#include "transport/come_back.hpp"
#include "transport/stream_core.hpp"
#include "transport/ws_frames.hpp"
#include "transport/ws_layer.hpp"
#include "transport/ws_protocol.hpp"

namespace herald {
namespace {

// Frames a /ws client may send behind its auth frame before the answer (each at most the frame size limit).
constexpr std::size_t max_held_frames = 16;

class WebSocketSession final : public StreamCore, public std::enable_shared_from_this<WebSocketSession> {
 public:
  WebSocketSession(NetStream stream, ServerContext& context, Hub& hub, bool multiplex, std::shared_ptr<void> ticket,
                   Client client, std::string upgrade_token, Identity identity, std::int64_t expires_at)
      : StreamCore(context, hub, Wire::websocket),
        ticket_(std::move(ticket)),
        ws_(std::move(stream)),
        expiry_(ws_.get_executor()),
        multiplex_(multiplex),
        client_(std::move(client)),
        upgrade_token_(std::move(upgrade_token)),
        identity_(std::move(identity)),
        connection_expires_(expires_at) {
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
      if (self->identity_) self->hub_.identify(self.get(), self->identity_->subject);  // /ws, and /sub's too
      self->arm_expiry();
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
    if (reason != CloseReason::shutdown && reason != CloseReason::slow_consumer) {
      // Said before the close (docs/api.md): /ws in a frame, and every socket in its close code.
      const Ending ending = ending_of(reason);
      if (multiplex_) send_frame(ws::text_frame(ending_frame(ending_json(reason), true)));
      close_reason_ = {static_cast<websocket::close_code>(ending_close_code(reason)), ending.code};
    }
    closing_ = true;
    if (reason == CloseReason::slow_consumer) {
      spdlog::info("websocket: dropping a slow consumer ({} bytes queued, {} channels)", queue_.bytes(),
                   subscriptions_.size());
      // What is queued cannot all be sent; the client resumes from its last cursor instead.
      close_reason_ = {websocket::close_code::policy_error, "slow consumer: write queue full"};
      drop_unsent();
    } else if (context_.shutting_down.load(std::memory_order_relaxed) &&
               close_reason_.code == websocket::close_code::going_away) {
      // The drain: when to reconnect (and resume from the last cursor), in the close reason.
      close_reason_.reason = "retry_ms=" + std::to_string(come_back_in_ms(context_.config.limits));
    }
    leave_all();
    flush();  // sends what is queued, then the close frame
  }

  Transport transport() const override { return Transport::websocket; }

  // The user's place under limits.max_connections_per_user, held while the socket lives.
  void hold_user_place(std::shared_ptr<void> hold) { user_hold_ = std::move(hold); }

  void revoke(const std::string& channel) override {
    if (!multiplex_) {
      if (channel == single_channel_) close(CloseReason::unsubscribed);
      return;
    }
    end_subscription(channel, CloseReason::unsubscribed);
  }

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
    // A socket between messages waits with a small piece of its own; a message under way is read straight
    // into its tail, a few KB at a time. The message being assembled holds memory only while it arrives: a
    // whole-message read would have Beast reserve 1.5 KB in a buffer for every idle socket (massif, 2,000
    // idle sockets).
    constexpr std::size_t step = 4096;
    const std::size_t had = in_.size();
    asio::mutable_buffer into = asio::buffer(piece_);
    if (had > 0) {
      in_.resize(had + step);
      into = asio::buffer(in_.data() + had, step);
    }
    ws_.async_read_some(into, [self = shared_from_this(), had](error_code ec, std::size_t n) {
      if (ec) return self->teardown();
      if (had > 0) {
        self->in_.resize(had + n);
      } else {
        self->in_.assign(self->piece_.data(), n);
      }
      if (!self->ws_.is_message_done()) return self->read();
      std::string text = std::exchange(self->in_, {});
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
    if (authenticating_) {
      // Frames sent right behind an auth frame are about the user it names: they wait for its answer
      // (a user's place is asked of the store, asynchronously), a bounded few of them.
      if (held_frames_.size() < max_held_frames) {
        held_frames_.emplace_back(text);
        return;
      }
      return send(error_frame({"bad_frame",
                               "Too many frames before the auth frame was answered; wait for "
                               "'authenticated'."},
                              ""));
    }
    std::string ref;
    auto parsed = parse_client_frame(text, ref);
    if (auto* error = std::get_if<Error>(&parsed)) return send(error_frame(*error, ref));
    ClientFrame& frame = std::get<ClientFrame>(parsed);
    switch (frame.op) {
      case ClientFrame::Op::auth:
        return authenticate(frame);
      case ClientFrame::Op::refresh:
        return refresh(frame);
      case ClientFrame::Op::subscribe:
        return subscribe(frame);
      case ClientFrame::Op::unsubscribe:
        if (auto refused = context_.admission->inspect(frame.channel)) return send(error_frame(*refused, ref));
        return unsubscribe(frame.channel, frame.ref);
      case ClientFrame::Op::publish:
        return publish(std::move(frame));
    }
  }

  // {"op":"auth"}: who this socket is, from a connection token, before it listens to anything. A token
  // refused ends the socket (1008), as a refused subscribe token does.
  void authenticate(const ClientFrame& frame) {
    if (identity_ || authenticating_ || !subscriptions_.empty()) {
      return send(error_frame({"bad_frame",
                               "auth comes first, once: this socket is already identified or already listens (a "
                               "fresh token goes in a refresh frame)."},
                              frame.ref));
    }
    auto identified = context_.admission->identify(client_, frame.token);
    if (auto* refused = std::get_if<Error>(&identified)) return refuse_and_close(*refused, frame.ref);
    if (!std::get<Identity>(identified)) {
      return refuse_and_close({"bad_token", "An auth frame's token is a connection token: a JWT with 'sub'."},
                              frame.ref);
    }
    UserConnections* users = context_.user_connections;
    if (users == nullptr || users->limit() == 0) {
      return identified_as(std::get<Identity>(std::move(identified)), frame.ref);
    }
    // One of the user's places first (on every node); past the limit the socket closes with 1013.
    authenticating_ = true;
    const std::string user = std::get<Identity>(identified)->subject;
    users->admit(user, [self = shared_from_this(), identity = std::get<Identity>(std::move(identified)),
                        ref = frame.ref](std::variant<std::shared_ptr<void>, Error> outcome) mutable {
      self->authenticating_ = false;
      auto held = std::exchange(self->held_frames_, {});
      if (self->closing_) return;
      if (auto* refused = std::get_if<Error>(&outcome)) {
        self->send(error_frame(*refused, ref));
        self->close_reason_ = {websocket::close_code::try_again_later, refused->code};
        return self->close(CloseReason::shutdown);
      }
      self->user_hold_ = std::get<std::shared_ptr<void>>(std::move(outcome));
      self->identified_as(std::move(identity), ref);
      for (const std::string& text : held) self->on_frame(text);
    });
  }

  void identified_as(Identity identity, const std::string& ref) {
    identity_ = std::move(identity);
    connection_expires_ = identity_->expires_at;
    hub_.identify(this, identity_->subject);
    send(authenticated_frame(identity_->subject, identity_->expires_at, ref));
    arm_expiry();
  }

  // {"op":"refresh"}: a fresh token before the old one ends; nothing is re-read, nothing is lost. For the
  // connection, the same user's connection token; for one subscription, a token that still admits it.
  void refresh(const ClientFrame& frame) {
    if (frame.channel.empty()) {
      if (!identity_) {
        return send(error_frame({"bad_frame", "This socket has no connection token to refresh."}, frame.ref));
      }
      auto identified = context_.admission->identify(client_, frame.token);
      if (auto* refused = std::get_if<Error>(&identified)) return send(error_frame(*refused, frame.ref));
      auto& fresh = std::get<Identity>(identified);
      if (!fresh || fresh->subject != identity_->subject) {
        return send(error_frame({"forbidden", "A refreshed connection token must be the same user's."}, frame.ref));
      }
      identity_ = std::move(fresh);
      connection_expires_ = identity_->expires_at;
      send(refreshed_frame({}, connection_expires_, frame.ref));
      return arm_expiry();
    }
    auto it = subscriptions_.find(frame.channel);
    if (it == subscriptions_.end()) {
      return send(error_frame({"not_subscribed", "This socket does not listen to " + frame.channel + "."}, frame.ref));
    }
    auto admitted = context_.admission->read(client_, frame.channel, frame.token, identity_);
    if (auto* refused = std::get_if<Error>(&admitted)) return send(error_frame(*refused, frame.ref));
    it->second.expires_at = std::get<ReadGrant>(admitted).token_expires_at;
    send(refreshed_frame(frame.channel, it->second.expires_at, frame.ref));
    arm_expiry();
  }

  // A /ws subscribe frame: admitted here as the route admits /sub/{channel}.
  void subscribe(const ClientFrame& frame) {
    const std::string& ref = frame.ref;
    auto admitted = context_.admission->read(client_, frame.channel, frame.token, identity_);
    if (auto* refused = std::get_if<Error>(&admitted)) {
      // A refused token ends the socket (1008): a client must not keep probing tokens on one connection.
      if (context_.config.namespaces.for_channel(frame.channel).private_channels) {
        return refuse_and_close(*refused, ref);
      }
      return send(error_frame(*refused, ref));
    }
    std::shared_ptr<void> held;
    std::optional<PresenceMember> asserted;
    if (!frame.client.empty() || !frame.name.empty()) asserted = PresenceMember{frame.client, frame.name};
    if (auto member = context_.admission->member_for(frame.channel, identity_, std::move(asserted))) {
      auto hold = context_.admission->hold_member(client_, frame.channel, *member);
      if (auto* refused = std::get_if<Error>(&hold)) return send(error_frame(*refused, ref));
      held = std::get<std::shared_ptr<void>>(std::move(hold));
    }
    if (!subscribe(frame.channel, {frame.since, frame.last}, ref)) return;
    Subscription& subscription = subscriptions_[frame.channel];
    // Stored whatever it looks like: a hold owns no pointer (its deleter is the release), so it tests false.
    subscription.presence = std::move(held);
    subscription.expires_at = std::get<ReadGrant>(admitted).token_expires_at;
    arm_expiry();
  }

  // herald ends one subscription (its token expired, or the application revoked it) and says why.
  void end_subscription(const std::string& channel, CloseReason reason) {
    if (closing_ || subscriptions_.erase(channel) == 0) return;
    hub_.unsubscribe(channel, this);
    send(ending_frame(ending_json(reason, channel), false));
  }

  // One timer per socket, set for the first token to end: the connection's or a subscription's.
  void arm_expiry() {
    if (closing_) return;
    std::int64_t next = connection_expires_;
    for (const auto& [channel, subscription] : subscriptions_) next = earliest(next, subscription.expires_at);
    if (next == armed_for_) return;
    armed_for_ = next;
    if (next == 0) {
      expiry_.cancel();
      return;
    }
    expiry_.expires_after(until_unix(next));
    expiry_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) self->on_expiry();
    });
  }

  void on_expiry() {
    armed_for_ = 0;
    if (closing_) return;
    const std::int64_t now = unix_seconds();
    if (connection_expires_ != 0 && now >= connection_expires_) return close(CloseReason::token_expired);
    std::vector<std::string> ended;
    for (const auto& [channel, subscription] : subscriptions_) {
      if (subscription.expires_at != 0 && now >= subscription.expires_at) ended.push_back(channel);
    }
    for (const auto& channel : ended) end_subscription(channel, CloseReason::token_expired);
    arm_expiry();
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
    auto request = std::get<PublishRequest>(std::move(made));
    std::string keyed_channel;  // a replay is answered without a message: it names the channel
    if (!frame.idempotency_key.empty()) {
      request.idempotency_key = std::move(frame.idempotency_key);
      request.idempotency_window = std::chrono::seconds(context_.config.limits.idempotency_seconds);
      keyed_channel = request.channel;
    }
    context_.broker.publish(std::move(request), [self = shared_from_this(), ref = std::move(frame.ref),
                                                 keyed_channel = std::move(keyed_channel)](auto outcome) {
      if (auto* error = std::get_if<Error>(&outcome)) return self->send(error_frame(*error, ref));
      if (auto* replayed = std::get_if<Replayed>(&outcome)) {
        return self->send(published_frame(keyed_channel, format_cursor(replayed->id), ref, true));
      }
      const auto& message = std::get<MessagePtr>(outcome);
      self->send(published_frame(message->channel(), message->id(), ref));
    });
  }

  // A reply of the connection's own (JSON), as a text frame behind what is queued.
  void send(const std::string& json) { send_frame(ws::text_frame(json)); }
  void send_frame(std::string frame) {
    if (closing_) return;
    if (!push(std::move(frame))) return close(CloseReason::slow_consumer);
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
    expiry_.cancel();  // its handler holds the session
    stopped_ = true;
    leave_all();
    single_presence_.reset();
    user_hold_.reset();
    if (attached_) hub_.detach(this);
    attached_ = false;
  }

  std::shared_ptr<void> ticket_;  // this connection's place under limits.max_connections
  websocket::stream<WsLayer> ws_;
  asio::steady_timer expiry_;  // the first token to end (arm_expiry)
  bool multiplex_;
  std::array<char, 256> piece_{};
  std::string in_;  // the message arriving (Beast caps it at limits.ws_max_message_bytes)
  struct Subscription {
    CatchUp catch_up;
    std::string ref;                 // of the subscribe frame, echoed in `subscribed`
    bool announced = false;          // `subscribed` sent
    std::shared_ptr<void> presence;  // the member's hold, when the frame named one
    std::int64_t expires_at = 0;     // the end of the subscribe token it relies on (0: none)
  };
  Client client_;              // who is on this socket (its address, for limits)
  std::string upgrade_token_;  // the token the upgrade carried (?token= or Bearer), for a /sub socket's publishes
  Identity identity_;          // the connection token's user, when the socket presented one
  std::int64_t connection_expires_ = 0;    // when the socket's own token ends (0: never)
  std::int64_t armed_for_ = 0;             // what expiry_ is set for
  std::shared_ptr<void> user_hold_;        // the user's place under limits.max_connections_per_user
  bool authenticating_ = false;            // an auth frame waits for the user's place
  std::vector<std::string> held_frames_;   // frames that came meanwhile, handled once it is answered
  std::string single_channel_;             // /sub/{channel}: its channel
  std::shared_ptr<void> single_presence_;  // /sub/{channel}: the member's hold
  std::unordered_map<std::string, Subscription> subscriptions_;
  websocket::close_reason close_reason_{websocket::close_code::going_away, "server shutting down"};
  std::function<void()> after_written_;  // Beast's teardown, waiting for the queue to be written
  bool close_sent_ = false, attached_ = false;
  bool deflate_ = false;  // permessage-deflate agreed in the handshake
};

}  // namespace

void start_websocket(const std::shared_ptr<HttpSession>& session, const Request& request,
                     std::optional<SubscribeRequest> single, Identity identity, std::shared_ptr<void> user_hold) {
  std::string token;
  std::int64_t expires_at = identity ? identity->expires_at : 0;
  if (single) {
    token = single->token;
    expires_at = single->expires_at;
    user_hold = std::move(single->user_hold);
  }
  auto ws = std::make_shared<WebSocketSession>(session->take_stream(), session->context(), session->hub(),
                                               !single.has_value(), session->take_ticket(), session->client(request),
                                               std::move(token), std::move(identity), expires_at);
  ws->hold_user_place(std::move(user_hold));
  ws->accept(request, std::move(single));
}

}  // namespace herald
