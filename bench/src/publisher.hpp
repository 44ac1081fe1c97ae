#pragma once
// herald-bench's publisher: publishes on a schedule over plain HTTP/1.1 (or, in login-storm, approves the
// screens' logins), and the barrier that holds the first publish until the server counts every subscriber.
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <vector>

#include "subscribers.hpp"

namespace herald::bench {

struct PublishState {
  std::vector<uint64_t> published;  // per channel, accepted by the server
  uint64_t errors = 0;
  int64_t max_behind_us = 0;  // how far the publisher fell behind its schedule
  Clock::time_point start;
};

// One publishing connection: messages worker, worker + publishers, ... of `total`, each due at its place in
// the schedule from `state.start` at `options.rate`; what the server accepts is counted per channel.
asio::awaitable<void> publisher(Context& context, PublishState& state, int worker, uint64_t total,
                                std::vector<Subscriber>& subs);

// Waits until the server counts every subscriber on a sample of channels (all of them up to 50), so no
// publish goes out before the subscriptions it should reach exist. False (the error kept) after `timeout`.
asio::awaitable<bool> barrier(Context& context, std::vector<int> expected, double timeout);

}  // namespace herald::bench
