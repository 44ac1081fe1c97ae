#include "runtime/event_loops.hpp"

#include "runtime/calling_loop.hpp"

namespace herald {

EventLoops::EventLoops(std::size_t count, SubscriberCounts& counts) : counts_(counts) {
  if (count > 64) throw std::invalid_argument("at most 64 event loops (one bit each in ChannelCounts::loops)");
  for (std::size_t i = 0; i < std::max<std::size_t>(count, 1); ++i) {
    loops_.push_back(std::make_unique<Loop>(counts, i));
    work_.push_back(asio::make_work_guard(loops_.back()->context));
  }
}

void EventLoops::dispatch(const MessagePtr& message) {
  auto counts = counts_.find(message->channel());
  std::uint64_t loops = counts ? counts->loops.load(std::memory_order_seq_cst) : 0;
  for (std::size_t i = 0; loops != 0 && i < loops_.size(); ++i, loops >>= 1U) {
    if ((loops & 1U) == 0) continue;
    auto& loop = loops_[i];
    bool wake = false;
    {
      std::lock_guard lock(loop->inbox_mutex);
      wake = loop->inbox.empty();  // otherwise a drain is already on its way
      loop->inbox.push_back(message);
    }
    if (wake) asio::post(loop->context, [this, &target = *loop] { drain_inbox(target); });
  }
}

void EventLoops::drain_inbox(Loop& loop) {
  std::vector<MessagePtr> batch;
  {
    std::lock_guard lock(loop.inbox_mutex);
    batch.swap(loop.inbox);
  }
  loop.hub.begin_batch();
  for (const auto& message : batch) loop.hub.dispatch(message);
  loop.hub.end_batch();  // each connection writes what it took, once
}

void EventLoops::post_to_all(const std::function<void(Hub&)>& work) {
  for (auto& loop : loops_) asio::post(loop->context, [&hub = loop->hub, work] { work(hub); });
}

std::size_t EventLoops::open_streams() const {
  std::size_t total = 0;
  for (const auto& loop : loops_) total += loop->hub.open_connections();
  return total;
}

void EventLoops::run() {
  std::vector<std::jthread> threads;
  for (std::size_t i = 1; i < loops_.size(); ++i) {
    threads.emplace_back([this, i] {
      set_calling_loop(&loops_[i]->context);
      loops_[i]->context.run();
    });
  }
  set_calling_loop(&loops_[0]->context);
  loops_[0]->context.run();
  set_calling_loop(nullptr);
}

void EventLoops::stop() {
  work_.clear();
  for (auto& loop : loops_) loop->context.stop();
}

}  // namespace herald
