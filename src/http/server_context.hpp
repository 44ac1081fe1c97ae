#pragma once
// What every request handler may reach: settings, the broker and the subscriber counts.
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "broker/broker.hpp"
#include "config/config.hpp"
#include "core/rate_limiter.hpp"
#include "core/subscriber_counts.hpp"
#include "http/connection_gate.hpp"
#include "http/net_stream.hpp"
#include "http/trust.hpp"
#include "runtime/beast.hpp"

namespace herald {

class Admission;
class HttpSession;
class Presence;
class UserConnections;
namespace login {
struct LoginModule;
}

struct ServerContext {
  const Config& config;
  Broker& broker;
  SubscriberCounts& counts;
  login::LoginModule* login = nullptr;         // null when login is disabled
  RateLimiter* publish_rate = nullptr;         // null when publishes are not rate-limited
  RateLimiter* client_publish_rate = nullptr;  // key-less publishes, per IP; null: not limited
  Presence* presence = nullptr;
  asio::ssl::context* tls = nullptr;            // set: every connection is TLS ([tls])
  std::shared_ptr<ConnectionGate> gate;         // admits connections within limits.max_connections(_per_ip)
  const Trust* trust = nullptr;                 // who a request is from (trusted proxies, own host names)
  const Admission* admission = nullptr;         // who may read, publish and be present on which channel
  UserConnections* user_connections = nullptr;  // limits.max_connections_per_user
  // What to do with each request read (the API layer's router); the HTTP layer does not know the API.
  std::function<void(const std::shared_ptr<HttpSession>&, http::request<http::string_body>)> handle_request;
  // GET /metrics: renders the Prometheus text; and the channel the dashboard feed is published on. Both
  // set by the app when [metrics] is enabled.
  std::function<std::string()> metrics_text;
  std::string metrics_channel;
  // GET /readyz: whether the broker is reachable (unset: always, the memory broker).
  std::function<bool()> broker_ready;
  // Asks every node (the control channel, app/control.cpp) a query of the server API, a JSON object's
  // text; `done` runs on the calling loop with each node's answer (JSON text), or the broker's error.
  using ClusterAnswers = std::function<void(std::variant<std::vector<std::string>, Error>)>;
  std::function<void(std::string query, ClusterAnswers done)> ask_cluster;
  std::atomic<bool> shutting_down{false};
  // Answers being written; shutdown waits for them too, so a publisher is never left unsure whether
  // its message was taken.
  std::atomic<std::size_t> responses_in_flight{0};
};

}  // namespace herald
