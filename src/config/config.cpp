#include "config/config.hpp"

#include <arpa/inet.h>
#include <toml++/toml.h>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>
#include "broker/redis_options.hpp"

namespace herald {
namespace {

// Reads the keys of one table, refusing keys it does not know: a typo must not be silently ignored.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string where) : table_(table), where_(std::move(where)) {}

  template <typename T>
  void read(const char* key, T& out) {
    known_.insert(key);
    const toml::node* node = table_.get(key);
    if (node == nullptr) return;
    // Exact types only: toml++ would otherwise read 1 as true, or 2.5 as 2.
    if constexpr (std::is_same_v<T, std::vector<std::string>>) {
      if (!node->is_array()) fail(key, "an array of strings");
      out.clear();
      for (const auto& item : *node->as_array()) {
        if (!item.is_string()) fail(key, "an array of strings");
        out.push_back(item.as_string()->get());
      }
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!node->is_string()) fail(key, "a string");
      out = node->as_string()->get();
    } else if constexpr (std::is_same_v<T, bool>) {
      if (!node->is_boolean()) fail(key, "true or false");
      out = node->as_boolean()->get();
    } else {
      if (!node->is_integer() || node->as_integer()->get() < 0 ||
          static_cast<std::uint64_t>(node->as_integer()->get()) > std::numeric_limits<T>::max()) {
        fail(key, "a non-negative integer in range");
      }
      out = static_cast<T>(node->as_integer()->get());
    }
  }

  // A whole number of seconds, kept as the duration it is.
  template <typename Duration>
  void read_seconds(const char* key, Duration& out) {
    auto seconds = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(out).count());
    read(key, seconds);
    out = std::chrono::duration_cast<Duration>(std::chrono::seconds(seconds));
  }

  const toml::array* array(const char* key) {
    known_.insert(key);
    const toml::node* node = table_.get(key);
    if (node == nullptr) return nullptr;
    if (!node->is_array()) fail(key, "an array of tables ([[...]])");
    return node->as_array();
  }

  const toml::table* table(const char* key) {
    known_.insert(key);
    const toml::node* node = table_.get(key);
    if (node == nullptr) return nullptr;
    if (!node->is_table()) fail(key, "a table");
    return node->as_table();
  }

  void refuse_unknown() const {
    for (const auto& [key, value] : table_) {
      if (!known_.contains(std::string(key.str()))) {
        throw std::runtime_error("unknown setting '" + where_ + std::string(key.str()) + "'");
      }
    }
  }

 private:
  [[noreturn]] void fail(const char* key, const char* expected) const {
    throw std::runtime_error("setting '" + where_ + key + "' must be " + expected);
  }

  const toml::table& table_;
  std::string where_;
  std::set<std::string> known_;
};

void read_namespace(const toml::table& table, const std::string& where, NamespaceSettings& settings) {
  TableReader reader(table, where);
  reader.read("history_size", settings.history.max_messages);
  reader.read_seconds("history_ttl_seconds", settings.history.max_age);
  reader.read("client_publish", settings.client_publish);
  reader.read("private", settings.private_channels);
  reader.read("presence", settings.presence);
  reader.read("identified", settings.identified);
  reader.read("max_payload_bytes", settings.max_payload_bytes);
  reader.refuse_unknown();
}

