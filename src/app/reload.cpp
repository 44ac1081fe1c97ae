#include "app/reload.hpp"

#include <tuple>

namespace herald {
namespace {

// The limits bound at startup: presence and the rate limiters take theirs when built.
template <class L>
auto presence_limits(L& limits) {
  return std::tie(limits.presence_lease_seconds, limits.presence_linger_seconds, limits.presence_members_per_address);
}
template <class L>
auto rate_limits(L& limits) {
  return std::tie(limits.publishes_per_second, limits.client_publishes_per_second);
}

auto redis_tuple(const RedisSettings& redis) {
  return std::tie(redis.url, redis.password, redis.key_prefix, redis.connect_timeout_ms, redis.cluster, redis.sentinels,
                  redis.master_name);
}

// Everything of [login] but allowed_origins, which is read per request.
auto login_tuple(const LoginConfig& login) {
  return std::tie(login.enabled, login.database, login.public_url, login.request_ttl_seconds,
                  login.poll_interval_seconds, login.qr_rotate_seconds, login.session_ttl_seconds,
                  login.access_token_ttl_seconds, login.oauth_clients, login.max_requests, login.starts_per_minute,
                  login.code_attempts_per_minute, login.prompts_per_minute, login.signins_per_minute);
}

bool same_history(const HistoryLimits& a, const HistoryLimits& b) {
  return a.max_messages == b.max_messages && a.max_age == b.max_age;
}

}  // namespace

std::vector<std::string> needs_restart(const Config& running, const Config& next) {
  std::vector<std::string> changed;
  auto check = [&changed](bool same, const char* name) {
    if (!same) changed.emplace_back(name);
  };
  check(running.listen == next.listen, "listen");
  check(running.threads == next.threads, "threads");
  check(running.broker == next.broker, "broker");
  check(redis_tuple(running.redis) == redis_tuple(next.redis), "redis");
  check(running.tls.enabled() == next.tls.enabled(), "tls (on or off)");
  check(login_tuple(running.login) == login_tuple(next.login), "login");
  check(running.metrics.enabled == next.metrics.enabled && running.metrics.public_access == next.metrics.public_access,
        "metrics");
  check(running.limits.publishes_per_second == next.limits.publishes_per_second, "limits.publishes_per_second");
  check(running.limits.client_publishes_per_second == next.limits.client_publishes_per_second,
        "limits.client_publishes_per_second");
  check(presence_limits(running.limits) == presence_limits(next.limits), "limits.presence_*");
  // The brokers keep the history limits they started with.
  bool same_history_limits = same_history(running.namespaces.defaults.history, next.namespaces.defaults.history);
  for (const auto& [name, settings] : next.namespaces.by_namespace) {
    same_history_limits =
        same_history_limits && same_history(running.namespaces.for_channel(name + ":x").history, settings.history);
  }
  for (const auto& [name, settings] : running.namespaces.by_namespace) {
    if (settings.internal) continue;
    same_history_limits =
        same_history_limits && same_history(next.namespaces.for_channel(name + ":x").history, settings.history);
  }
  check(same_history_limits, "history sizes and ages ([history], namespace.*.history_*)");
  return changed;
}

void apply_live(Config& running, const Config& next) {
  running.publish_key = next.publish_key;
  running.publish_keys = next.publish_keys;
  running.web_root = next.web_root;
  running.log_level = next.log_level;
  running.allowed_origins = next.allowed_origins;
  running.login.allowed_origins = next.login.allowed_origins;
  running.trust = next.trust;
  running.token_secret = next.token_secret;
  running.transports = next.transports;
  if (running.tls.enabled() && next.tls.enabled()) running.tls = next.tls;
  Limits limits = next.limits;
  presence_limits(limits) = presence_limits(running.limits);
  rate_limits(limits) = rate_limits(running.limits);
  running.limits = limits;
  // herald's own namespaces stay; the operator's are replaced.
  NamespacePolicy policy = next.namespaces;
  for (const auto& [name, settings] : running.namespaces.by_namespace) {
    if (settings.internal) policy.by_namespace[name] = settings;
  }
  running.namespaces = std::move(policy);
}

}  // namespace herald
