#pragma once
// What herald-bench counts, kept free of Asio so the unit tests check it directly: which sequence numbers
// each subscriber saw (lost / duplicated / out of order), and the publish-to-delivery latency histogram.
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

namespace herald::bench {

// Publish-to-delivery latencies in microseconds, in log-linear buckets: 64 linear sub-buckets per power of
// two, so a percentile is exact to within 1/64 (1.6 %) and merging per-thread histograms is an add.
class LatencyHistogram {
 public:
  void record(int64_t micros);
  void merge(const LatencyHistogram& other);
  uint64_t count() const { return count_; }
  int64_t max() const { return max_; }
  // The value at or below which `fraction` (0..1) of the recorded values lie; 0 when nothing was recorded.
  int64_t percentile(double fraction) const;

 private:
  static constexpr int kSubBits = 6;
  static constexpr int kSub = 1 << kSubBits;
  static size_t bucket_of(uint64_t value);
  static uint64_t upper_of(size_t bucket);
  std::vector<uint64_t> buckets_ = std::vector<uint64_t>(size_t{64} * kSub, 0);
  uint64_t count_ = 0;
  int64_t max_ = 0;
};

// One subscriber's view of one channel: a bit per sequence number seen. A number seen twice is a
// duplicate; a new number below the highest seen so far arrived out of order; what was published but
// never seen is lost.
class SequenceTracker {
 public:
  enum class Outcome { kFirst, kDuplicate, kOutOfOrder };
  Outcome on_delivery(uint64_t seq);
  uint64_t received() const { return received_; }  // distinct sequence numbers
  uint64_t duplicates() const { return duplicates_; }
  uint64_t out_of_order() const { return out_of_order_; }
  // How many of 0 .. published-1 never arrived.
  uint64_t lost(uint64_t published) const;

 private:
  std::vector<uint64_t> seen_;
  uint64_t received_ = 0;
  uint64_t duplicates_ = 0;
  uint64_t out_of_order_ = 0;
  int64_t highest_ = -1;
};

// Totals over every subscriber of a run.
struct DeliveryCounts {
  uint64_t expected = 0;
  uint64_t received = 0;  // distinct
  uint64_t lost = 0;
  uint64_t duplicated = 0;
  uint64_t out_of_order = 0;
  void add(const SequenceTracker& tracker, uint64_t published);
};

// Finds every bench payload in a chunk of what a server sent: `"seq":N` followed by `"t":MICROS`, in
// whatever wrapping the transport adds (a herald envelope, a poll batch, an SSE data line, a Socket.IO
// event, or the bare payload). Returns how many were found.
size_t scan_payloads(std::string_view text, const std::function<void(uint64_t seq, int64_t sent_micros)>& found);

// The bench payload for `seq` sent at `sent_micros`, padded with `pad` bytes of filler.
std::string make_payload(uint64_t seq, int64_t sent_micros, size_t pad, bool words = false);

// The subscriber count in a channel-info answer: herald's `"subscribers":{"websocket":n,"sse":n,...}`
// (summed), or Nchan's and the Node peers' `"subscribers": n`. -1 when there is none.
int64_t parse_subscriber_count(std::string_view body);

}  // namespace herald::bench
