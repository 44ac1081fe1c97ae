#pragma once
// Everything `herald serve` can be told, with the defaults documented in docs/config.md.
#include <cstdint>
#include <string>

#include "broker/redis_options.hpp"
#include "core/namespace_settings.hpp"

namespace herald {

struct Limits {
  std::size_t max_payload_bytes = 65536;
  std::size_t max_header_bytes = 8192;
  std::size_t poll_batch_limit = 100;
  unsigned longpoll_max_wait_seconds = 60;
  unsigned sse_heartbeat_seconds = 15;
  unsigned sse_retry_ms = 3000;
  std::size_t write_queue_bytes = 1048576;  // per streaming connection; past it the client is dropped
  std::size_t ws_max_channels = 100;
  std::size_t ws_max_message_bytes = 131072;
  unsigned ws_idle_timeout_seconds = 60;  // a ping goes out at half of it; no answer by the end: dropped
  unsigned request_timeout_seconds = 30;  // to send a whole request, and to idle between keep-alive requests
  unsigned shutdown_grace_seconds = 3;
};

// [redis]: used when broker = "redis" (docs/config.md, docs/scaling.md).
struct RedisSettings {
  std::string url = "redis://127.0.0.1:6379/0";
  std::string password;  // overrides a password in the URL
  bool tls = false;      // not supported yet: refused at startup
  std::string key_prefix = "herald:";
  unsigned connect_timeout_ms = 2000;
};

struct Config {
  std::string listen = "127.0.0.1:8080";
  unsigned threads = 0;  // 0: one per core
  std::string publish_key;
  std::string web_root = "web";
  std::string log_level = "info";
  std::string broker = "memory";  // "memory" (one node) or "redis" (several nodes on one Redis)
  RedisSettings redis;
  Limits limits;
  NamespacePolicy namespaces;
};

// Reads a TOML file over the defaults. Throws std::runtime_error naming the file, key and problem.
Config load_config(const std::string& path);

// Checks what the command line may have changed after loading: the address and the log level.
// Throws std::runtime_error saying what is wrong.
void validate(const Config& config);

// Where the Redis broker connects: the URL with the [redis] settings over it. Throws std::runtime_error.
RedisOptions redis_options(const RedisSettings& settings);

// "host:port" or "[v6]:port". Throws std::runtime_error when malformed.
std::pair<std::string, std::uint16_t> split_host_port(const std::string& listen);

}  // namespace herald
