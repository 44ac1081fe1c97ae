#pragma once
// Where the Redis broker connects and how it names its keys.
#include <chrono>
#include <cstdint>
#include <string>

namespace herald {

struct RedisOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  unsigned db = 0;
  std::string username;  // an ACL user (Redis 6+); empty: the default user
  std::string password;  // empty: no AUTH
  std::string key_prefix = "herald:";
  std::chrono::milliseconds connect_timeout{2000};
};

// Reads redis://[[user][:password]@]host[:port][/db] (percent-escapes allowed in user and password).
// Throws std::runtime_error saying what is wrong; rediss:// (TLS) is refused: not supported yet.
RedisOptions parse_redis_url(const std::string& url);

}  // namespace herald
