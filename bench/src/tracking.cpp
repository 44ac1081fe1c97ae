#include "tracking.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <charconv>
#include <string>
#include <string_view>

namespace herald::bench {

size_t LatencyHistogram::bucket_of(uint64_t value) {
  if (value < kSub) return value;
  const int exponent = static_cast<int>(std::bit_width(value)) - 1;  // >= kSubBits
  const int shift = exponent - kSubBits;
  const uint64_t sub = (value >> shift) - kSub;  // 0 .. kSub-1
  return static_cast<size_t>(shift + 1) * kSub + sub;
}

uint64_t LatencyHistogram::upper_of(size_t bucket) {
  if (bucket < kSub) return bucket;
  const size_t shift = bucket / kSub - 1;
  const uint64_t sub = bucket % kSub;
  return ((sub + kSub + 1) << shift) - 1;
}

void LatencyHistogram::record(int64_t micros) {
  // A clock step could make a latency negative; it counts as zero rather than corrupting a bucket.
  const uint64_t value = micros < 0 ? 0 : static_cast<uint64_t>(micros);
  buckets_[std::min(bucket_of(value), buckets_.size() - 1)]++;
  count_++;
  max_ = std::max<int64_t>(max_, static_cast<int64_t>(value));
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < buckets_.size(); i++) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

int64_t LatencyHistogram::percentile(double fraction) const {
  if (count_ == 0) return 0;
  const auto rank = static_cast<uint64_t>(std::max(1.0, fraction * static_cast<double>(count_) + 0.5));
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets_.size(); i++) {
    seen += buckets_[i];
    if (seen >= rank) return std::min<int64_t>(static_cast<int64_t>(upper_of(i)), max_);
  }
  return max_;
}

SequenceTracker::Outcome SequenceTracker::on_delivery(uint64_t seq) {
  const size_t word = seq / 64;
  const uint64_t bit = uint64_t{1} << (seq % 64);
  if (word >= seen_.size()) seen_.resize(std::max(word + 1, seen_.size() * 2), 0);
  if (seen_[word] & bit) {
    duplicates_++;
    return Outcome::kDuplicate;
  }
  seen_[word] |= bit;
  received_++;
  if (static_cast<int64_t>(seq) < highest_) {
    out_of_order_++;
    return Outcome::kOutOfOrder;
  }
  highest_ = static_cast<int64_t>(seq);
  return Outcome::kFirst;
}

uint64_t SequenceTracker::lost(uint64_t published) const {
  uint64_t seen_in_range = 0;
  for (uint64_t seq = 0; seq < published; seq++) {
    const size_t word = seq / 64;
    if (word < seen_.size() && (seen_[word] >> (seq % 64) & 1)) seen_in_range++;
  }
  return published - seen_in_range;
}

void DeliveryCounts::add(const SequenceTracker& tracker, uint64_t published) {
  expected += published;
  received += tracker.received();
  lost += tracker.lost(published);
  duplicated += tracker.duplicates();
  out_of_order += tracker.out_of_order();
}

namespace {
// Reads the unsigned integer that follows `key` in `text` from `from`; npos when the key is absent.
size_t find_number(std::string_view text, std::string_view key, size_t from, int64_t& value) {
  const size_t at = text.find(key, from);
  if (at == std::string_view::npos) return at;
  const char* begin = text.data() + at + key.size();
  while (begin < text.data() + text.size() && *begin == ' ') begin++;
  const auto [end, ec] = std::from_chars(begin, text.data() + text.size(), value);
  if (ec != std::errc()) return std::string_view::npos;
  return static_cast<size_t>(end - text.data());
}
}  // namespace

size_t scan_payloads(std::string_view text, const std::function<void(uint64_t, int64_t)>& found) {
  size_t count = 0;
  size_t at = 0;
  for (;;) {
    int64_t seq = 0;
    int64_t sent = 0;
    at = find_number(text, "\"seq\":", at, seq);
    if (at == std::string_view::npos) return count;
    at = find_number(text, "\"t\":", at, sent);
    if (at == std::string_view::npos) return count;
    if (seq >= 0) {
      found(static_cast<uint64_t>(seq), sent);
      count++;
    }
  }
}

std::string make_payload(uint64_t seq, int64_t sent_micros, size_t pad, bool words) {
  std::string payload = "{\"seq\":" + std::to_string(seq) + ",\"t\":" + std::to_string(sent_micros);
  if (pad > 0 && !words) payload += ",\"pad\":\"" + std::string(pad, 'x') + "\"";
  if (pad > 0 && words) {
    // Words drawn from a small vocabulary by a generator seeded with `seq`: repetition the way text and
    // JSON repeat themselves, so deflate finds about what it finds in real messages.
    static constexpr std::array<std::string_view, 16> vocabulary = {
        "order", "status", "shipped", "customer", "price",    "amount", "the",      "of",
        "and",   "update", "item",    "total",    "currency", "EUR",    "delivery", "address"};
    std::string filler;
    uint64_t state = seq * 6364136223846793005ULL + 1442695040888963407ULL;
    while (filler.size() < pad) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      filler += vocabulary[(state >> 33U) % vocabulary.size()];
      filler += (state >> 40U) % 7 == 0 ? std::to_string(state % 10000) + " " : " ";
    }
    filler.resize(pad);
    payload += ",\"pad\":\"" + filler + "\"";
  }
  payload += "}";
  return payload;
}

int64_t parse_subscriber_count(std::string_view body) {
  const size_t at = body.find("\"subscribers\"");
  if (at == std::string_view::npos) return -1;
  size_t i = body.find(':', at);
  if (i == std::string_view::npos) return -1;
  i++;
  while (i < body.size() && body[i] == ' ') i++;
  const bool object = i < body.size() && body[i] == '{';
  const size_t end = object ? body.find('}', i) : body.size();
  int64_t total = 0;
  bool any = false;
  while (i < end && i < body.size()) {
    if (body[i] >= '0' && body[i] <= '9') {
      int64_t value = 0;
      const auto [next, ec] = std::from_chars(body.data() + i, body.data() + end, value);
      if (ec != std::errc()) return -1;
      total += value;
      any = true;
      if (!object) break;
      i = static_cast<size_t>(next - body.data());
    } else {
      if (!object && body[i] != ' ') return -1;
      i++;
    }
  }
  return any ? total : -1;
}

}  // namespace herald::bench
