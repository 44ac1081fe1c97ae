#pragma once
// herald-bench's subscribers, and the state a run shares between its loops, its subscribers, its publisher
// and its phases: one event loop per thread, each driving thousands of subscriber coroutines over the
// transport under test (WebSocket, SSE, long or interval polls), counting and timing every delivery.
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "proc_stats.hpp"
#include "run.hpp"
#include "runtime/beast.hpp"
#include "tracking.hpp"

namespace herald::bench {

using Clock = std::chrono::steady_clock;

// Wall-clock microseconds: the payloads' send stamps and their receive times, compared across threads.
inline int64_t now_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Endpoint {
  std::string host;
  std::string port;
};
Endpoint parse_url(const std::string& url);

// Counters shared by every loop; plain relaxed atomics, read by the main thread for progress and drain.
struct Shared {
  std::atomic<bool> measuring{false};
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> delivered{0};  // first deliveries (not duplicates)
  std::atomic<int64_t> last_delivery_us{0};
  std::atomic<int> ready{0};
  std::atomic<int> failed{0};
  std::atomic<uint64_t> requests{0};
  std::mutex error_mutex;
  std::string first_error;
  void error(const std::string& what) {
    std::lock_guard lock(error_mutex);
    if (first_error.empty()) first_error = what;
  }
};

struct Loop;
struct Subscriber {
  int index = 0;
  int channel = 0;
  Loop* loop = nullptr;
  SequenceTracker sequence;
  std::atomic<int> fd{-1};
  SocketBytes closed_bytes;  // bytes of connections already closed (a poller that had to reconnect)
  bool ready = false;
  // login-storm: the screen's login request, its cookie, and when its approval was sent.
  std::string login_id;
  std::string cookie;
  std::atomic<int64_t> approved_at_us{0};
};

struct Loop {
  asio::io_context io{1};
  LatencyHistogram latency;
  int connecting = 0;
};

struct Context {
  Options options;
  Endpoint endpoint;
  tcp::endpoint server;
  Shared shared;
  std::string prefix;
  std::string channel(int n) const { return prefix + "-" + std::to_string(n); }
};

// The Host header for every request to the server under test.
std::string host_header(const Context& context);

// Opens this loop's subscribers, at most `connect_concurrency` handshakes at a time; each then listens
// until the run stops its loop, or fails (counted in `shared.failed`, the first error kept).
asio::awaitable<void> open_all(Context& context, Loop& loop, std::vector<Subscriber*> subs);

}  // namespace herald::bench
