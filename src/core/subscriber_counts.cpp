#include "core/subscriber_counts.hpp"

#include <algorithm>
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

Ending ending_of(CloseReason reason) {
  switch (reason) {
    case CloseReason::shutdown:
      return {"shutting_down", "The server is shutting down.", true};
    case CloseReason::slow_consumer:
      return {"slow_consumer", "The connection fell too far behind; resume from the last cursor.", true};
    case CloseReason::token_expired:
      return {"token_expired", "The token has expired: come back with a fresh one.", true};
    case CloseReason::disconnected:
      return {"disconnected", "The application ended this user's connections.", false};
    case CloseReason::unsubscribed:
      return {"unsubscribed", "The application ended this user's subscription to the channel.", false};
  }
  return {"closed", "Closed.", true};
}

std::string ending_json(CloseReason reason, std::string_view channel) {
  // Codes and sentences are herald's own, channel names a restricted alphabet: nothing to escape.
  Ending ending = ending_of(reason);
  std::string out = "{";
  if (!channel.empty()) out.append(R"("channel":")").append(channel).append("\",");
  out.append(R"("code":")").append(ending.code).append(R"(","message":")").append(ending.message);
  out.append(R"(","reconnect":)").append(ending.reconnect ? "true" : "false").append("}");
  return out;
}

std::uint16_t ending_close_code(CloseReason reason) {
  switch (reason) {
    case CloseReason::token_expired:
      return 4001;
    case CloseReason::disconnected:
      return 4003;
    case CloseReason::unsubscribed:
      return 4004;
    case CloseReason::slow_consumer:
      return 1008;
    case CloseReason::shutdown:
      return 1001;
  }
  return 1000;
}

std::vector<std::pair<std::string, std::array<std::int64_t, transport_count>>> SubscriberCounts::listened_with_prefix(
    std::string_view prefix, std::string_view after, std::size_t limit) const {
  std::vector<std::pair<std::string, std::array<std::int64_t, transport_count>>> found;
  for (const Shard& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    for (const auto& [name, counts] : shard.channels) {
      if (!name.starts_with(prefix) || name <= after || counts->total() <= 0) continue;
      std::array<std::int64_t, transport_count> by{};
      for (std::size_t t = 0; t < transport_count; ++t) by[t] = counts->by_transport[t].load(std::memory_order_relaxed);
      found.emplace_back(name, by);
    }
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  if (found.size() > limit) found.resize(limit);
  return found;
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

void SubscriberCounts::joined(ChannelCounts& channel, Transport transport) {
  const auto t = static_cast<std::size_t>(transport);
  channel.by_transport[t].fetch_add(1, std::memory_order_relaxed);
  subscriptions_[t].fetch_add(1, std::memory_order_relaxed);
  if (channel.listeners.fetch_add(1, std::memory_order_relaxed) == 0) listened_.fetch_add(1, std::memory_order_relaxed);
}

void SubscriberCounts::left(ChannelCounts& channel, Transport transport) {
  const auto t = static_cast<std::size_t>(transport);
  channel.by_transport[t].fetch_sub(1, std::memory_order_relaxed);
  subscriptions_[t].fetch_sub(1, std::memory_order_relaxed);
  if (channel.listeners.fetch_sub(1, std::memory_order_relaxed) == 1) listened_.fetch_sub(1, std::memory_order_relaxed);
}

std::uint64_t SubscriberCounts::listened_channels() const {
  return static_cast<std::uint64_t>(std::max<std::int64_t>(listened_.load(std::memory_order_relaxed), 0));
}

ChannelsSummary SubscriberCounts::summarize(std::size_t top, const std::function<bool(const std::string&)>& listed) {
  ChannelsSummary summary;
  // A min-heap of at most `top` entries: memory and time stay bounded by `top` whatever the channel count.
  auto busier = [](const ChannelActivity& a, const ChannelActivity& b) {
    return a.deliveries != b.deliveries ? a.deliveries > b.deliveries : a.subscribers > b.subscribers;
  };
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    for (const auto& [channel, counts] : shard.channels) {
      std::int64_t subscribers = 0;
      for (std::size_t i = 0; i < transport_count; ++i) {
        std::int64_t n = std::max<std::int64_t>(counts->by_transport[i].load(std::memory_order_relaxed), 0);
        summary.subscriptions[i] += static_cast<std::uint64_t>(n);
        subscribers += n;
      }
      if (subscribers > 0) ++summary.channels;
      if (top == 0) continue;
      const std::uint64_t delivered = counts->delivered.load(std::memory_order_relaxed);
      const std::uint64_t deliveries = delivered - counts->reported.exchange(delivered, std::memory_order_relaxed);
      if ((subscribers == 0 && deliveries == 0) || (listed && !listed(channel))) continue;
      // Compared before the name is copied: most channels do not make the list.
      const ChannelActivity probe{{}, deliveries, subscribers};
      if (summary.busiest.size() == top) {
        if (!busier(probe, summary.busiest.front())) continue;
        std::pop_heap(summary.busiest.begin(), summary.busiest.end(), busier);
        summary.busiest.back() = {channel, deliveries, subscribers};
      } else {
        summary.busiest.push_back({channel, deliveries, subscribers});
      }
      std::push_heap(summary.busiest.begin(), summary.busiest.end(), busier);
    }
  }
  std::sort_heap(summary.busiest.begin(), summary.busiest.end(), busier);
  return summary;
}

}  // namespace herald
