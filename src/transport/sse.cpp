// Server-Sent Events: one long response, a text/event-stream of the channel's messages.
#include "transport/sse.hpp"

#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sstream>

#include "http/http_session.hpp"
#include "http/responses.hpp"
#include "transport/come_back.hpp"
#include "transport/sse_encoding.hpp"
#include "transport/stream_core.hpp"

namespace herald {
namespace {

class SseStream final : public StreamCore, public std::enable_shared_from_this<SseStream> {
 public:
  SseStream(NetStream stream, ServerContext& context, Hub& hub, SubscribeRequest subscribe, std::string cors_origin,
            std::shared_ptr<void> ticket)
      : StreamCore(context, hub, Wire::sse),
        ticket_(std::move(ticket)),
        cors_origin_(std::move(cors_origin)),
        stream_(std::move(stream)),
        subscribe_(std::move(subscribe)),
        heartbeat_(stream_.get_executor()) {}

  void start(const Request& request) {
    hub_.attach(this);
    hub_.identify(this, subscribe_.user);
    // SSE writes land in the kernel's buffer even when the peer has vanished without a FIN; the kernel
    // aborts the connection once sent data (a heartbeat, say) stays unacknowledged this long.
    using user_timeout = asio::detail::socket_option::integer<IPPROTO_TCP, TCP_USER_TIMEOUT>;
    error_code ignored;
    stream_.socket().set_option(user_timeout(static_cast<int>(context_.config.limits.request_timeout_seconds * 1000)),
                                ignored);
    if (!context_.config.limits.sse_tcp_nodelay) stream_.socket().set_option(tcp::no_delay(false), ignored);
    // The head waits for the first page: a subscription the broker refuses (Redis unreachable) is then
    // still answered with its HTTP status instead of a stream that ends at once.
    head_ = response_head(request);
    version_ = request.version();
    watch_client();
    schedule_heartbeat();
    join_channel(context_, hub_, *this, catch_up_, subscribe_.channel, subscribe_.from,
                 [self = shared_from_this()](auto outcome) { self->on_page(std::move(outcome)); });
  }

  Delivery deliver(const MessagePtr& message) override {
    return offer(catch_up_, message, sse::message_block(*message, subscribe_.envelopes), subscribe_.channel);
  }

  void close(CloseReason reason) override {
    if (closing_) return;
    const bool begun = head_.empty();
    // (A slow consumer before its stream began is answered as before: 503 shutting_down.)
    const Ending ending = ending_of(reason == CloseReason::slow_consumer ? CloseReason::shutdown : reason);
    // Before the stream has begun, a plain HTTP error; after, an `event: close` saying why (a shutdown
    // or a slow consumer is simply resumed from, as ever).
    if (!refuse({std::string(ending.code), std::string(ending.message)}) && reason != CloseReason::shutdown &&
        reason != CloseReason::slow_consumer) {
      push(sse::close_block(ending_json(reason, subscribe_.channel), subscribe_.envelopes));
    }
    closing_ = true;
    leave();
    if (reason == CloseReason::slow_consumer) {
      spdlog::info("sse: dropping a slow consumer of {} ({} bytes queued)", subscribe_.channel, queue_.bytes());
      // Nothing more fits; the client reconnects with Last-Event-ID and loses nothing kept.
      return end();
    }
    if (begun && context_.shutting_down.load(std::memory_order_relaxed)) {
      // The drain: an EventSource waits this long before it reconnects (with Last-Event-ID).
      push("retry: " + std::to_string(come_back_in_ms(context_.config.limits)) + "\n\n");
    }
    flush();  // what is queued goes out, then the stream ends
  }

  Transport transport() const override { return Transport::sse; }

  void revoke(const std::string& channel) override {
    if (channel == subscribe_.channel) close(CloseReason::unsubscribed);
  }

 private:
  NetStream& out() override { return stream_; }
  std::shared_ptr<void> keep_alive() override { return shared_from_this(); }
  void write_failed() override { end(); }

  // Everything queued is written: the next page of history, or the end.
  void drained() override {
    if (closing_) return end();
    if (!catch_up_.wants_more()) return;
    read_next_page(context_, catch_up_, subscribe_.channel,
                   [self = shared_from_this()](auto outcome) { self->on_page(std::move(outcome)); });
  }