void read_limits(const toml::table& table, Limits& limits) {
  TableReader reader(table, "limits.");
  reader.read("max_payload_bytes", limits.max_payload_bytes);
  reader.read("max_header_bytes", limits.max_header_bytes);
  reader.read("poll_batch_limit", limits.poll_batch_limit);
  reader.read("longpoll_max_wait_seconds", limits.longpoll_max_wait_seconds);
  reader.read("sse_heartbeat_seconds", limits.sse_heartbeat_seconds);
  reader.read("sse_retry_ms", limits.sse_retry_ms);
  reader.read("sse_tcp_nodelay", limits.sse_tcp_nodelay);
  reader.read("write_queue_bytes", limits.write_queue_bytes);
  std::string slow_consumer = "close";
  reader.read("slow_consumer", slow_consumer);
  if (slow_consumer == "catch_up") {
    limits.slow_consumer = SlowConsumer::catch_up;
  } else if (slow_consumer != "close") {
    throw std::runtime_error(R"(setting 'limits.slow_consumer' must be "close" or "catch_up")");
  }
  reader.read("ws_max_channels", limits.ws_max_channels);
  reader.read("ws_max_message_bytes", limits.ws_max_message_bytes);
  reader.read("ws_idle_timeout_seconds", limits.ws_idle_timeout_seconds);
  reader.read("ws_deflate", limits.ws_deflate);
  reader.read("ws_deflate_threshold_bytes", limits.ws_deflate_threshold_bytes);
  reader.read("request_timeout_seconds", limits.request_timeout_seconds);
  reader.read("shutdown_grace_seconds", limits.shutdown_grace_seconds);
  reader.read("drain_window_seconds", limits.drain_window_seconds);
  reader.read("lingering_close_seconds", limits.lingering_close_seconds);
  reader.read("lingering_close_bytes", limits.lingering_close_bytes);
  reader.read("publishes_per_second", limits.publishes_per_second);
  reader.read("max_connections", limits.max_connections);
  reader.read("max_connections_per_ip", limits.max_connections_per_ip);
  reader.read("client_publishes_per_second", limits.client_publishes_per_second);
  reader.read("presence_lease_seconds", limits.presence_lease_seconds);
  reader.read("presence_linger_seconds", limits.presence_linger_seconds);
  reader.read("presence_list_limit", limits.presence_list_limit);
  reader.read("presence_name_bytes", limits.presence_name_bytes);
  reader.read("presence_members_per_address", limits.presence_members_per_address);
  reader.read("idempotency_seconds", limits.idempotency_seconds);
  reader.read("idempotency_keys_per_channel", limits.idempotency_keys_per_channel);
  reader.read("broadcast_max_channels", limits.broadcast_max_channels);
  reader.read("max_connections_per_user", limits.max_connections_per_user);
  reader.refuse_unknown();
  if (limits.poll_batch_limit == 0) throw std::runtime_error("setting 'limits.poll_batch_limit' must be at least 1");
  if (limits.presence_lease_seconds < 3) {
    throw std::runtime_error("setting 'limits.presence_lease_seconds' must be at least 3");
  }
  for (auto [value, key] : {std::pair<std::size_t, const char*>{limits.idempotency_seconds, "idempotency_seconds"},
                            {limits.idempotency_keys_per_channel, "idempotency_keys_per_channel"},
                            {limits.broadcast_max_channels, "broadcast_max_channels"}}) {
    if (value == 0) throw std::runtime_error(std::string("setting 'limits.") + key + "' must be at least 1");
  }
  if (limits.sse_heartbeat_seconds == 0) {
    throw std::runtime_error("setting 'limits.sse_heartbeat_seconds' must be at least 1");
  }
}

void read_transports(const toml::table& table, Transports& transports) {
  TableReader reader(table, "transports.");
  reader.read("websocket", transports.websocket);
  reader.read("sse", transports.sse);
  reader.read("longpoll", transports.longpoll);
  reader.read("poll", transports.poll);
  reader.refuse_unknown();
}

void read_login(const toml::table& table, LoginConfig& login) {
  TableReader reader(table, "login.");
  reader.read("enabled", login.enabled);
  reader.read("database", login.database);
  reader.read("public_url", login.public_url);
  reader.read("allowed_origins", login.allowed_origins);
  reader.read("request_ttl_seconds", login.request_ttl_seconds);
  reader.read("poll_interval_seconds", login.poll_interval_seconds);
  reader.read("qr_rotate_seconds", login.qr_rotate_seconds);
  reader.read("session_ttl_seconds", login.session_ttl_seconds);
  reader.read("access_token_ttl_seconds", login.access_token_ttl_seconds);
  reader.read("oauth_clients", login.oauth_clients);
  reader.read("max_requests", login.max_requests);
  reader.read("starts_per_minute", login.starts_per_minute);
  reader.read("code_attempts_per_minute", login.code_attempts_per_minute);
  reader.read("prompts_per_minute", login.prompts_per_minute);
  reader.read("signins_per_minute", login.signins_per_minute);
  // Said plainly rather than as an unknown key: a config written for an older herald names it.
  if (table.contains("max_number_attempts")) {
    throw std::runtime_error(
        "setting 'login.max_number_attempts' is gone: one wrong number now denies the login request (remove the "
        "line)");
  }
  reader.refuse_unknown();
  auto at_least_one = [](unsigned value, const char* key) {
    if (value == 0) throw std::runtime_error(std::string("setting 'login.") + key + "' must be at least 1");
  };
  at_least_one(login.request_ttl_seconds, "request_ttl_seconds");
  at_least_one(login.poll_interval_seconds, "poll_interval_seconds");
  at_least_one(login.qr_rotate_seconds, "qr_rotate_seconds");
  if (!login.public_url.empty() && !login.public_url.starts_with("http://") &&
      !login.public_url.starts_with("https://")) {
    throw std::runtime_error("setting 'login.public_url' must start with http:// or https://");
  }
  while (login.public_url.ends_with('/')) login.public_url.pop_back();
}

}  // namespace

Config load_config(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error(path + ": cannot be read");
  std::ostringstream text;
  text << file.rdbuf();
  Config config = parse_config(text.str(), path);
  resolve_paths(config, std::filesystem::absolute(path).parent_path().string());
  return config;
}

