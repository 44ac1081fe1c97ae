#pragma once
// The embedded broker: histories in this process's memory, sharded by channel with a lock per shard,
// so publishes to different channels do not wait for each other.
#include <algorithm>
#include <array>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "broker/broker.hpp"
#include "core/namespace_settings.hpp"

namespace herald {

class MemoryBroker final : public Broker {
 public:
  // `idempotency_keys_per_channel`: how many idempotency keys one channel remembers at most (point 10).
  explicit MemoryBroker(NamespacePolicy policy, std::size_t idempotency_keys_per_channel = 10000)
      : policy_(std::move(policy)), keys_per_channel_(std::max<std::size_t>(idempotency_keys_per_channel, 1)) {}

  void set_sink(MessageSink sink) override { sink_ = std::move(sink); }
  void publish(PublishRequest request, PublishCallback done) override;
  void read(const std::string& channel, const ReadFrom& from, std::size_t limit, ReadCallback done) override;
  void info(const std::string& channel, InfoCallback done) override;
  void sweep(const std::function<bool(const std::string&)>& listened) override;

  // One node: its own count, no lease.
  void user_admit(const std::string& user, const std::string& connection, std::size_t limit,
                  std::chrono::milliseconds lease, UserAdmitCallback done) override;
  void user_release(const std::string& user, const std::string& connection) override;
  void user_refresh(const std::vector<std::pair<std::string, std::string>>&, std::chrono::milliseconds) override {}

  // One node: a command goes straight to its own sink.
  void set_control_sink(ControlSink sink) override { control_sink_ = std::move(sink); }
  void control(std::string command, ControlCallback done) override {
    if (control_sink_) control_sink_(command);
    done(std::size_t{1});
  }

 private:
  ControlSink control_sink_;
  std::mutex users_mutex_;
  std::unordered_map<std::string, std::unordered_set<std::string>> users_;  // user -> connections

  // The idempotency keys of one channel still in their window (point 10), oldest first in `order`. A key
  // used again after its window ran out is remembered anew, so `order` may also name an older use of it:
  // that entry removes nothing (its `until` is no longer the key's).
  class IdempotencyKeys {
   public:
    using Clock = std::chrono::steady_clock;
    // The cursor of the key's publish, while its window lasts.
    std::optional<Cursor> find(const std::string& key, Clock::time_point now) const;
    // Remembers `key` for `id` until `until`, forgetting the oldest beyond `capacity`.
    void remember(const std::string& key, Cursor id, Clock::time_point until, std::size_t capacity);
    // Forgets the keys whose window ran out.
    void expire(Clock::time_point now);
    bool empty() const { return by_key_.empty(); }

   private:
    struct Remembered {
      Cursor id;
      Clock::time_point until;
    };
    void forget_oldest();
    std::unordered_map<std::string, Remembered> by_key_;
    std::deque<std::pair<Clock::time_point, std::string>> order_;
  };

  struct Channel {
    explicit Channel(const NamespaceSettings& settings) : history(new_history_id()), settings(settings) {}
    History history;
    const NamespaceSettings& settings;
    History::Clock::time_point last_used;
    std::unique_ptr<IdempotencyKeys> keys;  // made by the first publish with a key: others pay nothing
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, std::unique_ptr<Channel>> channels;
  };
  static constexpr std::size_t shard_count = 64;

  Shard& shard_for(const std::string& channel);
  Channel& channel_locked(Shard& shard, const std::string& name, History::Clock::time_point now);

  NamespacePolicy policy_;
  std::size_t keys_per_channel_;
  MessageSink sink_;
  std::array<Shard, shard_count> shards_;
};

}  // namespace herald
