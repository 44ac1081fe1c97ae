#include "core/rate_limiter.hpp"

#include <cmath>
#include <vector>

namespace herald {

RateLimiter::Bucket& RateLimiter::refill(const std::string& key, Clock::time_point now) {
  const double capacity = count_;
  auto [it, created] = buckets_.try_emplace(key, Bucket{capacity, now});
  Bucket& bucket = it->second;
  if (!created) {
    double seconds = std::chrono::duration<double>(now - bucket.updated).count();
    bucket.tokens = std::min(capacity, bucket.tokens + seconds * capacity / window_seconds_);
    bucket.updated = now;
  }
  return bucket;
}

std::optional<unsigned> RateLimiter::take(const std::string& key, Clock::time_point now) {
  return take_all(std::span(&key, 1), now);
}

std::optional<unsigned> RateLimiter::take_all(std::span<const std::string> keys, Clock::time_point now) {
  if (count_ == 0) return static_cast<unsigned>(window_seconds_);  // a limit of zero refuses everything
  std::lock_guard lock(mutex_);
  std::vector<Bucket*> buckets;
  double longest_wait = 0;
  for (const auto& key : keys) {
    Bucket& bucket = refill(key, now);
    if (bucket.tokens < 1.0) longest_wait = std::max(longest_wait, (1.0 - bucket.tokens) * window_seconds_ / count_);
    buckets.push_back(&bucket);
  }
  if (longest_wait > 0) return static_cast<unsigned>(std::ceil(longest_wait));
  for (Bucket* bucket : buckets) bucket->tokens -= 1.0;
  return std::nullopt;
}

void RateLimiter::sweep(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  std::erase_if(buckets_, [&](auto& entry) {
    double seconds = std::chrono::duration<double>(now - entry.second.updated).count();
    return entry.second.tokens + seconds * count_ / window_seconds_ >= count_;
  });
}

}  // namespace herald
