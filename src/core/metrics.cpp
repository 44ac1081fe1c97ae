#include "core/metrics.hpp"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <boost/json/string_view.hpp>
#include <charconv>
#include <cmath>

namespace herald {
namespace {

// The `le` labels of the latency buckets, written exactly as the bounds are meant (no float noise).
constexpr std::array<std::string_view, latency_bucket_count> latency_labels = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1",    "0.25",    "0.5",    "1",     "2.5",    "5",     "10",   "+Inf"};

constexpr std::array<Transport, transport_count> transports = {Transport::websocket, Transport::sse,
                                                               Transport::longpoll};

std::string number(double value) {
  if (!std::isfinite(value)) return "0";
  std::array<char, 32> text{};
  auto [end, ec] = std::to_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() ? std::string(text.data(), end) : "0";
}

// A rate for the dashboard: three decimals are plenty, and keep the JSON short.
std::string rate(double value) { return number(std::round(value * 1000) / 1000); }

// Writes metric families: every family gets its # HELP and # TYPE lines once, before its samples.
class Exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  // `labels` is `key="value",...` without braces (values come from fixed vocabularies: no escaping).
  void sample(std::string_view name, std::string_view labels, std::string_view value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      out_ += labels;
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }
  void sample(std::string_view name, std::string_view labels, std::uint64_t value) {
    sample(name, labels, std::to_string(value));
  }
  template <class Array, class NameOf>
  void by_label(std::string_view name, std::string_view label, const Array& values, NameOf name_of) {
    for (std::size_t i = 0; i < values.size(); ++i) {
      sample(name, std::string(label) + "=\"" + std::string(name_of(i)) + '"', values[i]);
    }
  }
  void labelled(std::string_view name, std::string_view label, const LabelledValues& values) {
    for (const auto& [value_label, value] : values) sample(name, std::string(label) + "=\"" + value_label + '"', value);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

auto transport_at = [](std::size_t i) { return transport_name(transports[i]); };

template <std::size_t N>
std::uint64_t sum(const std::array<std::uint64_t, N>& values) {
  std::uint64_t total = 0;
  for (auto value : values) total += value;
  return total;
}

}  // namespace

std::string_view drop_reason_name(DropReason reason) {
  return reason == DropReason::slow_consumer ? "slow_consumer" : "closing";
}

std::string_view wire_name(Wire wire) {
  switch (wire) {
    case Wire::http:
      return "http";
    case Wire::sse:
      return "sse";
    case Wire::websocket:
      return "websocket";
  }
  return "unknown";
}

std::string_view long_poll_outcome_name(LongPollOutcome outcome) {
  switch (outcome) {
    case LongPollOutcome::answered:
      return "answered";
    case LongPollOutcome::timed_out:
      return "timed_out";
    case LongPollOutcome::abandoned:
      return "abandoned";
    case LongPollOutcome::shutdown:
      return "shutdown";
    case LongPollOutcome::failed:
      return "failed";
  }
  return "unknown";
}

void HistogramCounts::add(const HistogramCounts& other) {
  for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += other.buckets[i];
  count += other.count;
  sum_ns += other.sum_ns;
}

HistogramCounts HistogramCounts::since(const HistogramCounts& earlier) const {
  HistogramCounts delta;
  for (std::size_t i = 0; i < buckets.size(); ++i) delta.buckets[i] = buckets[i] - earlier.buckets[i];
  delta.count = count - earlier.count;
  delta.sum_ns = sum_ns - earlier.sum_ns;
  return delta;
}

std::optional<double> HistogramCounts::quantile(double q) const {
  std::uint64_t total = 0;
  for (auto n : buckets) total += n;
  if (total == 0) return std::nullopt;
  const double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(total);
  std::uint64_t below = 0;
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    if (buckets[i] == 0 || static_cast<double>(below + buckets[i]) < rank) {
      below += buckets[i];
      continue;
    }
    if (i == latency_bounds_ns.size()) break;  // in +Inf: the last finite bound is all that is known
    const double lower = i == 0 ? 0.0 : static_cast<double>(latency_bounds_ns[i - 1]);
    const double upper = static_cast<double>(latency_bounds_ns[i]);
    const double fraction = (rank - static_cast<double>(below)) / static_cast<double>(buckets[i]);
    return (lower + (upper - lower) * fraction) / 1e9;
  }
  return static_cast<double>(latency_bounds_ns.back()) / 1e9;
}

void LatencyHistogram::observe(std::chrono::nanoseconds latency, std::uint64_t n) {
  const std::int64_t ns = std::max<std::int64_t>(latency.count(), 0);
  // Few bounds, most latencies in the first ones: a linear walk beats a binary search here.
  std::size_t bucket = 0;
  while (bucket < latency_bounds_ns.size() && ns > latency_bounds_ns[bucket]) ++bucket;
  buckets_[bucket].add(n);
  count_.add(n);
  sum_ns_.add(static_cast<std::uint64_t>(ns) * n);
}

HistogramCounts LatencyHistogram::read() const {
  HistogramCounts counts;
  for (std::size_t i = 0; i < buckets_.size(); ++i) counts.buckets[i] = buckets_[i].get();
  counts.count = count_.get();
  counts.sum_ns = sum_ns_.get();
  return counts;
}

void MetricsSnapshot::add_loop(const LoopMetrics& loop) {
  for (std::size_t i = 0; i < transport_count; ++i) delivered[i] += loop.delivered[i].get();
  for (std::size_t i = 0; i < drop_reason_count; ++i) dropped[i] += loop.dropped[i].get();
  for (std::size_t i = 0; i < wire_count; ++i) sent_bytes[i] += loop.sent_bytes[i].get();
  for (std::size_t i = 0; i < long_poll_outcome_count; ++i) long_polls[i] += loop.long_polls[i].get();
  interval_polls += loop.interval_polls.get();
  latency.add(loop.latency.read());
}

std::string render_prometheus(const MetricsSnapshot& s) {
  Exposition out;
  out.family("herald_connections", "gauge",
             "Streaming connections open (WebSocket, SSE) and long polls held, by transport.");
  out.by_label("herald_connections", "transport", s.connections, transport_at);
  out.family("herald_tcp_connections", "gauge",
             "Admitted TCP connections open: every HTTP, SSE and WebSocket connection, idle keep-alive included.");
  out.sample("herald_tcp_connections", "", s.open_connections);
  out.family("herald_connections_refused_total", "counter",
             "Connections closed at once because of limits.max_connections or limits.max_connections_per_ip.");
  out.labelled("herald_connections_refused_total", "reason", s.connections_refused);
  out.family("herald_subscriptions", "gauge", "Channel subscriptions on this node, by transport.");
  out.by_label("herald_subscriptions", "transport", s.subscriptions, transport_at);
  out.family("herald_channels", "gauge", "Channels with at least one subscriber on this node.");
  out.sample("herald_channels", "", s.channels);

  out.family("herald_messages_published_total", "counter",
             "Messages published through this node and accepted by the broker (HTTP, /ws and login events).");
  out.sample("herald_messages_published_total", "", s.published);
  out.family("herald_messages_delivered_total", "counter",
             "Live messages handed to a subscriber's connection, by transport (history reads not included).");
  out.by_label("herald_messages_delivered_total", "transport", s.delivered, transport_at);
  out.family("herald_messages_dropped_total", "counter",
             "Live messages a subscriber did not get: its write queue was full (it is then disconnected and "
             "resumes from its cursor), or its connection was closing.");
  out.by_label("herald_messages_dropped_total", "reason", s.dropped,
               [](std::size_t i) { return drop_reason_name(static_cast<DropReason>(i)); });
  out.family("herald_sent_bytes_total", "counter",
             "Bytes written to clients: plain HTTP answers (polls, publishes, pages), SSE streams, WebSocket "
             "message payloads.");
  out.by_label("herald_sent_bytes_total", "transport", s.sent_bytes,
               [](std::size_t i) { return wire_name(static_cast<Wire>(i)); });

  out.family("herald_long_polls_held", "gauge", "Long polls waiting for a message.");
  out.sample("herald_long_polls_held", "", s.connections[static_cast<std::size_t>(Transport::longpoll)]);
  out.family("herald_long_polls_total", "counter",
             "Long polls ended: answered with messages, timed out (204), abandoned by the client, ended by "
             "shutdown, or failed (broker unavailable).");
  out.by_label("herald_long_polls_total", "outcome", s.long_polls,
               [](std::size_t i) { return long_poll_outcome_name(static_cast<LongPollOutcome>(i)); });
  out.family("herald_interval_polls_total", "counter", "Interval polls answered.");
  out.sample("herald_interval_polls_total", "", s.interval_polls);

  out.family("herald_delivery_latency_seconds", "histogram",
             "From when this node had a message (published here, or received from Redis) to when a "
             "subscriber's connection took it.");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < latency_bucket_count; ++i) {
    cumulative += s.latency.buckets[i];
    out.sample("herald_delivery_latency_seconds_bucket", "le=\"" + std::string(latency_labels[i]) + '"', cumulative);
  }
  out.sample("herald_delivery_latency_seconds_sum", "", number(static_cast<double>(s.latency.sum_ns) / 1e9));
  out.sample("herald_delivery_latency_seconds_count", "", s.latency.count);

