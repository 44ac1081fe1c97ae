#pragma once
// Reading hiredis replies, and handing answers back to the calling loop: shared by the Redis broker's
// connection (redis_connection.cpp), history (redis_broker.cpp) and presence (redis_presence.cpp) parts.
#include <hiredis/hiredis.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <charconv>
#include <functional>
#include <string>
#include <string_view>

#include "broker/broker.hpp"
#include "runtime/calling_loop.hpp"

namespace herald::redis_reply {

namespace asio = boost::asio;

inline Error unavailable() {
  return broker_unavailable("Redis is unreachable; publishing and new subscriptions fail until it returns.");
}

// Wraps `done` so it runs on the event loop that is calling now (broker.hpp, point 6).
template <typename Outcome>
std::function<void(Outcome)> on_calling_loop(std::function<void(Outcome)> done) {
  asio::io_context* loop = calling_loop();
  if (loop == nullptr) return done;
  return [loop, done = std::move(done)](Outcome outcome) {
    asio::post(*loop, [done, outcome = std::move(outcome)]() mutable { done(std::move(outcome)); });
  };
}

inline std::string_view text(const redisReply* reply) {
  if (reply == nullptr ||
      (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS && reply->type != REDIS_REPLY_ERROR)) {
    return {};
  }
  return {reply->str, reply->len};
}

inline std::uint64_t number(const redisReply* reply) {
  if (reply != nullptr && reply->type == REDIS_REPLY_INTEGER) return static_cast<std::uint64_t>(reply->integer);
  auto value = text(reply);
  std::uint64_t out = 0;
  std::from_chars(value.data(), value.data() + value.size(), out);
  return out;
}

inline bool is_error(const redisReply* reply) { return reply == nullptr || reply->type == REDIS_REPLY_ERROR; }

inline Error failure(const redisReply* reply) {
  if (reply == nullptr) return unavailable();
  return broker_unavailable("Redis refused the command: " + std::string(text(reply)));
}

}  // namespace herald::redis_reply
