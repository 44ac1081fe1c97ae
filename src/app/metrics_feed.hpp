#pragma once
// Where /metrics and the dashboard get their numbers: a reading of every loop's counters and of the
// gauges that live elsewhere (hubs, subscriber counts, the connection gate, login requests, the broker),
// and the feed that publishes a dashboard snapshot every second on herald's own channel.
#include <atomic>
#include <functional>
#include <stop_token>
#include <string>
#include <thread>

#include "broker/broker.hpp"
#include "core/metrics.hpp"

namespace herald {

class EventLoops;
class SubscriberCounts;
class ConnectionGate;
namespace login {
class LoginStore;
}

// The broker the API publishes through: the same broker, counting what it accepted.
class CountingBroker final : public Broker {
 public:
  explicit CountingBroker(Broker& inner) : inner_(inner) {}
  void set_sink(MessageSink sink) override { inner_.set_sink(std::move(sink)); }
  void publish(PublishRequest request, PublishCallback done) override;
  void read(const std::string& channel, const ReadFrom& from, std::size_t limit, ReadCallback done) override {
    inner_.read(channel, from, limit, std::move(done));
  }
  void info(const std::string& channel, InfoCallback done) override { inner_.info(channel, std::move(done)); }
  void sweep(const std::function<bool(const std::string&)>& listened) override { inner_.sweep(listened); }
  void presence_hold(const std::string& channel, const PresenceMember& member, std::chrono::milliseconds lease,
                     PresenceChangeCallback done) override {
    inner_.presence_hold(channel, member, lease, std::move(done));
  }
  void presence_drop(const std::string& channel, const std::string& client, PresenceChangeCallback done) override {
    inner_.presence_drop(channel, client, std::move(done));
  }
  void presence_reap(const std::string& channel, PresenceReapCallback done) override {
    inner_.presence_reap(channel, std::move(done));
  }
  void presence_list(const std::string& channel, std::size_t limit, PresenceListCallback done) override {
    inner_.presence_list(channel, limit, std::move(done));
  }
  void user_admit(const std::string& user, const std::string& connection, std::size_t limit,
                  std::chrono::milliseconds lease, UserAdmitCallback done) override {
    inner_.user_admit(user, connection, limit, lease, std::move(done));
  }
  void user_release(const std::string& user, const std::string& connection) override {
    inner_.user_release(user, connection);
  }
  void user_refresh(const std::vector<std::pair<std::string, std::string>>& held,
                    std::chrono::milliseconds lease) override {
    inner_.user_refresh(held, lease);
  }
  void set_control_sink(ControlSink sink) override { inner_.set_control_sink(std::move(sink)); }
  void control(std::string command, ControlCallback done) override {
    inner_.control(std::move(command), std::move(done));
  }
  std::uint64_t published() const { return published_.load(std::memory_order_relaxed); }
  // Messages this node published without this broker: the Redis login store's events (its scripts
  // publish them in the same step as the transition).
  void count_published(std::uint64_t messages) { published_.fetch_add(messages, std::memory_order_relaxed); }

 private:
  Broker& inner_;
  std::atomic<std::uint64_t> published_{0};
};

struct MetricsSources {
  EventLoops& loops;
  SubscriberCounts& counts;
  const ConnectionGate& gate;
  const login::LoginStore* login;  // null when login is disabled
  const CountingBroker& published;
  std::string broker;  // "memory" or "redis"
  std::function<bool()> broker_up;
  // Which channels the busiest list may name: not herald's own (login screens, the feed itself).
  std::function<bool(const std::string&)> listed;
};

// Reads everything now. `top` > 0 also lists the busiest channels since the previous such reading.
MetricsSnapshot collect_metrics(const MetricsSources& sources, std::size_t top = 0);

// Publishes render_dashboard() of the last second on `channel` every second, through `broker` (the
// uncounted one: the feed's own messages are not the clients' publishes). It runs on a thread of its
// own: with 100k channels listened to, the walk over them takes milliseconds that no event loop should
// spend.
class DashboardFeed {
 public:
  DashboardFeed(const MetricsSources& sources, Broker& broker, std::string channel)
      : sources_(sources), broker_(broker), channel_(std::move(channel)) {}
  ~DashboardFeed() { stop(); }
  DashboardFeed(const DashboardFeed&) = delete;
  DashboardFeed& operator=(const DashboardFeed&) = delete;

  void start();
  // Idempotent; returns once the thread has ended.
  void stop();

 private:
  void run(const std::stop_token& stop);
  void tick(MetricsSnapshot& previous);

  const MetricsSources& sources_;
  Broker& broker_;
  std::string channel_;
  std::jthread thread_;
};

}  // namespace herald