  if (s.login_enabled) {
    out.family("herald_login_requests_started_total", "counter", "Cross-device login requests started, by flow.");
    out.labelled("herald_login_requests_started_total", "flow", s.login_started);
    out.family("herald_login_requests_total", "counter",
               "Cross-device login requests by outcome: approved, denied, consumed (redeemed by the waiting "
               "screen or device), expired, cancelled.");
    out.labelled("herald_login_requests_total", "outcome", s.login_outcomes);
  }

  out.family("herald_broker_up", "gauge", "1 when the broker can reach its store (always 1 for memory), else 0.");
  out.sample("herald_broker_up", "broker=\"" + s.broker + '"', s.broker_up ? 1 : 0);
  return out.take();
}

std::string render_dashboard(const MetricsSnapshot& now, const MetricsSnapshot& before, std::int64_t unix_ms) {
  const double seconds =
      std::max(std::chrono::duration<double>(now.at - before.at).count(), 1e-3);  // never divide by zero
  auto per_second = [seconds](std::uint64_t later, std::uint64_t earlier) {
    return rate(static_cast<double>(later - earlier) / seconds);
  };
  auto by_transport = [](const auto& values, auto format) {
    std::string out = "{";
    for (std::size_t i = 0; i < transport_count; ++i) {
      if (i > 0) out += ',';
      out += '"';
      out += transport_at(i);
      out += "\":";
      out += format(i, values[i]);
    }
    return out + '}';
  };
  auto count = [](std::size_t, std::uint64_t value) { return std::to_string(value); };

  std::string out = R"({"time":)" + std::to_string(unix_ms) + R"(,"interval_s":)" + rate(seconds);
  out += R"(,"connections":)" + by_transport(now.connections, count);
  out += R"(,"tcp":)" + std::to_string(now.open_connections);
  out += R"(,"subscriptions":)" + by_transport(now.subscriptions, count);
  out += R"(,"channels":)" + std::to_string(now.channels);
  out += R"(,"per_s":{"published":)" + per_second(now.published, before.published);
  out += R"(,"delivered":)" + per_second(sum(now.delivered), sum(before.delivered));
  out += R"(,"dropped":)" + per_second(sum(now.dropped), sum(before.dropped));
  out += R"(,"sent_bytes":)" + per_second(sum(now.sent_bytes), sum(before.sent_bytes));
  out += R"(,"interval_polls":)" + per_second(now.interval_polls, before.interval_polls);
  out += R"(,"delivered_by_transport":)" + by_transport(now.delivered, [&](std::size_t i, std::uint64_t value) {
           return per_second(value, before.delivered[i]);
         });
  out += R"(},"totals":{"published":)" + std::to_string(now.published);
  out += R"(,"delivered":)" + std::to_string(sum(now.delivered));
  out += R"(,"dropped":)" + std::to_string(sum(now.dropped));
  const HistogramCounts latency = now.latency.since(before.latency);
  out += R"(},"latency_ms":{)";
  const std::array<std::pair<const char*, double>, 3> quantiles = {{{"p50", 0.5}, {"p90", 0.9}, {"p99", 0.99}}};
  for (std::size_t i = 0; i < quantiles.size(); ++i) {
    if (i > 0) out += ',';
    auto value = latency.quantile(quantiles[i].second);
    out += '"';
    out += quantiles[i].first;
    out += "\":";
    out += value ? rate(*value * 1000) : "null";
  }
  out += R"(},"busiest":[)";
  for (std::size_t i = 0; i < now.busiest.size(); ++i) {
    const ChannelActivity& channel = now.busiest[i];
    if (i > 0) out += ',';
    out += R"({"channel":)" + boost::json::serialize(boost::json::string_view(channel.channel));
    out += R"(,"per_s":)" + rate(static_cast<double>(channel.deliveries) / seconds);
    out += R"(,"subscribers":)" + std::to_string(channel.subscribers) + '}';
  }
  out += R"(],"broker":{"name":)" + boost::json::serialize(boost::json::string_view(now.broker));
  out += std::string(R"(,"up":)") + (now.broker_up ? "true" : "false") + "}}";
  return out;
}

}  // namespace herald
