// Server-Sent Events: one long response, a text/event-stream of the channel's messages.
#include "transport/sse.hpp"

#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sstream>

#include "core/catch_up.hpp"
#include "core/write_queue.hpp"
#include "http/http_session.hpp"
#include "http/responses.hpp"

namespace herald {
namespace {

class SseStream final : public Subscriber, public std::enable_shared_from_this<SseStream> {
 public:
  SseStream(NetStream stream, ServerContext& context, Hub& hub, SubscribeRequest subscribe, std::string cors_origin,
            std::shared_ptr<void> ticket)
      : ticket_(std::move(ticket)),
        cors_origin_(std::move(cors_origin)),
        stream_(std::move(stream)),
        context_(context),
        hub_(hub),
        subscribe_(std::move(subscribe)),
        queue_(context.config.limits.write_queue_bytes),
        heartbeat_(stream_.get_executor()) {}

  void start(const Request& request) {
    hub_.attach(this);
    // SSE writes land in the kernel's buffer even when the peer has vanished without a FIN; the kernel
    // aborts the connection once sent data (a heartbeat, say) stays unacknowledged this long.
    using user_timeout = asio::detail::socket_option::integer<IPPROTO_TCP, TCP_USER_TIMEOUT>;
    error_code ignored;
    stream_.socket().set_option(user_timeout(static_cast<int>(context_.config.limits.request_timeout_seconds * 1000)),
                                ignored);
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
    if (closing_) return Delivery::dropped;
    if (!catch_up_.accept_live(*message)) {
      if (catch_up_.broken()) flush();  // reads history from the cursor once the queue is written
      return Delivery::skipped;
    }
    if (!queue_.push(message, block_of(*message))) {
      if (context_.config.limits.slow_consumer == SlowConsumer::catch_up) {
        fall_behind(*message);
      } else {
        close(CloseReason::slow_consumer);
      }
      return Delivery::overflowed;  // off the live path: closed, or read from history later
    }
    flush();
    return Delivery::sent;
  }

  void close(CloseReason reason) override {
    if (closing_) return;
    refuse({"shutting_down", "The server is shutting down."});  // when the stream has not begun
    closing_ = true;
    leave();
    if (reason == CloseReason::slow_consumer) {
      spdlog::info("sse: dropping a slow consumer of {} ({} bytes queued)", subscribe_.channel, queue_.bytes());
      // Nothing more fits; the client reconnects with Last-Event-ID and loses nothing kept.
      return end();
    }
    flush();  // what is queued goes out, then the stream ends
  }

  Transport transport() const override { return Transport::sse; }

 private:
  // limits.slow_consumer = "catch_up": what does not fit is read from history once the queue drains
  // (flush → continue_catch_up), with a gap event if history lost some of it meanwhile.
  void fall_behind(const Message& unsent) {
    if (catch_up_.live()) {
      spdlog::info("sse: slow consumer of {} falls behind ({} bytes queued); it catches up from history",
                   subscribe_.channel, queue_.bytes());
    }
    catch_up_.fall_behind(unsent);
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
    return std::move(out).str() + "retry: " + std::to_string(context_.config.limits.sse_retry_ms) + "\n: herald\n\n";
  }

  // Before the stream has begun, answers `error` as a plain HTTP error instead; false once it has begun.
  bool refuse(const Error& error) {
    if (head_.empty()) return false;
    head_.clear();
    Response refusal = error_response(Request{http::verb::get, "", version_}, error);
    refusal.keep_alive(false);
    std::ostringstream out;
    out << refusal;
    queue_.push(std::move(out).str());
    return true;
  }

