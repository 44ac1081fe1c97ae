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

struct MetricsSources {
  EventLoops& loops;
  SubscriberCounts& counts;
  const ConnectionGate& gate;
  const login::LoginStore* login;  // null when login is disabled
  const Broker& publisher;         // what it published (broker.hpp, point 13)
  std::string broker;              // "memory" or "redis"
  std::function<bool()> broker_up;
  // Which channels the busiest list may name: not herald's own (login screens, the feed itself).
  std::function<bool(const std::string&)> listed;
};

// Reads everything now. `top` > 0 also lists the busiest channels since the previous such reading.
MetricsSnapshot collect_metrics(const MetricsSources& sources, std::size_t top = 0);

// Publishes render_dashboard() of the last second on `channel` every second, through `broker`, uncounted
// (the feed's own messages are not what clients published). It runs on a thread of its
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
