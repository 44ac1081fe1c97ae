#include "core/subscriber_counts.hpp"

#include <functional>

namespace herald {

std::string_view transport_name(Transport transport) {
  switch (transport) {
    case Transport::websocket:
      return "websocket";
    case Transport::sse:
      return "sse";
    case Transport::longpoll:
      return "longpoll";
  }
  return "unknown";
}

std::int64_t ChannelCounts::total() const {
  std::int64_t sum = 0;
  for (const auto& count : by_transport) sum += count.load(std::memory_order_relaxed);
  return sum;
}

SubscriberCounts::Shard& SubscriberCounts::shard_for(const std::string& channel) const {
  return shards_[std::hash<std::string>{}(channel) % shard_count];
}

std::shared_ptr<ChannelCounts> SubscriberCounts::acquire(const std::string& channel) {
  Shard& shard = shard_for(channel);
  std::lock_guard lock(shard.mutex);
  auto& slot = shard.channels[channel];
  if (!slot) slot = std::make_shared<ChannelCounts>();
  return slot;
}

std::shared_ptr<const ChannelCounts> SubscriberCounts::find(const std::string& channel) const {
  Shard& shard = shard_for(channel);
  std::lock_guard lock(shard.mutex);
  auto it = shard.channels.find(channel);
  return it == shard.channels.end() ? nullptr : it->second;
}

void SubscriberCounts::sweep() {
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    std::erase_if(shard.channels, [](const auto& entry) { return entry.second.use_count() == 1; });
  }
}

}  // namespace herald
