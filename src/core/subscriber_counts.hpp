#pragma once
// How many subscribers listen to each channel on this node, by transport, readable from any thread.
// Each event loop's hub bumps the counters of its own subscribers; publishing and introspection read
// the sums without touching the hubs.
#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/subscriber.hpp"

namespace herald {

struct ChannelCounts {
  std::array<std::atomic<std::int64_t>, transport_count> by_transport{};
  std::int64_t total() const;
};

class SubscriberCounts {
 public:
  // The counters of a channel, created on first use. Hubs hold on to the pointer while they have
  // subscribers of the channel, so this lock is taken once per channel per thread, not per subscriber.
  std::shared_ptr<ChannelCounts> acquire(const std::string& channel);
  // The counters of a channel if anyone holds them (nullptr: nobody listens).
  std::shared_ptr<const ChannelCounts> find(const std::string& channel) const;
  // Forgets channels that no hub holds any more.
  void sweep();

 private:
  static constexpr std::size_t shard_count = 16;
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, std::shared_ptr<ChannelCounts>> channels;
  };
  Shard& shard_for(const std::string& channel) const;
  mutable std::array<Shard, shard_count> shards_;
};

}  // namespace herald
