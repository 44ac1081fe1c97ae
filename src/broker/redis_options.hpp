#pragma once
// Where the Redis broker connects and how it names its keys.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace herald {

struct RedisAddress {
  std::string host;
  std::uint16_t port = 6379;
  std::string text() const { return host + ":" + std::to_string(port); }
};

// Where Redis is: one primary at host:port (the URL), a Redis Cluster found from seed nodes, or the
// primary Sentinel names. The URL's user, password and db apply to every node.
struct RedisOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  unsigned db = 0;
  std::string username;  // an ACL user (Redis 6+); empty: the default user
  std::string password;  // empty: no AUTH
  std::string key_prefix = "herald:";
  std::chrono::milliseconds connect_timeout{2000};
  std::vector<RedisAddress> cluster;    // seed nodes: not empty means Redis Cluster (host and port unused)
  std::vector<RedisAddress> sentinels;  // not empty: ask these for the primary named master_name
  std::string master_name;
  bool clustered() const { return !cluster.empty(); }
  bool follows_failover() const { return clustered() || !sentinels.empty(); }
};

// Reads "host:port" or "[v6]:port" (the port defaults to `default_port`). Throws std::runtime_error
// naming `what`.
RedisAddress parse_redis_address(const std::string& text, std::uint16_t default_port, const std::string& what);

// Reads redis://[[user][:password]@]host[:port][/db] (percent-escapes allowed in user and password).
// Throws std::runtime_error saying what is wrong; rediss:// (TLS) is refused: not supported yet.
RedisOptions parse_redis_url(const std::string& url);

}  // namespace herald