void resolve_paths(Config& config, const std::string& base) {
  // SQLite's own names (":memory:", "" for a temporary file) are not paths.
  auto resolve = [&base](std::string& file) {
    if (file.empty() || file.starts_with(':')) return;
    std::filesystem::path path(file);
    if (path.is_relative()) file = (std::filesystem::path(base) / path).lexically_normal().string();
  };
  resolve(config.web_root);
  resolve(config.login.database);
  resolve(config.tls.certificate_file);
  resolve(config.tls.private_key_file);
}

Config parse_config(std::string_view text, const std::string& path) {
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& error) {
    throw std::runtime_error(path + ": " + std::string(error.description()));
  }
  Config config;
  try {
    TableReader reader(root, "");
    reader.read("listen", config.listen);
    reader.read("threads", config.threads);
    reader.read("publish_key", config.publish_key);
    reader.read("web_root", config.web_root);
    reader.read("log_level", config.log_level);
    reader.read("allowed_origins", config.allowed_origins);
    reader.read("trusted_proxies", config.trust.trusted_proxies);
    reader.read("allowed_hosts", config.trust.allowed_hosts);
    reader.read("loopback_publish", config.trust.loopback_publish);
    reader.read("token_secret", config.token_secret);
    reader.read("broker", config.broker);
    if (const auto* redis = reader.table("redis")) {
      TableReader redis_reader(*redis, "redis.");
      redis_reader.read("url", config.redis.url);
      redis_reader.read("password", config.redis.password);
      redis_reader.read("key_prefix", config.redis.key_prefix);
      redis_reader.read("connect_timeout_ms", config.redis.connect_timeout_ms);
      redis_reader.read("cluster", config.redis.cluster);
      redis_reader.read("sentinels", config.redis.sentinels);
      redis_reader.read("master_name", config.redis.master_name);
      redis_reader.refuse_unknown();
    }
    if (const auto* limits = reader.table("limits")) read_limits(*limits, config.limits);
    if (const auto* tls = reader.table("tls")) {
      TableReader tls_reader(*tls, "tls.");
      tls_reader.read("certificate_file", config.tls.certificate_file);
      tls_reader.read("private_key_file", config.tls.private_key_file);
      tls_reader.refuse_unknown();
    }
    if (const auto* keys = reader.array("publish_keys")) {
      for (std::size_t i = 0; i < keys->size(); ++i) {
        const auto* table = keys->get(i)->as_table();
        std::string where = "publish_keys[" + std::to_string(i) + "].";
        if (table == nullptr) {
          throw std::runtime_error("setting '" + where.substr(0, where.size() - 1) + "' must be a table");
        }
        TableReader key_reader(*table, where);
        PublishKey key;
        key_reader.read("key", key.key);
        key_reader.read("namespaces", key.namespaces);
        key_reader.refuse_unknown();
        if (key.key.empty()) throw std::runtime_error("setting '" + where + "key' must not be empty");
        config.publish_keys.push_back(std::move(key));
      }
    }
    if (const auto* transports = reader.table("transports")) read_transports(*transports, config.transports);
    if (const auto* login = reader.table("login")) read_login(*login, config.login);
    if (const auto* metrics = reader.table("metrics")) {
      TableReader metrics_reader(*metrics, "metrics.");
      metrics_reader.read("enabled", config.metrics.enabled);
      metrics_reader.read("public", config.metrics.public_access);
      metrics_reader.refuse_unknown();
    }
    if (const auto* history = reader.table("history")) {
      TableReader history_reader(*history, "history.");
      history_reader.read("size", config.namespaces.defaults.history.max_messages);
      history_reader.read_seconds("ttl_seconds", config.namespaces.defaults.history.max_age);
      history_reader.refuse_unknown();
    }
    if (const auto* namespaces = reader.table("namespace")) {
      for (const auto& [name, node] : *namespaces) {
        if (!node.is_table()) {
          throw std::runtime_error("setting 'namespace." + std::string(name.str()) + "' must be a table");
        }
        NamespaceSettings settings = config.namespaces.defaults;
        read_namespace(*node.as_table(), "namespace." + std::string(name.str()) + ".", settings);
        config.namespaces.by_namespace[std::string(name.str())] = settings;
      }
    }
    reader.refuse_unknown();
  } catch (const std::runtime_error& error) {
    throw std::runtime_error(path + ": " + error.what());
  }
  validate(config);
  for (const auto& [name, settings] : config.namespaces.by_namespace) {
    if (settings.private_channels && config.token_secret.empty()) {
      std::string message = path;
      message.append(": namespace '").append(name).append("' is private but no token_secret is set");
      throw std::runtime_error(message);
    }
    if (settings.identified && config.token_secret.empty()) {
      std::string message = path;
      message.append(": namespace '").append(name).append("' is identified but no token_secret is set");
      throw std::runtime_error(message);
    }
  }
  return config;
}

