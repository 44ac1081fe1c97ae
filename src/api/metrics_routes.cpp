#include "api/metrics_routes.hpp"

#include <algorithm>

#include "api/routes.hpp"
#include "http/http_session.hpp"
#include "http/responses.hpp"
#include "login/secrets.hpp"

namespace herald {
namespace {

// Who may read the metrics and the feed: everyone with [metrics] public = true; otherwise this machine,
// or a client presenting a publish key that may publish anywhere. A request that came through a proxy
// (X-Forwarded-For, Forwarded) is not "this machine", even when the proxy runs on it.
std::optional<Error> refuse_reader(const HttpSession& session, const Request& request) {
  const Config& config = session.context().config;
  if (config.metrics.public_access) return std::nullopt;
  if (auto bearer = bearer_token(request)) {
    auto given = *bearer;
    // Every key is compared, each in time independent of where the first difference is.
    bool known = !config.publish_key.empty() && login::equal_in_constant_time(given, config.publish_key);
    for (const PublishKey& key : config.publish_keys) {
      bool anywhere = std::find(key.namespaces.begin(), key.namespaces.end(), "*") != key.namespaces.end();
      if (login::equal_in_constant_time(given, key.key) && anywhere) known = true;
    }
    if (known) return std::nullopt;
    return Error{"forbidden", "This key may not read metrics: use publish_key, or a publish_keys entry for \"*\"."};
  }
  const bool proxied =
      request.find("X-Forwarded-For") != request.end() || request.find(http::field::forwarded) != request.end();
  if (plain_address(session.remote()).is_loopback() && !proxied) return std::nullopt;
  return Error{"unauthorized",
               "Metrics are served to the server's own machine, or with 'Authorization: Bearer <publish key>' "
               "([metrics] in docs/config.md)."};
}

void metrics_text(const std::shared_ptr<HttpSession>& session, const Request& request) {
  Response response{http::status::ok, request.version()};
  response.set(http::field::server, "herald");
  response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  response.set(http::field::cache_control, "no-store");
  response.keep_alive(request.keep_alive());
  response.body() = session->context().metrics_text();
  response.prepare_payload();
  session->send(std::move(response));
}

}  // namespace

bool route_metrics(const std::shared_ptr<HttpSession>& session, Request& request, const boost::urls::url_view& url) {
  std::string_view path = url.encoded_path();
  if (path != "/metrics" && path != "/metrics/feed") return false;
  ServerContext& context = session->context();
  if (!context.metrics_text) {
    session->send(error_response(request, {"not_found", "Metrics are turned off ([metrics] enabled = false)."}));
    return true;
  }
  const auto method = request.method();
  if (method != http::verb::get && !(method == http::verb::head && path == "/metrics")) {
    session->send(method_not_allowed(request, http::verb::get));
    return true;
  }
  if (auto refused = refuse_reader(*session, request)) {
    session->send(error_response(request, *refused));
    return true;
  }
  if (path == "/metrics") {
    metrics_text(session, request);
  } else {
    // The feed is an internal channel: clients cannot name it on /sub, /pub or /ws; this route can.
    auto params = url.params();
    listen_route(session, std::move(request), context.metrics_channel, params);
  }
  return true;
}

}  // namespace herald
