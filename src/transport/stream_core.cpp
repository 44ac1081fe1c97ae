#include "transport/stream_core.hpp"

#include <spdlog/spdlog.h>

namespace herald {

StreamCore::StreamCore(ServerContext& context, Hub& hub, Wire wire)
    : context_(context), hub_(hub), queue_(context.config.limits.write_queue_bytes), wire_(wire) {}

Delivery StreamCore::offer(CatchUp& catch_up, const MessagePtr& message, const std::string& encoded,
                           std::string_view channel) {
  if (closing_) return Delivery::dropped;
  if (!catch_up.accept_live(*message)) {
    if (catch_up.broken()) flush();  // reads history from the cursor once the queue is written
    return Delivery::skipped;
  }
  if (!queue_.push(message, encoded)) {
    if (context_.config.limits.slow_consumer == SlowConsumer::catch_up) {
      if (catch_up.live()) {
        spdlog::info("{}: slow consumer of {} falls behind ({} bytes queued); it catches up from history",
                     wire_name(wire_), channel, queue_.bytes());
      }
      catch_up.fall_behind(*message);
    } else {
      close(CloseReason::slow_consumer);
    }
    return Delivery::overflowed;  // off the live path: closed, or read from history later
  }
  flush();
  return Delivery::sent;
}

void StreamCore::flush() {
  if (writing_ || stopped_ || deferred_) return;
  if (!queue_.empty() && hub_.defer_flush(this)) {
    deferred_ = true;
    return;
  }
  write();
}

void StreamCore::flush_deferred() {
  deferred_ = false;
  flush();
}

void StreamCore::write() {
  if (queue_.empty()) return drained();
  in_flight_ = queue_.size();
  buffers_.clear();
  for (std::size_t i = 0; i < in_flight_; ++i) buffers_.emplace_back(queue_.at(i).data(), queue_.at(i).size());
  std::size_t sent = 0;
  if (!out().secure()) {
    // Offered to the kernel at once: a socket whose send buffer has room (the common case, however many
    // subscribers) takes the whole gathered write, and no asynchronous operation is begun for it. Only
    // what it does not take waits for the socket to be writable.
    error_code ec;
    sent = write_now(out().socket(), buffers_, ec);
    if (ec || buffers_.empty()) {
      hub_.metrics().count_sent(wire_, sent);
      queue_.pop(in_flight_);
      in_flight_ = 0;
      if (ec) {
        stopped_ = true;
        return write_failed();
      }
      return flush();  // what queued meanwhile (nothing, as a rule), else drained()
    }
  }
  writing_ = true;
  asio::async_write(out(), buffers_, [this, sent, self = keep_alive()](error_code ec, std::size_t bytes) {
    writing_ = false;
    hub_.metrics().count_sent(wire_, sent + bytes);
    queue_.pop(in_flight_);
    in_flight_ = 0;
    if (ec) {
      stopped_ = true;
      return write_failed();
    }
    flush();
  });
}

}  // namespace herald
