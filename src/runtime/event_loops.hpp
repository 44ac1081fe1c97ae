#pragma once
// One io_context per thread, each with the hub of the subscribers that live on it. A connection stays
// on the loop that accepted it for life; a published message is posted once to each loop.
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/hub.hpp"
#include "runtime/beast.hpp"

namespace herald {

class EventLoops {
 public:
  EventLoops(std::size_t count, SubscriberCounts& counts);

  std::size_t size() const { return loops_.size(); }
  asio::io_context& context(std::size_t index) { return loops_[index]->context; }
  Hub& hub(std::size_t index) { return loops_[index]->hub; }

  // Hands a message to the hub of every loop that has subscribers of its channel (once per loop, not per
  // subscriber; a loop with none is not woken). Messages of one channel must be handed in cursor order;
  // every loop then delivers them in that order.
  void dispatch(const MessagePtr& message);
  // Runs `work` on every loop.
  void post_to_all(const std::function<void(Hub&)>& work);
  // Streaming connections open on all loops.
  std::size_t open_streams() const;

  // Runs every loop, loop 0 on the calling thread; returns once stop() was called and all have ended.
  void run();
  void stop();

 private:
  struct Loop {
    Loop(SubscriberCounts& counts, std::size_t index) : hub(counts, index), context(1) {}
    // Declared first, destroyed last: the context's pending handlers (which hold connections) go first.
    Hub hub;
    asio::io_context context;
    // Messages on their way to this loop, in the order they were published. Not asio::post per message:
    // Asio may run a post made from the loop's own thread after one made from another thread, and a
    // channel's messages must reach every subscriber in cursor order.
    std::mutex inbox_mutex;
    std::vector<MessagePtr> inbox;
  };
  void drain_inbox(Loop& loop);
  SubscriberCounts& counts_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> work_;
};

}  // namespace herald