  std::string response_head(const Request& request) const {
    http::response<http::empty_body> head{http::status::ok, request.version()};
    head.set(http::field::server, "herald");
    head.set(http::field::content_type, "text/event-stream");
    head.set(http::field::cache_control, "no-store");
    head.set("X-Accel-Buffering", "no");  // tell proxies not to hold the stream back
    if (!cors_origin_.empty()) add_cors_headers(head.base(), cors_origin_);
    head.keep_alive(false);  // the body ends when the connection does
    std::ostringstream out;
    out << head.base();
    return std::move(out).str() + sse::preamble(context_.config.limits.sse_retry_ms);
  }

  // Before the stream has begun, answers `error` as a plain HTTP error instead; false once it has begun.
  bool refuse(const Error& error) {
    if (head_.empty()) return false;
    head_.clear();
    Response refusal = error_response(Request{http::verb::get, "", version_}, error);
    refusal.keep_alive(false);
    std::ostringstream out;
    out << refusal;
    push(std::move(out).str());
    return true;
  }

  void on_page(std::variant<ReadResult, Error> outcome) {
    if (closing_) return;
    if (auto* error = std::get_if<Error>(&outcome)) {
      if (!refuse(*error)) push(sse::error_comment(error->message));
      return close(CloseReason::shutdown);
    }
    if (!head_.empty()) push(std::exchange(head_, {}));
    const auto& page = std::get<ReadResult>(outcome);
    if (page.gap) push(sse::gap_block(subscribe_.channel, page.gap_cursor, subscribe_.envelopes));
    take_page(catch_up_, page, [this](const Message& message) -> const std::string& {
      return sse::message_block(message, subscribe_.envelopes);
    });
    flush();
  }

  // Any byte or EOF from the client ends the stream: an SSE client sends nothing after its request,
  // so this is how a client that went away is noticed at once rather than at the next write.
  // Waited for on the socket itself: an idle stream holds one plain wait in the reactor, not a read through
  // the stream's deadline machinery.
  void watch_client() {
    stream_.socket().async_wait(tcp::socket::wait_read, [self = shared_from_this()](error_code) {
      self->closing_ = true;
      self->end();
    });
  }

  // One timer per stream: the next heartbeat, or the token's end when that comes first.
  void schedule_heartbeat() {
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::seconds(context_.config.limits.sse_heartbeat_seconds));
    if (subscribe_.expires_at != 0) wait = std::min(wait, until_unix(subscribe_.expires_at));
    heartbeat_.expires_after(wait);
    heartbeat_.async_wait([self = shared_from_this()](error_code ec) {
      if (ec || self->closing_) return;
      if (self->subscribe_.expires_at != 0 && until_unix(self->subscribe_.expires_at).count() == 0) {
        return self->close(CloseReason::token_expired);
      }
      if (!self->head_.empty()) return self->schedule_heartbeat();  // no head yet: nothing to keep alive
      if (!self->push(std::string(sse::heartbeat))) {
        // A full queue is already waiting to be written: when catching up, it keeps the connection.
        if (self->context_.config.limits.slow_consumer == SlowConsumer::close) {
          return self->close(CloseReason::slow_consumer);
        }
      }
      self->flush();
      self->schedule_heartbeat();
    });
  }

  void leave() {
    if (left_) return;
    left_ = true;
    hub_.unsubscribe(subscribe_.channel, this);
    heartbeat_.cancel();
  }

  void end() {
    if (ended_) return;
    ended_ = true;
    stopped_ = true;
    closing_ = true;
    leave();
    hub_.detach(this);
    error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  std::shared_ptr<void> ticket_;  // this connection's place under limits.max_connections
  std::string cors_origin_;
  NetStream stream_;
  SubscribeRequest subscribe_;
  asio::steady_timer heartbeat_;
  CatchUp catch_up_;
  std::string head_;  // the response head, until the first page of history comes
  unsigned version_ = 11;
  bool left_ = false, ended_ = false;
};

}  // namespace

void start_sse(const std::shared_ptr<HttpSession>& session, const Request& request, SubscribeRequest subscribe) {
  std::string cors_origin = session->cross_origin();
  auto stream = std::make_shared<SseStream>(session->take_stream(), session->context(), session->hub(),
                                            std::move(subscribe), std::move(cors_origin), session->take_ticket());
  stream->start(request);
}

}  // namespace herald
