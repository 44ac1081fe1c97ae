#pragma once
// Counters for GET /metrics and the dashboard feed (docs/metrics.md).
//
// The counters of the message path live in one `LoopMetrics` per event loop (inside its Hub), written
// only by that loop's thread: an increment is a relaxed load and store, no locked instruction and no
// cache line shared with another loop. Readers on any thread sum the loops; a reading may be a few
// increments behind, never torn. Gauges that exist elsewhere (the hubs' connections, SubscriberCounts,
// the connection gate) are read where they are, not counted twice.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/subscriber.hpp"

namespace herald {

// A counter that one thread writes and any thread reads.
class LoopCounter {
 public:
  void add(std::uint64_t n = 1) { value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  std::uint64_t get() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

// Publish-to-delivery latency buckets (upper bounds, seconds): 100 µs to 10 s, then +Inf.
inline constexpr std::array<std::int64_t, 16> latency_bounds_ns = {
    100'000,    250'000,     500'000,     1'000'000,   2'500'000,     5'000'000,     10'000'000,    25'000'000,
    50'000'000, 100'000'000, 250'000'000, 500'000'000, 1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000};
inline constexpr std::size_t latency_bucket_count = latency_bounds_ns.size() + 1;  // the last is +Inf

// A histogram's numbers at one moment (plain values: summed, subtracted, rendered).
struct HistogramCounts {
  std::array<std::uint64_t, latency_bucket_count> buckets{};  // per bucket, not cumulative
  std::uint64_t count = 0;
  std::uint64_t sum_ns = 0;

  void add(const HistogramCounts& other);
  // What was observed since `earlier` (a reading of the same histogram).
  HistogramCounts since(const HistogramCounts& earlier) const;
  // The q-quantile (0..1) in seconds, interpolated inside its bucket as Prometheus'
  // histogram_quantile() does; nullopt when nothing was observed. Past the last bound: that bound.
  std::optional<double> quantile(double q) const;
};

// Fixed buckets, one writer thread.
class LatencyHistogram {
 public:
  // `n` deliveries that each took `latency` (a message reaches all of one loop's subscribers at once).
  void observe(std::chrono::nanoseconds latency, std::uint64_t n = 1);
  HistogramCounts read() const;

 private:
  std::array<LoopCounter, latency_bucket_count> buckets_;
  LoopCounter count_;
  LoopCounter sum_ns_;
};

// Why a live message did not reach a subscriber.
enum class DropReason : std::uint8_t { slow_consumer, closing };
inline constexpr std::size_t drop_reason_count = 2;
std::string_view drop_reason_name(DropReason reason);

// What answered bytes were sent on: plain HTTP answers (polls, publishes, pages) or a stream.
enum class Wire : std::uint8_t { http, sse, websocket };
inline constexpr std::size_t wire_count = 3;
std::string_view wire_name(Wire wire);

// How a long poll ended.
enum class LongPollOutcome : std::uint8_t { answered, timed_out, abandoned, shutdown, failed };
inline constexpr std::size_t long_poll_outcome_count = 5;
std::string_view long_poll_outcome_name(LongPollOutcome outcome);

// One event loop's counters. Aligned so that two loops' counters never share a cache line.
struct alignas(64) LoopMetrics {
  std::array<LoopCounter, transport_count> delivered;  // live messages handed to subscribers
  std::array<LoopCounter, drop_reason_count> dropped;
  std::array<LoopCounter, wire_count> sent_bytes;
  std::array<LoopCounter, long_poll_outcome_count> long_polls;
  LoopCounter interval_polls;
  LatencyHistogram latency;

  void count_long_poll(LongPollOutcome outcome) { long_polls[static_cast<std::size_t>(outcome)].add(); }
  void count_sent(Wire wire, std::uint64_t bytes) { sent_bytes[static_cast<std::size_t>(wire)].add(bytes); }
};

// A labelled counter or gauge value, e.g. {"approved", 3}.
using LabelledValues = std::vector<std::pair<std::string, std::uint64_t>>;

// One channel in the dashboard's bounded list of the busiest.
struct ChannelActivity {
  std::string channel;
  std::uint64_t deliveries = 0;  // in the interval the list covers
  std::int64_t subscribers = 0;
};

// Everything /metrics shows, read at one moment (see the app's collector).
struct MetricsSnapshot {
  std::chrono::steady_clock::time_point at;
  std::array<std::uint64_t, transport_count> connections{};    // attached streaming connections and held long polls
  std::array<std::uint64_t, transport_count> subscriptions{};  // channel subscriptions (a /ws socket may hold many)
  std::uint64_t open_connections = 0;                          // every admitted TCP connection
  std::uint64_t channels = 0;                                  // channels with a subscriber on this node
  std::uint64_t published = 0;
  std::array<std::uint64_t, transport_count> delivered{};
  std::array<std::uint64_t, drop_reason_count> dropped{};
  std::array<std::uint64_t, wire_count> sent_bytes{};
  std::array<std::uint64_t, long_poll_outcome_count> long_polls{};
  std::uint64_t interval_polls = 0;
  HistogramCounts latency;
  LabelledValues connections_refused;  // by reason
  bool login_enabled = false;
  LabelledValues login_started;   // by flow
  LabelledValues login_outcomes;  // by outcome
  std::string broker;             // "memory" or "redis"
  bool broker_up = false;
  std::vector<ChannelActivity> busiest;  // the dashboard's top channels (not part of /metrics)

  // Adds one loop's counters.
  void add_loop(const LoopMetrics& loop);
};

// The Prometheus text exposition format (version 0.0.4), every family with # HELP and # TYPE.
std::string render_prometheus(const MetricsSnapshot& snapshot);

// The dashboard feed's message: aggregates over the interval between two snapshots, one line of JSON.
std::string render_dashboard(const MetricsSnapshot& now, const MetricsSnapshot& before, std::int64_t unix_ms);

}  // namespace herald
