#pragma once
// The one streaming core under SSE and WebSocket. A streaming connection has a bounded queue of what it
// is to send — references to messages' shared encodings, and the few bytes of its own (a response head, a
// reply, a heartbeat, a pong) — written in one gathered write at a time. Live messages are offered
// through each subscription's CatchUp; a queue that is full is handled as limits.slow_consumer says;
// history is read one page at a time, each once the queue has drained. While the loop hands out a batch
// of messages, writes are deferred to the batch's end (Hub::defer_flush): a burst costs one write per
// connection. The transports give the encodings, and say what to do when everything is written.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/catch_up.hpp"
#include "core/hub.hpp"
#include "core/write_queue.hpp"
#include "http/net_stream.hpp"
#include "http/server_context.hpp"

namespace herald {

class StreamCore : public Subscriber {
 public:
  void flush_deferred() override;

 protected:
  StreamCore(ServerContext& context, Hub& hub, Wire wire);

  // Where the queue is written, and what keeps the connection alive while a write is in flight.
  virtual NetStream& out() = 0;
  virtual std::shared_ptr<void> keep_alive() = 0;
  // The queue is empty and nothing is being written: read the next page of history, or finish.
  virtual void drained() = 0;
  // A write failed: the connection is gone.
  virtual void write_failed() = 0;

  // A live message for one subscription, with its encoding for this connection (see Delivery). A
  // message that does not fit closes the connection (slow consumer) or, with slow_consumer = "catch_up",
  // makes the subscription read it from history once the queue has drained.
  Delivery offer(CatchUp& catch_up, const MessagePtr& message, const std::string& encoded, std::string_view channel);
  // A page of history for one subscription, queued up to half the queue (the rest comes with the next
  // page); `encode(message)` gives a message's encoding. True when the subscription went live.
  template <class Encode>
  bool take_page(CatchUp& catch_up, const ReadResult& page, Encode&& encode) {
    return catch_up.take_page(
        page, [&](const MessagePtr& message) { return queue_.push_history(message, encode(*message)); });
  }
  // The connection's own bytes. False (and nothing queued) when the queue has no room.
  bool push(std::string bytes) { return queue_.push(std::move(bytes)); }
  // Writes what is queued: now, or at the end of the loop's batch; drained() when there is nothing.
  void flush();
  // Forgets what has not begun to be written (a slow consumer that is dropped).
  void drop_unsent() { queue_.drop_after(writing_ ? in_flight_ : 0); }
  bool writing() const { return writing_; }

  ServerContext& context_;
  Hub& hub_;
  WriteQueue queue_;
  bool closing_ = false;  // takes nothing new; what is queued still goes out
  bool stopped_ = false;  // the socket is finished: nothing more is written

 private:
  void write();

  Wire wire_;
  std::vector<asio::const_buffer> buffers_;
  std::size_t in_flight_ = 0;
  bool writing_ = false;
  bool deferred_ = false;  // waiting for the end of the hub's batch
};

}  // namespace herald
