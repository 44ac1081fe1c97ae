#include "app/metrics_feed.hpp"

#include <spdlog/spdlog.h>
#include <algorithm>
#include <condition_variable>
#include <limits>
#include <mutex>

#include "core/subscriber_counts.hpp"
#include "http/connection_gate.hpp"
#include "login/login_store.hpp"
#include "runtime/event_loops.hpp"

namespace herald {
namespace {

constexpr auto feed_interval = std::chrono::seconds(1);
constexpr std::size_t busiest_channels = 10;  // a bounded list, whatever the number of channels

}  // namespace

MetricsSnapshot collect_metrics(const MetricsSources& sources, std::size_t top) {
  MetricsSnapshot snapshot;
  snapshot.at = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < sources.loops.size(); ++i) {
    const Hub& hub = sources.loops.hub(i);
    snapshot.add_loop(hub.metrics());
    for (std::size_t t = 0; t < transport_count; ++t) {
      snapshot.connections[t] += hub.open_connections(static_cast<Transport>(t));
    }
  }
  // The totals are kept as subscribers come and go; only the busiest list walks the channels.
  snapshot.channels = sources.counts.listened_channels();
  for (std::size_t t = 0; t < transport_count; ++t) {
    snapshot.subscriptions[t] =
        static_cast<std::uint64_t>(std::max<std::int64_t>(sources.counts.subscriptions(static_cast<Transport>(t)), 0));
  }
  if (top > 0) snapshot.busiest = sources.counts.summarize(top, sources.listed).busiest;
  snapshot.open_connections = sources.gate.open();
  snapshot.connections_refused = {{"too_many_connections", sources.gate.refused_full()},
                                  {"too_many_from_address", sources.gate.refused_address()}};
  snapshot.published = sources.publisher.published();
  if (const login::LoginStore* login = sources.login) {
    using login::State;
    snapshot.login_enabled = true;
    snapshot.login_started = {{"qr", login->started(login::Flow::qr)}, {"device", login->started(login::Flow::device)}};
    for (State state : {State::approved, State::denied, State::consumed, State::expired, State::cancelled}) {
      snapshot.login_outcomes.emplace_back(std::string(login::state_name(state)), login->entered(state));
    }
  }
  snapshot.broker = sources.broker;
  snapshot.broker_up = sources.broker_up();
  return snapshot;
}

void DashboardFeed::start() {
  thread_ = std::jthread([this](const std::stop_token& stop) { run(stop); });
}

void DashboardFeed::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
}

void DashboardFeed::run(const std::stop_token& stop) {
  MetricsSnapshot previous = collect_metrics(sources_, busiest_channels);
  auto next = std::chrono::steady_clock::now() + feed_interval;
  std::mutex mutex;
  std::condition_variable_any wake;
  while (true) {
    {
      std::unique_lock lock(mutex);
      // Returns early only when a stop is requested (the predicate never holds otherwise).
      if (wake.wait_until(lock, stop, next, [] { return false; }) || stop.stop_requested()) return;
    }
    tick(previous);
    // From the last deadline, not from now, so ticks do not drift; after a stall, no burst to catch up.
    next = std::max(next + feed_interval, std::chrono::steady_clock::now());
  }
}

void DashboardFeed::tick(MetricsSnapshot& previous) {
  MetricsSnapshot now = collect_metrics(sources_, busiest_channels);
  auto unix_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  auto made = make_publish_request(channel_, "", render_dashboard(now, previous, unix_ms), true,
                                   std::numeric_limits<std::size_t>::max());
  if (auto* request = std::get_if<PublishRequest>(&made)) {
    request->counted = false;
    // A broker that cannot reach its store refuses; the next second tries again.
    broker_.publish(std::move(*request), [](const auto&) {});
  } else {
    spdlog::error("metrics: the dashboard snapshot could not be published: {}", std::get<Error>(made).message);
  }
  previous = std::move(now);
}

}  // namespace herald
