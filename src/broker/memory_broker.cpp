#include "broker/memory_broker.hpp"

namespace herald {

MemoryBroker::Shard& MemoryBroker::shard_for(const std::string& channel) {
  return shards_[std::hash<std::string>{}(channel) % shard_count];
}

MemoryBroker::Channel& MemoryBroker::channel_locked(Shard& shard, const std::string& name,
                                                    History::Clock::time_point now) {
  auto& slot = shard.channels[name];
  if (!slot) slot = std::make_unique<Channel>(policy_.for_channel(name));
  slot->last_used = now;
  slot->history.trim(slot->settings.history, now);
  return *slot;
}

// --- idempotency keys ------------------------------------------------------------------------------

std::optional<Cursor> MemoryBroker::IdempotencyKeys::find(const std::string& key, Clock::time_point now) const {
  auto found = by_key_.find(key);
  if (found == by_key_.end() || found->second.until <= now) return std::nullopt;
  return found->second.id;
}

void MemoryBroker::IdempotencyKeys::remember(const std::string& key, Cursor id, Clock::time_point until,
                                             std::size_t capacity) {
  while (!by_key_.contains(key) && by_key_.size() >= capacity && !order_.empty()) forget_oldest();
  by_key_[key] = {id, until};
  order_.emplace_back(until, key);
}

void MemoryBroker::IdempotencyKeys::expire(Clock::time_point now) {
  while (!order_.empty() && order_.front().first <= now) forget_oldest();
}

void MemoryBroker::IdempotencyKeys::forget_oldest() {
  auto& [until, key] = order_.front();
  if (auto found = by_key_.find(key); found != by_key_.end() && found->second.until == until) by_key_.erase(found);
  order_.pop_front();
}

// --- the Broker interface ---------------------------------------------------------------------------

void MemoryBroker::publish(PublishRequest request, PublishCallback done) {
  auto now = History::Clock::now();
  Shard& shard = shard_for(request.channel);
  MessagePtr message;
  std::optional<Cursor> first;
  {
    std::lock_guard lock(shard.mutex);
    Channel& channel = channel_locked(shard, request.channel, now);
    // The key is looked up and remembered under the lock that orders the channel's appends, so of any
    // number of racing repeats exactly one appends (point 10).
    if (!request.idempotency_key.empty()) {
      const auto steady_now = IdempotencyKeys::Clock::now();
      if (!channel.keys) channel.keys = std::make_unique<IdempotencyKeys>();
      channel.keys->expire(steady_now);
      first = channel.keys->find(request.idempotency_key, steady_now);
      if (!first) {
        message = channel.history.append(std::move(request.channel), std::move(request.event), std::move(request.data),
                                         request.is_json, channel.settings.history, now);
        channel.keys->remember(request.idempotency_key, message->cursor(), steady_now + request.idempotency_window,
                               keys_per_channel_);
      }
    } else {
      message = channel.history.append(std::move(request.channel), std::move(request.event), std::move(request.data),
                                       request.is_json, channel.settings.history, now);
    }
    // Still under the shard lock: two publishes to one channel reach the sink in cursor order.
    if (message && sink_) sink_(message);
  }
  if (first) return done(Replayed{*first});
  if (request.counted) count_published();
  done(std::move(message));
}

void MemoryBroker::read(const std::string& channel, const ReadFrom& from, std::size_t limit, ReadCallback done) {
  Shard& shard = shard_for(channel);
  auto now = History::Clock::now();
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  ReadResult result;
  {
    std::lock_guard lock(shard.mutex);
    auto found = shard.channels.find(channel);
    if (found == shard.channels.end()) {
      // A channel nobody published to is not created by reading it (contract point 4).
      auto age = std::chrono::duration_cast<std::chrono::milliseconds>(policy_.for_channel(channel).history.max_age);
      bool vouches = from.since && empty_cursor_vouches(*from.since, now_ms, age.count());
      result = History::read_absent(from, now_ms, vouches);
    } else {
      Channel& kept = *found->second;
      kept.last_used = now;
      kept.history.trim(kept.settings.history, now);
      auto age = std::chrono::duration_cast<std::chrono::milliseconds>(kept.settings.history.max_age);
      bool vouches = from.since && empty_cursor_vouches(*from.since, now_ms, age.count());
      result = kept.history.read(from, limit, vouches);
    }
  }
  done(std::move(result));
}

void MemoryBroker::info(const std::string& channel, InfoCallback done) {
  Shard& shard = shard_for(channel);
  ChannelInfo info;
  {
    std::lock_guard lock(shard.mutex);
    if (auto it = shard.channels.find(channel); it != shard.channels.end()) {
      History& history = it->second->history;
      history.trim(it->second->settings.history, History::Clock::now());
      info.kept = history.size();
      if (history.last_cursor().seq > 0) info.last_id = history.last_cursor();
    }
  }
  done(info);
}

void MemoryBroker::sweep(const std::function<bool(const std::string&)>& listened) {
  auto now = History::Clock::now();
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    std::erase_if(shard.channels, [&](auto& entry) {
      Channel& channel = *entry.second;
      channel.history.trim(channel.settings.history, now);
      if (channel.keys) {
        // A key outlives the history it was used on: a channel is kept while one of its keys is remembered.
        channel.keys->expire(IdempotencyKeys::Clock::now());
        if (!channel.keys->empty()) return false;
        channel.keys.reset();
      }
      // Idle for a whole history age with nothing kept: a later reader gets a gap, which is the truth.
      return channel.history.size() == 0 && now - channel.last_used > channel.settings.history.max_age &&
             !listened(entry.first);
    });
  }
}

// --- connections per user ---------------------------------------------------------------------------

void MemoryBroker::user_admit(const std::string& user, const std::string& connection, std::size_t limit,
                              std::chrono::milliseconds, UserAdmitCallback done) {
  bool admitted = false;
  {
    std::lock_guard lock(users_mutex_);
    auto& mine = users_[user];
    admitted = limit == 0 || mine.size() < limit;
    if (admitted) mine.insert(connection);
    if (mine.empty()) users_.erase(user);
  }
  done(admitted);
}

void MemoryBroker::user_release(const std::string& user, const std::string& connection) {
  std::lock_guard lock(users_mutex_);
  auto found = users_.find(user);
  if (found == users_.end()) return;
  found->second.erase(connection);
  if (found->second.empty()) users_.erase(found);
}

}  // namespace herald
