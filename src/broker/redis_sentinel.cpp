#include "broker/redis_sentinel.hpp"

#include <hiredis/hiredis.h>

#include <memory>

namespace herald {

std::optional<RedisAddress> find_primary(const RedisOptions& options, std::string& error) {
  auto seconds = options.connect_timeout.count() / 1000;
  timeval timeout{static_cast<time_t>(seconds),
                  static_cast<suseconds_t>((options.connect_timeout.count() % 1000) * 1000)};
  error = "no sentinel configured";
  for (const auto& sentinel : options.sentinels) {
    std::unique_ptr<redisContext, void (*)(redisContext*)> context(
        redisConnectWithTimeout(sentinel.host.c_str(), sentinel.port, timeout), redisFree);
    if (!context || context->err != 0) {
      error = "sentinel " + sentinel.text() + ": " + (context ? context->errstr : "out of memory");
      continue;
    }
    redisSetTimeout(context.get(), timeout);
    auto* raw = static_cast<redisReply*>(
        redisCommand(context.get(), "SENTINEL get-master-addr-by-name %s", options.master_name.c_str()));
    std::unique_ptr<redisReply, void (*)(void*)> reply(raw, freeReplyObject);
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
      error = "sentinel " + sentinel.text() + " does not know a primary named '" + options.master_name + "'";
      continue;
    }
    try {
      std::string port(reply->element[1]->str, reply->element[1]->len);
      return parse_redis_address(std::string(reply->element[0]->str, reply->element[0]->len) + ":" + port, 6379,
                                 "sentinel");
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  return std::nullopt;
}

}  // namespace herald
