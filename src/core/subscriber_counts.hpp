#pragma once
// How many subscribers listen to each channel on this node, by transport, readable from any thread.
// Each event loop's hub bumps the counters of its own subscribers; publishing and introspection read
// the sums without touching the hubs.
#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/metrics.hpp"
#include "core/subscriber.hpp"

namespace herald {

struct ChannelCounts {
  std::array<std::atomic<std::int64_t>, transport_count> by_transport{};
  // Live deliveries to this channel's subscribers (each hub adds once per message), and how many of
  // them summarize() has already reported: the dashboard's busiest channels come from the difference.
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> reported{0};
  std::atomic<std::int64_t> listeners{0};  // all transports: its 0 <-> 1 steps count listened channels
  // Bit i: event loop i has subscribers of this channel. A message is handed only to those loops, so a
  // loop with nobody on a channel is not woken for it (with many channels, most loops have nobody).
  std::atomic<std::uint64_t> loops{0};
  std::int64_t total() const;
};

// The channels at one moment: what /metrics shows of them, and a bounded list of the busiest.
struct ChannelsSummary {
  std::uint64_t channels = 0;  // with at least one subscriber
  std::array<std::uint64_t, transport_count> subscriptions{};
  std::vector<ChannelActivity> busiest;  // most deliveries since the last summary, then most subscribers
};

class SubscriberCounts {
 public:
  // The counters of a channel, created on first use. Hubs hold on to the pointer while they have
  // subscribers of the channel, so this lock is taken once per channel per thread, not per subscriber.
  std::shared_ptr<ChannelCounts> acquire(const std::string& channel);
  // The counters of a channel if anyone holds them (nullptr: nobody listens).
  std::shared_ptr<const ChannelCounts> find(const std::string& channel) const;
  // A subscriber of `transport` joined or left a channel (the counters `acquire` gave for it). The node's
  // totals move with them, so that /metrics reads two numbers instead of walking every channel.
  void joined(ChannelCounts& channel, Transport transport);
  void left(ChannelCounts& channel, Transport transport);
  std::uint64_t listened_channels() const;
  std::int64_t subscriptions(Transport transport) const {
    return subscriptions_[static_cast<std::size_t>(transport)].load(std::memory_order_relaxed);
  }
  // The channels after `after` (by name) that start with `prefix` and have listeners, by name, at most
  // `limit`, with their counts by transport (GET /api/channels). Walks every shard.
  std::vector<std::pair<std::string, std::array<std::int64_t, transport_count>>> listened_with_prefix(
      std::string_view prefix, std::string_view after, std::size_t limit) const;
  // Forgets channels that no hub holds any more.
  void sweep();
  // Walks every channel once (one shard lock at a time). With `top` > 0, also lists the `top` busiest
  // of those `listed` allows (all without it) and starts a new interval for their delivery counts: only
  // one caller (the dashboard feed) may ask.
  ChannelsSummary summarize(std::size_t top = 0, const std::function<bool(const std::string&)>& listed = {});

 private:
  static constexpr std::size_t shard_count = 16;
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, std::shared_ptr<ChannelCounts>> channels;
  };
  Shard& shard_for(const std::string& channel) const;
  mutable std::array<Shard, shard_count> shards_;
  std::atomic<std::int64_t> listened_{0};
  std::array<std::atomic<std::int64_t>, transport_count> subscriptions_{};
};

}  // namespace herald
