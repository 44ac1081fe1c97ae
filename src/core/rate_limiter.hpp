#pragma once
// Token buckets keyed by who is asking ("ip:203.0.113.7", "account:alice"): `count` requests per
// `window`, in bursts of at most `count`. Thread-safe with one mutex: used on the login routes and, when a
// publish rate is configured, on publish — never on the fan-out path. Idle buckets are forgotten by sweep().
#include <chrono>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>

namespace herald {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RateLimiter(unsigned count, std::chrono::seconds window = std::chrono::seconds(60))
      : count_(count), window_seconds_(static_cast<double>(window.count())) {}

  // Takes one token for `key`. nullopt: allowed. Otherwise: whole seconds to wait (for Retry-After).
  std::optional<unsigned> take(const std::string& key, Clock::time_point now = Clock::now());
  // Takes one token from each key, or none when any is empty (the longest wait is returned).
  std::optional<unsigned> take_all(std::span<const std::string> keys, Clock::time_point now = Clock::now());
  // Drops buckets that have refilled completely (they hold no information).
  void sweep(Clock::time_point now = Clock::now());

 private:
  struct Bucket {
    double tokens;
    Clock::time_point updated;
  };
  Bucket& refill(const std::string& key, Clock::time_point now);

  unsigned count_;
  double window_seconds_;
  std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace herald