void validate(const Config& config) {
  if (config.threads > 64) throw std::runtime_error("threads: at most 64 event loops");
  split_host_port(config.listen);  // fail early on a malformed address
  for (const auto& proxy : config.trust.trusted_proxies) {
    if (!parse_network(proxy)) {
      throw std::runtime_error("trusted_proxies: '" + proxy + "' is not an IP address or CIDR block (203.0.113.0/24)");
    }
  }
  for (const auto& host : config.trust.allowed_hosts) {
    if (host.empty() || host.find_first_of(":/ \t") != std::string::npos) {
      throw std::runtime_error("allowed_hosts: '" + host + "' must be a host name without port or scheme");
    }
  }
  if (config.tls.certificate_file.empty() != config.tls.private_key_file.empty()) {
    throw std::runtime_error("tls: set both certificate_file and private_key_file, or neither");
  }
  if (config.broker != "memory" && config.broker != "redis") {
    throw std::runtime_error("broker '" + config.broker + "' is not one of memory, redis");
  }
  if (config.broker == "redis") {
    redis_options(config.redis);  // fail early on a malformed URL
  }
  static const std::set<std::string> levels = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (!levels.contains(config.log_level)) {
    throw std::runtime_error("log level '" + config.log_level +
                             "' is not one of trace, debug, info, warn, error, critical, off");
  }
}

RedisOptions redis_options(const RedisSettings& settings) {
  RedisOptions options = parse_redis_url(settings.url);
  if (!settings.password.empty()) options.password = settings.password;
  options.key_prefix = settings.key_prefix;
  options.connect_timeout = std::chrono::milliseconds(std::max(1U, settings.connect_timeout_ms));
  if (!settings.cluster.empty() && !settings.sentinels.empty()) {
    throw std::runtime_error("redis: set cluster or sentinels, not both (a Redis Cluster fails over by itself)");
  }
  for (const auto& seed : settings.cluster) options.cluster.push_back(parse_redis_address(seed, 6379, "redis.cluster"));
  if (options.clustered() && options.db != 0) {
    throw std::runtime_error("redis.url: a Redis Cluster has only database 0");
  }
  for (const auto& sentinel : settings.sentinels) {
    options.sentinels.push_back(parse_redis_address(sentinel, 26379, "redis.sentinels"));
  }
  options.master_name = settings.master_name;
  if (!options.sentinels.empty() && options.master_name.empty()) {
    throw std::runtime_error("redis.master_name: name the primary the sentinels watch (SENTINEL MONITOR's name)");
  }
  if (options.sentinels.empty() && !options.master_name.empty()) {
    throw std::runtime_error("redis.master_name is set but redis.sentinels is empty");
  }
  return options;
}

std::optional<Network> parse_network(std::string_view text) {
  Network network;
  std::string address(text.substr(0, text.find('/')));
  if (inet_pton(AF_INET, address.c_str(), network.bytes.data()) == 1) {
    network.v6 = false;
    network.prefix = 32;
  } else if (inet_pton(AF_INET6, address.c_str(), network.bytes.data()) == 1) {
    network.v6 = true;
    network.prefix = 128;
  } else {
    return std::nullopt;
  }
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    unsigned prefix = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (ec != std::errc{} || end != digits.data() + digits.size() || digits.empty() || prefix > network.prefix) {
      return std::nullopt;
    }
    network.prefix = prefix;
  }
  return network;
}

bool Network::contains(const std::array<unsigned char, 16>& address, bool is_v6) const {
  if (is_v6 != v6) return false;
  unsigned whole = prefix / 8, rest = prefix % 8;
  for (unsigned i = 0; i < whole; ++i) {
    if (address[i] != bytes[i]) return false;
  }
  if (rest == 0) return true;
  auto mask = static_cast<unsigned char>(0xFFU << (8 - rest));
  return (address[whole] & mask) == (bytes[whole] & mask);
}

std::pair<std::string, std::uint16_t> split_host_port(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) {
    throw std::runtime_error("listen address '" + listen + "' must be HOST:PORT");
  }
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  unsigned long port = 0;
  try {
    std::size_t used = 0;
    port = std::stoul(listen.substr(colon + 1), &used);
    if (used != listen.size() - colon - 1 || port > 65535) throw std::out_of_range("port");
  } catch (const std::logic_error&) {
    throw std::runtime_error("listen address '" + listen + "' has no valid port");
  }
  return {host, static_cast<std::uint16_t>(port)};
}

}  // namespace herald
