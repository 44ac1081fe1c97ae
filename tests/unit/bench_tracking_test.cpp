// herald-bench's own correctness: what it reports as lost, duplicated and out of order, and its latency
// percentiles, must be right before any figure it prints can be trusted.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tracking.hpp"

namespace herald::bench {
namespace {

TEST(BenchSequenceTracker, InOrderDeliveriesAreNeitherLostNorRepeated) {
  SequenceTracker tracker;
  for (uint64_t seq = 0; seq < 1000; seq++) EXPECT_EQ(tracker.on_delivery(seq), SequenceTracker::Outcome::kFirst);
  EXPECT_EQ(tracker.received(), 1000u);
  EXPECT_EQ(tracker.lost(1000), 0u);
  EXPECT_EQ(tracker.duplicates(), 0u);
  EXPECT_EQ(tracker.out_of_order(), 0u);
}

TEST(BenchSequenceTracker, CountsLostDuplicatedAndReordered) {
  SequenceTracker tracker;
  // 0 1 3 2 3 5 ; published 0..6 (7 messages): 4 and 6 lost, one duplicate of 3, 2 out of order.
  for (uint64_t seq : {0, 1, 3, 2, 3, 5}) tracker.on_delivery(seq);
  EXPECT_EQ(tracker.received(), 5u);
  EXPECT_EQ(tracker.duplicates(), 1u);
  EXPECT_EQ(tracker.out_of_order(), 1u);
  EXPECT_EQ(tracker.lost(7), 2u);
}

TEST(BenchSequenceTracker, EverythingLostWhenNothingArrives) {
  SequenceTracker tracker;
  EXPECT_EQ(tracker.lost(50), 50u);
  EXPECT_EQ(tracker.lost(0), 0u);
}

TEST(BenchSequenceTracker, LargeSequenceNumbersGrowTheBitmap) {
  SequenceTracker tracker;
  tracker.on_delivery(100000);
  EXPECT_EQ(tracker.on_delivery(100000), SequenceTracker::Outcome::kDuplicate);
  EXPECT_EQ(tracker.on_delivery(5), SequenceTracker::Outcome::kOutOfOrder);
  EXPECT_EQ(tracker.lost(100001), 99999u);
}

TEST(BenchDeliveryCounts, SumsOverSubscribers) {
  SequenceTracker complete, partial;
  for (uint64_t seq = 0; seq < 10; seq++) complete.on_delivery(seq);
  for (uint64_t seq : {0, 0, 9}) partial.on_delivery(seq);
  DeliveryCounts counts;
  counts.add(complete, 10);
  counts.add(partial, 10);
  EXPECT_EQ(counts.expected, 20u);
  EXPECT_EQ(counts.received, 12u);
  EXPECT_EQ(counts.lost, 8u);
  EXPECT_EQ(counts.duplicated, 1u);
  EXPECT_EQ(counts.out_of_order, 0u);
}

TEST(BenchLatencyHistogram, PercentilesWithinOneSixtyFourth) {
  LatencyHistogram histogram;
  for (int64_t v = 1; v <= 100000; v++) histogram.record(v);
  EXPECT_EQ(histogram.count(), 100000u);
  EXPECT_EQ(histogram.max(), 100000);
  for (double p : {0.5, 0.9, 0.99}) {
    const double exact = p * 100000;
    EXPECT_NEAR(static_cast<double>(histogram.percentile(p)), exact, exact / 64 + 1) << p;
  }
  EXPECT_EQ(histogram.percentile(1.0), 100000);
}

TEST(BenchLatencyHistogram, SmallValuesAreExactAndNegativeCountsAsZero) {
  LatencyHistogram histogram;
  histogram.record(-5);
  for (int i = 0; i < 9; i++) histogram.record(7);
  EXPECT_EQ(histogram.percentile(0.05), 0);
  EXPECT_EQ(histogram.percentile(0.5), 7);
  EXPECT_EQ(LatencyHistogram().percentile(0.99), 0);
}

TEST(BenchLatencyHistogram, MergeAddsCounts) {
  LatencyHistogram a, b;
  for (int i = 0; i < 99; i++) a.record(1000);
  b.record(50000);
  a.merge(b);
  EXPECT_EQ(a.count(), 100u);
  EXPECT_EQ(a.max(), 50000);
  EXPECT_NEAR(static_cast<double>(a.percentile(0.5)), 1000, 1000.0 / 64 + 1);
  EXPECT_EQ(a.percentile(1.0), 50000);
}

std::vector<std::pair<uint64_t, int64_t>> scan(std::string_view text) {
  std::vector<std::pair<uint64_t, int64_t>> found;
  scan_payloads(text, [&](uint64_t seq, int64_t sent) { found.emplace_back(seq, sent); });
  return found;
}

TEST(BenchScanPayloads, FindsPayloadsInEveryWrapping) {
  using V = std::vector<std::pair<uint64_t, int64_t>>;
  EXPECT_EQ(scan(make_payload(3, 1700, 0)), (V{{3, 1700}}));
  EXPECT_EQ(scan(make_payload(4, 99, 32)), (V{{4, 99}}));
  // herald's envelope: "time" must not be read as the send time.
  EXPECT_EQ(scan(R"({"channel":"c","id":"k.1","time":5,"data":{"seq":7,"t":123}})"), (V{{7, 123}}));
  // A poll batch holds several.
  EXPECT_EQ(scan(R"({"messages":[{"data":{"seq":1,"t":10}},{"data":{"seq":2,"t":20}}],"more":false})"),
            (V{{1, 10}, {2, 20}}));
  // SSE events and a Socket.IO event.
  EXPECT_EQ(scan("id: k.1\ndata: {\"seq\":8,\"t\":80}\n\nid: k.2\ndata: {\"seq\":9,\"t\":90}"), (V{{8, 80}, {9, 90}}));
  EXPECT_EQ(scan(R"(42["m",{"seq":11,"t":110}])"), (V{{11, 110}}));
  EXPECT_TRUE(scan(": hb\n").empty());
  EXPECT_TRUE(scan(R"({"seq":12)").empty());  // a cut payload is not half-counted
}

TEST(BenchSubscriberCount, ReadsHeraldNchanAndNodePeers) {
  EXPECT_EQ(parse_subscriber_count(
                R"({"channel":"c","last_id":null,"history":0,"subscribers":{"websocket":3,"sse":2,"longpoll":1}})"),
            6);
  EXPECT_EQ(
      parse_subscriber_count("{\"messages\": 0, \"requested\": 1, \"subscribers\": 250, \"last_message_id\": \"\"}"),
      250);
  EXPECT_EQ(parse_subscriber_count(R"({"subscribers":0})"), 0);
  EXPECT_EQ(parse_subscriber_count("not found"), -1);
}

}  // namespace
}  // namespace herald::bench
