#pragma once
// The subscribers of one event loop, by channel. Each event loop owns one hub and is the only thread
// that touches it, so delivering a message walks plain vectors with no lock.
#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/metrics.hpp"
#include "core/subscriber_counts.hpp"

namespace herald {

class Hub {
 public:
  explicit Hub(SubscriberCounts& counts) : counts_(counts) {}
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  // A streaming connection lives on this loop: it is told when the server shuts down.
  void attach(Subscriber* connection);
  void detach(Subscriber* connection);
  // How many connections are attached (in all, or of one transport). These and metrics() are the only
  // members safe to read from another thread.
  std::size_t open_connections() const { return open_connections_.load(std::memory_order_relaxed); }
  std::size_t open_connections(Transport transport) const {
    return by_transport_[static_cast<std::size_t>(transport)].load(std::memory_order_relaxed);
  }
  // This loop's counters: written on this loop only (by the hub and by the connections that live here).
  LoopMetrics& metrics() { return metrics_; }
  const LoopMetrics& metrics() const { return metrics_; }

  void subscribe(const std::string& channel, Subscriber* subscriber);
  // Safe to call from inside deliver().
  void unsubscribe(const std::string& channel, Subscriber* subscriber);

  // Hands one shared message to every local subscriber of its channel. Returns how many took it.
  std::size_t dispatch(const MessagePtr& message);

  // Closes every attached connection (server shutdown).
  void close_all(CloseReason reason);

 private:
  struct ChannelSubscribers {
    std::vector<Subscriber*> subscribers;  // nullptr marks one removed during a dispatch
    std::shared_ptr<ChannelCounts> counts;
    bool dispatching = false;
    bool has_holes = false;
  };
  SubscriberCounts& counts_;
  std::unordered_map<std::string, ChannelSubscribers> channels_;
  std::unordered_set<Subscriber*> connections_;
  std::atomic<std::size_t> open_connections_{0};
  std::array<std::atomic<std::size_t>, transport_count> by_transport_{};
  LoopMetrics metrics_;
};

}  // namespace herald