  void on_page(std::variant<ReadResult, Error> outcome) {
    if (closing_) return;
    if (auto* error = std::get_if<Error>(&outcome)) {
      if (!refuse(*error)) queue_.push(": error " + error->message + "\n\n");
      return close(CloseReason::shutdown);
    }
    if (!head_.empty()) queue_.push(std::exchange(head_, {}));
    const auto& page = std::get<ReadResult>(outcome);
    if (page.gap) {
      std::string cursor = format_cursor(page.gap_cursor);
      if (subscribe_.envelopes) {
        queue_.push("id: " + cursor + "\ndata: {\"channel\":\"" + subscribe_.channel + "\",\"gap\":true,\"cursor\":\"" +
                    cursor + "\"}\n\n");
      } else {
        queue_.push("id: " + cursor + "\nevent: gap\ndata: {\"channel\":\"" + subscribe_.channel + "\"}\n\n");
      }
    }
    catch_up_.take_page(page,
                        [this](const MessagePtr& message) { return queue_.push_history(message, block_of(*message)); });
    flush();
  }

  const std::string& block_of(const Message& message) const {
    return subscribe_.envelopes ? message.sse_envelope_block() : message.sse_block();
  }

  // The next page of history, once everything queued has been written.
  void continue_catch_up() {
    if (closing_ || !catch_up_.wants_more() || !queue_.empty()) return;
    read_next_page(context_, catch_up_, subscribe_.channel,
                   [self = shared_from_this()](auto outcome) { self->on_page(std::move(outcome)); });
  }

  void flush() {
    if (writing_ || ended_) return;
    if (queue_.empty()) {
      if (closing_) return end();
      return continue_catch_up();
    }
    writing_ = true;
    in_flight_ = queue_.size();
    buffers_.clear();
    for (std::size_t i = 0; i < in_flight_; ++i) buffers_.emplace_back(queue_.at(i).data(), queue_.at(i).size());
    asio::async_write(stream_, buffers_, [self = shared_from_this()](error_code ec, std::size_t bytes) {
      self->writing_ = false;
      self->hub_.metrics().count_sent(Wire::sse, bytes);
      self->queue_.pop(self->in_flight_);
      if (ec) return self->end();
      self->flush();
    });
  }

  // Any byte or EOF from the client ends the stream: an SSE client sends nothing after its request,
  // so this is how a client that went away is noticed at once rather than at the next write.
  void watch_client() {
    stream_.async_read_some(asio::buffer(read_byte_), [self = shared_from_this()](error_code, std::size_t) {
      self->closing_ = true;
      self->end();
    });
  }

  void schedule_heartbeat() {
    heartbeat_.expires_after(std::chrono::seconds(context_.config.limits.sse_heartbeat_seconds));
    heartbeat_.async_wait([self = shared_from_this()](error_code ec) {
      if (ec || self->closing_) return;
      if (!self->head_.empty()) return self->schedule_heartbeat();  // no head yet: nothing to keep alive
      if (!self->queue_.push(std::string(": hb\n\n"))) {
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
    leave();
    hub_.detach(this);
    error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }

  std::shared_ptr<void> ticket_;  // this connection's place under limits.max_connections
  std::string cors_origin_;
  NetStream stream_;
  ServerContext& context_;
  Hub& hub_;
  SubscribeRequest subscribe_;
  WriteQueue queue_;
  std::vector<asio::const_buffer> buffers_;
  std::size_t in_flight_ = 0;
  asio::steady_timer heartbeat_;
  CatchUp catch_up_;
  std::array<char, 1> read_byte_{};
  std::string head_;  // the response head, until the first page of history comes
  unsigned version_ = 11;
  bool writing_ = false, closing_ = false, left_ = false, ended_ = false;
};

}  // namespace

void start_sse(const std::shared_ptr<HttpSession>& session, const Request& request, SubscribeRequest subscribe) {
  std::string cors_origin = session->cross_origin();
  auto stream = std::make_shared<SseStream>(session->take_stream(), session->context(), session->hub(),
                                            std::move(subscribe), std::move(cors_origin), session->take_ticket());
  stream->start(request);
}

}  // namespace herald
