#pragma once
// Everything `herald serve` can be told, with the defaults documented in docs/config.md.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/redis_options.hpp"
#include "core/namespace_settings.hpp"

namespace herald {

// What a streaming connection whose write queue is full gets (docs/limits.md).
enum class SlowConsumer : std::uint8_t {
  close,     // disconnected; the client resumes from its cursor
  catch_up,  // kept; the messages that did not fit are read from history once the queue drains
};

struct Limits {
  std::size_t max_payload_bytes = 65536;
  std::size_t max_header_bytes = 8192;
  std::size_t poll_batch_limit = 100;
  unsigned longpoll_max_wait_seconds = 60;
  unsigned sse_heartbeat_seconds = 15;
  unsigned sse_retry_ms = 3000;
  // false: an SSE stream's socket lets the kernel coalesce small writes while earlier ones are unacknowledged
  // (Nagle): much less CPU per delivery under bursts, a later message held up to the client's delayed-ACK
  // time (docs/config.md). Every other socket keeps TCP_NODELAY.
  bool sse_tcp_nodelay = true;
  std::size_t write_queue_bytes = 1048576;  // per streaming connection; past it, `slow_consumer` says what happens
  SlowConsumer slow_consumer = SlowConsumer::close;
  std::size_t ws_max_channels = 100;
  std::size_t ws_max_message_bytes = 131072;
  unsigned ws_idle_timeout_seconds = 60;  // a ping goes out at half of it; no answer by the end: dropped
  // permessage-deflate (RFC 7692) offered to WebSocket clients; each message is compressed once, for every
  // socket that negotiated it. Messages whose frame payload is below the threshold go uncompressed.
  bool ws_deflate = false;  // off: it doubles an idle socket's memory (bench/RESULTS.md)
  std::size_t ws_deflate_threshold_bytes = 256;
  unsigned request_timeout_seconds = 30;  // to send a whole request, and to idle between keep-alive requests
  unsigned shutdown_grace_seconds = 3;
  // On SIGTERM, streaming clients are told to come back after a delay spread over this window (0: at once).
  unsigned drain_window_seconds = 10;
  // A connection herald closes first reads on (and discards) what the client still sends, at most this
  // long and this much, so that the kernel does not reset it under the answer or close frame still on
  // its way (nginx's lingering close). 0 in either: close at once. The bytes are more than both ends'
  // socket buffers hold: a client that wrote that much before it could read must still read the answer.
  unsigned lingering_close_seconds = 5;
  std::size_t lingering_close_bytes = 16777216;
  unsigned publishes_per_second = 0;          // per publish key, or per IP without one; 0: no limit
  std::size_t max_connections = 50000;        // open at once (0: no limit)
  std::size_t max_connections_per_ip = 5000;  // from one client address (0: no limit)
  std::size_t max_connections_per_user = 0;   // streaming connections of one identified user, all nodes (0: none)
  unsigned client_publishes_per_second = 5;   // per IP, publishes without a key (client_publish namespaces)
  unsigned presence_lease_seconds = 15;       // an interval poller stays present this long; a dead node's members too
  unsigned presence_linger_seconds = 2;       // a member whose last connection closed leaves after this (reconnects)
  std::size_t presence_list_limit = 1000;     // members named by GET /channels/{c}/presence (all are counted)
  std::size_t presence_name_bytes = 64;       // a display name's size at most
  std::size_t presence_members_per_address = 20;     // members one client address holds on a node (0: no cap)
  unsigned idempotency_seconds = 300;                // a publish's idempotency key is remembered this long
  std::size_t idempotency_keys_per_channel = 10000;  // the memory broker remembers at most this many per channel
  std::size_t broadcast_max_channels = 100;          // channels one POST /api/broadcast may name
};

// Which ways of listening are offered (an operator may turn one off, e.g. behind a proxy that breaks it).
struct Transports {
  bool websocket = true;
  bool sse = true;
  bool longpoll = true;
  bool poll = true;
};

// GET /metrics and the dashboard feed (docs/metrics.md): who may read them.
struct MetricsConfig {
  bool enabled = true;
  // false: only this machine (loopback, not through a proxy) or a Bearer publish key that may publish
  // anywhere; true: anyone who can reach the server.
  bool public_access = false;
};

// Cross-device login (docs/login.md).
struct LoginConfig {
  bool enabled = true;
  std::string database = "herald.db";
  std::string public_url;                    // "": the request's own Host
  std::vector<std::string> allowed_origins;  // besides the server's own
  unsigned request_ttl_seconds = 300;
  unsigned poll_interval_seconds = 5;
  unsigned qr_rotate_seconds = 60;
  unsigned session_ttl_seconds = 604800;
  unsigned access_token_ttl_seconds = 3600;
  std::vector<std::string> oauth_clients{"herald-cli"};
  std::size_t max_requests = 100000;       // login requests kept at once
  unsigned starts_per_minute = 20;         // per client IP
  unsigned code_attempts_per_minute = 10;  // per account and per IP
  unsigned prompts_per_minute = 5;         // per account
  unsigned signins_per_minute = 10;        // per IP and per name
};

// A publish key allowed to publish only to some namespaces ("" is the default namespace, "*" any;
// "_login" lets it approve logins server-to-server).
struct PublishKey {
  std::string key;
  std::vector<std::string> namespaces;
};

// [redis]: used when broker = "redis" (docs/config.md, docs/scaling.md).
struct RedisSettings {
  std::string url = "redis://127.0.0.1:6379/0";
  std::string password;  // overrides a password in the URL
  std::string key_prefix = "herald:";
  unsigned connect_timeout_ms = 2000;
  // Redis Cluster: seed nodes "host:port" (any few of the cluster's nodes; the rest is discovered). The
  // URL then gives only the user and password.
  std::vector<std::string> cluster;
  // Sentinel: "host:port" of the sentinels and the name of the primary they watch. The URL then gives only
  // the user, password and db.
  std::vector<std::string> sentinels;
  std::string master_name;
};

// [tls]: with both files, herald serves HTTPS and WSS itself on `listen` (docs/config.md).
struct TlsSettings {
  std::string certificate_file;  // PEM: the certificate, then any intermediates
  std::string private_key_file;  // PEM
  bool enabled() const { return !certificate_file.empty(); }
};

// Whom herald believes about where a request comes from (docs/security.md, "Trust").
struct TrustSettings {
  // Reverse proxies (addresses or CIDR blocks) whose forwarding headers (Forwarded, X-Forwarded-For,
  // X-Real-IP) are believed: the client address they name is what per-address limits count. A request
  // from a trusted proxy is never "this machine", even when the proxy runs on it.
  std::vector<std::string> trusted_proxies;
  // Host names of this server besides localhost, IP literals, the listen host and login.public_url's
  // host. A request naming another Host (a DNS-rebound name) is never "this machine" nor same-origin.
  std::vector<std::string> allowed_hosts;
  // With no publish key configured: may this machine publish without one? (Off unless the operator says
  // so; `make run`'s config turns it on for the demo.)
  bool loopback_publish = false;
};

struct Config {
  std::string listen = "127.0.0.1:8080";
  unsigned threads = 0;                  // 0: one per core
  std::string publish_key;               // may publish anywhere
  std::vector<PublishKey> publish_keys;  // limited to namespaces
  std::string web_root = "web";
  std::string log_level = "info";
  // Web origins besides herald's own whose pages may use it: WebSocket upgrades from other origins are
  // refused, and only these get CORS headers. "*" allows any.
  std::vector<std::string> allowed_origins;
  TrustSettings trust;
  // The HMAC-SHA256 key subscribe tokens for private namespaces are signed with (shared with the app).
  std::string token_secret;
  std::string broker = "memory";  // "memory" (one node) or "redis" (several nodes on one Redis)
  RedisSettings redis;
  TlsSettings tls;
  Limits limits;
  NamespacePolicy namespaces;
  Transports transports;
  LoginConfig login;
  MetricsConfig metrics;
};

// Reads a TOML file over the defaults. Throws std::runtime_error naming the file, key and problem. The
// paths it names (web_root, login.database, the [tls] files) are made absolute, relative ones taken
// from the file's own directory: herald finds the same files whatever directory it is started from.
Config load_config(const std::string& path);
// Makes the relative paths of `config` absolute under the directory `base`.
void resolve_paths(Config& config, const std::string& base);
// The same, from the text of such a file (`path` only names it in errors).
Config parse_config(std::string_view text, const std::string& path);

// Checks what the command line may have changed after loading: the address and the log level.
// Throws std::runtime_error saying what is wrong.
void validate(const Config& config);

// Where the Redis broker connects: the URL with the [redis] settings over it. Throws std::runtime_error.
RedisOptions redis_options(const RedisSettings& settings);

// An address block of trusted_proxies: "203.0.113.7", "10.0.0.0/8", "2001:db8::/32".
struct Network {
  std::array<unsigned char, 16> bytes{};  // network byte order; IPv4 in the first four
  bool v6 = false;
  unsigned prefix = 0;
  // `address` in the same layout (IPv4 in the first four bytes).
  bool contains(const std::array<unsigned char, 16>& address, bool is_v6) const;
};
std::optional<Network> parse_network(std::string_view text);

// "host:port" or "[v6]:port". Throws std::runtime_error when malformed.
std::pair<std::string, std::uint16_t> split_host_port(const std::string& listen);

}  // namespace herald
