#pragma once
// The subscribers of one event loop, by channel. Each event loop owns one hub and is the only thread
// that touches it, so delivering a message walks plain vectors with no lock.
#include <array>
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
  // `index` is this hub's loop (its bit in ChannelCounts::loops).
  explicit Hub(SubscriberCounts& counts, std::size_t index = 0) : counts_(counts), bit_(std::uint64_t{1} << index) {}
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

  // An attached connection is this user's (its connection token's `sub`) until it detaches.
  void identify(Subscriber* connection, const std::string& user);
  // Ends every connection of `user` on this loop (CloseReason::disconnected).
  void disconnect_user(const std::string& user);
  // Every connection of `user` on this loop stops hearing `channel` (Subscriber::revoke).
  void revoke(const std::string& user, const std::string& channel);
  // How many connections of `user` this loop has, by transport.
  std::array<std::size_t, transport_count> connections_of(const std::string& user) const;

  void subscribe(const std::string& channel, Subscriber* subscriber);
  // Safe to call from inside deliver().
  void unsubscribe(const std::string& channel, Subscriber* subscriber);

  // Hands one shared message to every local subscriber of its channel. Returns how many took it.
  std::size_t dispatch(const MessagePtr& message);

  // Closes every attached connection (server shutdown).
  void close_all(CloseReason reason);

  // A batch: the messages the loop took from its inbox at once. While it is handed out, a connection
  // that queued something defers its write (defer_flush answers true) and writes once when the batch
  // ends, however many of the batch's messages it took: a burst costs one write per connection, not one
  // per message (uWebSockets' cork, Redis' beforeSleep).
  void begin_batch() { batching_ = true; }
  void end_batch();
  // True when the subscriber's write is deferred to the end of the batch (flush_deferred() then calls it);
  // false outside a batch: write now. A subscriber asks at most once per batch (it remembers that it did).
  bool defer_flush(Subscriber* subscriber);
  bool batching() const { return batching_; }

 private:
  struct ChannelSubscribers {
    std::vector<Subscriber*> subscribers;  // nullptr marks one removed during a dispatch
    std::shared_ptr<ChannelCounts> counts;
    bool dispatching = false;
    bool has_holes = false;
  };
  // Forgets a channel this loop no longer has subscribers of (and clears its bit).
  void forget(std::unordered_map<std::string, ChannelSubscribers>::iterator entry);

  SubscriberCounts& counts_;
  std::uint64_t bit_;
  std::unordered_map<std::string, ChannelSubscribers> channels_;
  std::unordered_set<Subscriber*> connections_;
  // Identified connections: who each is, and each user's (not on the fan-out path).
  std::unordered_map<Subscriber*, std::string> user_of_;
  std::unordered_map<std::string, std::vector<Subscriber*>> users_;
  void forget_user(Subscriber* connection);
  bool batching_ = false;
  std::vector<Subscriber*> deferred_;  // asked to write once the batch ends, each once
  std::atomic<std::size_t> open_connections_{0};
  std::array<std::atomic<std::size_t>, transport_count> by_transport_{};
  LoopMetrics metrics_;
};

}  // namespace herald
