#include "core/metrics.hpp"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>
#include <set>
#include <sstream>

#include "core/hub.hpp"
#include "core/subscriber_counts.hpp"

namespace herald {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

// A subscriber that answers every delivery with a chosen outcome, as a transport would.
class FixedSubscriber : public Subscriber {
 public:
  FixedSubscriber(Transport transport, Delivery answer) : transport_(transport), answer_(answer) {}
  Delivery deliver(const MessagePtr&) override { return answer_; }
  void close(CloseReason) override {}
  Transport transport() const override { return transport_; }

 private:
  Transport transport_;
  Delivery answer_;
};

MessagePtr message(const std::string& channel, std::uint64_t seq) {
  return std::make_shared<const Message>(channel, Cursor{1, seq}, 0, "", "x", false);
}

std::size_t index(Transport transport) { return static_cast<std::size_t>(transport); }

TEST(LatencyHistogram, BucketUpperBoundsAreInclusive) {
  LatencyHistogram histogram;
  histogram.observe(microseconds(100));        // exactly the first bound: le="0.0001"
  histogram.observe(microseconds(101));        // just past it: the next bucket
  histogram.observe(milliseconds(20'000), 3);  // past the last bound: +Inf, three deliveries
  HistogramCounts counts = histogram.read();
  EXPECT_EQ(counts.buckets[0], 1U);
  EXPECT_EQ(counts.buckets[1], 1U);
  EXPECT_EQ(counts.buckets[latency_bucket_count - 1], 3U);
  EXPECT_EQ(counts.count, 5U);
  EXPECT_EQ(counts.sum_ns, 100'000U + 101'000U + 3U * 20'000'000'000U);
}

TEST(HistogramCounts, QuantilesInterpolateInsideTheirBucketLikePrometheus) {
  HistogramCounts counts;
  EXPECT_FALSE(counts.quantile(0.5).has_value());  // nothing observed: no answer, not zero
  counts.buckets[3] = 100;                         // (0.0005, 0.001]
  EXPECT_NEAR(*counts.quantile(0.5), 0.00075, 1e-12);
  EXPECT_NEAR(*counts.quantile(0.99), 0.0005 + 0.0005 * 0.99, 1e-12);
  counts.buckets[latency_bucket_count - 1] = 10000;  // most in +Inf: only the last bound is known
  EXPECT_DOUBLE_EQ(*counts.quantile(0.99), 10.0);
}

TEST(HistogramCounts, SinceIsWhatHappenedInBetween) {
  LatencyHistogram histogram;
  histogram.observe(milliseconds(1));
  HistogramCounts before = histogram.read();
  histogram.observe(milliseconds(200), 4);
  HistogramCounts delta = histogram.read().since(before);
  EXPECT_EQ(delta.count, 4U);
  EXPECT_EQ(delta.buckets[3], 0U);   // the 1 ms before is not in the delta
  EXPECT_EQ(delta.buckets[10], 4U);  // (0.1, 0.25]
  EXPECT_NEAR(*delta.quantile(0.5), 0.175, 1e-9);
}

TEST(Hub, CountsDeliveriesByTransportDropsByReasonAndOneLatencyObservationPerSubscriber) {
  SubscriberCounts counts;
  Hub hub(counts);
  FixedSubscriber ws(Transport::websocket, Delivery::sent), sse(Transport::sse, Delivery::sent),
      poll(Transport::longpoll, Delivery::sent), seen(Transport::sse, Delivery::skipped),
      slow(Transport::websocket, Delivery::overflowed), closing(Transport::sse, Delivery::dropped);
  for (Subscriber* s : std::initializer_list<Subscriber*>{&ws, &sse, &poll, &seen, &slow, &closing}) {
    hub.subscribe("news", s);
  }
  EXPECT_EQ(hub.dispatch(message("news", 1)), 3U);
  EXPECT_EQ(hub.dispatch(message("news", 2)), 3U);
  const LoopMetrics& m = hub.metrics();
  EXPECT_EQ(m.delivered[index(Transport::websocket)].get(), 2U);
  EXPECT_EQ(m.delivered[index(Transport::sse)].get(), 2U);
  EXPECT_EQ(m.delivered[index(Transport::longpoll)].get(), 2U);
  EXPECT_EQ(m.dropped[static_cast<std::size_t>(DropReason::slow_consumer)].get(), 2U);
  EXPECT_EQ(m.dropped[static_cast<std::size_t>(DropReason::closing)].get(), 2U);
  EXPECT_EQ(m.latency.read().count, 6U);  // a latency per delivery, skipped and dropped ones not
  EXPECT_EQ(counts.find("news")->delivered.load(), 6U);
}

TEST(Hub, CountsAttachedConnectionsByTransport) {
  SubscriberCounts counts;
  Hub hub(counts);
  FixedSubscriber a(Transport::websocket, Delivery::sent), b(Transport::longpoll, Delivery::sent);
  hub.attach(&a);
  hub.attach(&b);
  hub.attach(&b);  // attaching twice counts once
  EXPECT_EQ(hub.open_connections(Transport::websocket), 1U);
  EXPECT_EQ(hub.open_connections(Transport::longpoll), 1U);
  EXPECT_EQ(hub.open_connections(Transport::sse), 0U);
  hub.detach(&b);
  hub.detach(&b);
  EXPECT_EQ(hub.open_connections(Transport::longpoll), 0U);
  EXPECT_EQ(hub.open_connections(), 1U);
}

TEST(SubscriberCounts, SummaryKeepsOnlyTheBusiestAndStartsANewIntervalEachTime) {
  SubscriberCounts counts;
  Hub hub(counts);
  std::vector<std::unique_ptr<FixedSubscriber>> subscribers;
  for (int c = 0; c < 50; ++c) {
    // Channel c has one subscriber and receives c messages.
    subscribers.push_back(std::make_unique<FixedSubscriber>(Transport::sse, Delivery::sent));
    std::string channel = "ch" + std::to_string(c);
    hub.subscribe(channel, subscribers.back().get());
    for (int i = 1; i <= c; ++i) hub.dispatch(message(channel, static_cast<std::uint64_t>(i)));
  }
  ChannelsSummary first = counts.summarize(5);
  EXPECT_EQ(first.channels, 50U);
  EXPECT_EQ(first.subscriptions[index(Transport::sse)], 50U);
  ASSERT_EQ(first.busiest.size(), 5U);
  EXPECT_EQ(first.busiest[0].channel, "ch49");
  EXPECT_EQ(first.busiest[0].deliveries, 49U);
  EXPECT_EQ(first.busiest[4].channel, "ch45");

  hub.dispatch(message("ch3", 100));
  ChannelsSummary second = counts.summarize(2);
  EXPECT_EQ(second.busiest[0].channel, "ch3");
  EXPECT_EQ(second.busiest[0].deliveries, 1U);  // only what happened since the first summary
  EXPECT_EQ(second.busiest[1].deliveries, 0U);  // the rest tie on deliveries; subscribers decide

  EXPECT_TRUE(counts.summarize().busiest.empty());  // /metrics asks for no list and resets nothing

  // A filter keeps channels out of the list (herald's own), not out of the totals.
  ChannelsSummary filtered = counts.summarize(50, [](const std::string& name) { return name != "ch49"; });
  EXPECT_EQ(filtered.busiest.size(), 49U);
  EXPECT_EQ(filtered.channels, 50U);
}

TEST(SubscriberCounts, KeepsNodeTotalsAsSubscribersOfAnyLoopComeAndGo) {
  SubscriberCounts counts;
  Hub loop_a(counts), loop_b(counts);
  FixedSubscriber ws(Transport::websocket, Delivery::sent), sse(Transport::sse, Delivery::sent),
      other(Transport::sse, Delivery::sent);
  loop_a.subscribe("news", &ws);
  loop_b.subscribe("news", &sse);  // the same channel on another loop: still one channel
  loop_b.subscribe("sport", &other);
  EXPECT_EQ(counts.listened_channels(), 2U);
  EXPECT_EQ(counts.subscriptions(Transport::websocket), 1);
  EXPECT_EQ(counts.subscriptions(Transport::sse), 2);
  loop_a.unsubscribe("news", &ws);
  EXPECT_EQ(counts.listened_channels(), 2U);  // sse still listens to news
  loop_b.unsubscribe("news", &sse);
  loop_b.unsubscribe("sport", &other);
  loop_b.unsubscribe("sport", &other);  // twice: counted once
  EXPECT_EQ(counts.listened_channels(), 0U);
  EXPECT_EQ(counts.subscriptions(Transport::sse), 0);
}

MetricsSnapshot sample_snapshot() {
  MetricsSnapshot s;
  s.connections = {2, 1, 0};
  s.subscriptions = {3, 1, 0};
  s.published = 7;
  s.delivered = {5, 2, 0};
  s.latency.buckets[0] = 4;
  s.latency.buckets[2] = 3;
  s.latency.count = 7;
  s.latency.sum_ns = 1'500'000;
  s.connections_refused = {{"too_many_connections", 0}, {"too_many_from_address", 1}};
  s.login_enabled = true;
  s.login_started = {{"qr", 2}, {"device", 0}};
  s.login_outcomes = {{"approved", 1}};
  s.broker = "redis";
  s.broker_up = false;
  return s;
}

TEST(RenderPrometheus, EveryFamilyHasHelpAndTypeOnceBeforeItsSamples) {
  std::string text = render_prometheus(sample_snapshot());
  std::istringstream lines(text);
  std::string line;
  std::set<std::string> typed;
  std::string current;
  while (std::getline(lines, line)) {
    if (line.starts_with("# HELP ")) continue;
    if (line.starts_with("# TYPE ")) {
      current = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(typed.insert(current).second) << "family typed twice: " << current;
      continue;
    }
    std::string name = line.substr(0, line.find_first_of("{ "));
    EXPECT_TRUE(name.starts_with(current)) << name << " outside its family " << current;
  }
  for (const char* family : {"herald_connections", "herald_subscriptions", "herald_channels",
                             "herald_messages_published_total", "herald_messages_delivered_total",
                             "herald_messages_dropped_total", "herald_sent_bytes_total", "herald_long_polls_total",
                             "herald_delivery_latency_seconds", "herald_login_requests_total", "herald_broker_up"}) {
    EXPECT_TRUE(typed.contains(family)) << family;
  }
}

TEST(RenderPrometheus, WritesCumulativeBucketsAndLabelledSamples) {
  std::string text = render_prometheus(sample_snapshot());
  EXPECT_NE(text.find("herald_connections{transport=\"websocket\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("herald_messages_delivered_total{transport=\"sse\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("herald_delivery_latency_seconds_bucket{le=\"0.0001\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("herald_delivery_latency_seconds_bucket{le=\"0.00025\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("herald_delivery_latency_seconds_bucket{le=\"0.0005\"} 7\n"), std::string::npos);
  EXPECT_NE(text.find("herald_delivery_latency_seconds_bucket{le=\"+Inf\"} 7\n"), std::string::npos);
  EXPECT_NE(text.find("herald_delivery_latency_seconds_sum 0.0015\n"), std::string::npos);
  EXPECT_NE(text.find("herald_delivery_latency_seconds_count 7\n"), std::string::npos);
  EXPECT_NE(text.find("herald_connections_refused_total{reason=\"too_many_from_address\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("herald_login_requests_started_total{flow=\"qr\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("herald_broker_up{broker=\"redis\"} 0\n"), std::string::npos);

  MetricsSnapshot without_login = sample_snapshot();
  without_login.login_enabled = false;
  EXPECT_EQ(render_prometheus(without_login).find("herald_login"), std::string::npos);
}

TEST(RenderDashboard, RatesArePerSecondOfTheIntervalAndPercentilesComeFromTheDelta) {
  MetricsSnapshot before = sample_snapshot();
  MetricsSnapshot now = sample_snapshot();
  now.at = before.at + std::chrono::seconds(2);
  now.published += 10;
  now.delivered[index(Transport::websocket)] += 40;
  now.latency.buckets[3] += 40;  // the 40 new deliveries took (0.5, 1] ms
  now.busiest = {{"news", 30, 12}, {"sport", 10, 3}};
  auto json = boost::json::parse(render_dashboard(now, before, 1234)).as_object();
  EXPECT_EQ(json.at("time").as_int64(), 1234);
  EXPECT_DOUBLE_EQ(json.at("per_s").at("published").to_number<double>(), 5.0);
  EXPECT_DOUBLE_EQ(json.at("per_s").at("delivered").to_number<double>(), 20.0);
  EXPECT_DOUBLE_EQ(json.at("per_s").at("delivered_by_transport").at("websocket").to_number<double>(), 20.0);
  EXPECT_EQ(json.at("connections").at("websocket").as_int64(), 2);
  EXPECT_DOUBLE_EQ(json.at("latency_ms").at("p50").to_number<double>(), 0.75);
  EXPECT_EQ(json.at("busiest").as_array().size(), 2U);
  EXPECT_EQ(json.at("busiest").at(std::size_t{0}).at("channel").as_string(), "news");
  EXPECT_DOUBLE_EQ(json.at("busiest").at(std::size_t{0}).at("per_s").to_number<double>(), 15.0);
  EXPECT_EQ(json.at("broker").at("up").as_bool(), false);

  auto idle = boost::json::parse(render_dashboard(before, before, 0)).as_object();
  EXPECT_TRUE(idle.at("latency_ms").at("p99").is_null());  // nothing delivered: no latency, not zero
}

}  // namespace
}  // namespace herald
