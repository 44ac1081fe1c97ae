#pragma once
// The paced drain: on SIGTERM every streaming client is told, in its transport's own way, when to come
// back (SSE `retry:`, a WebSocket close reason, Retry-After on a held long poll). Each gets its own delay,
// drawn evenly over limits.drain_window_seconds, so a restart does not bring them all back in the same
// second; each resumes from its cursor, so nothing is lost however long it waits.
#include <random>

#include "config/config.hpp"

namespace herald {

// A delay in [0, the drain window], in milliseconds. Event loops call it from their own threads.
inline unsigned come_back_in_ms(const Limits& limits) {
  thread_local std::minstd_rand random{std::random_device{}()};
  std::uniform_int_distribution<unsigned> spread(0, limits.drain_window_seconds * 1000);
  return spread(random);
}

}  // namespace herald
