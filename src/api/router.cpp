#include "api/router.hpp"

#include <spdlog/spdlog.h>
#include <boost/url/parse.hpp>

#include "api/broadcast.hpp"
#include "api/login_routes.hpp"
#include "api/metrics_routes.hpp"
#include "api/routes.hpp"
#include "api/server_api.hpp"
#include "core/channel_name.hpp"
#include "http/http_session.hpp"
#include "http/responses.hpp"
#include "http/static_files.hpp"

namespace herald {
namespace {

// The path after `prefix`, percent-decoded, when the path starts with it.
std::optional<std::string> path_rest(const boost::urls::url_view& url, std::string_view prefix) {
  std::string_view encoded = url.encoded_path();
  if (!encoded.starts_with(prefix)) return std::nullopt;
  auto rest = boost::urls::make_pct_string_view(encoded.substr(prefix.size()));
  if (!rest) return std::string{};  // malformed escapes: no valid channel has them either
  return rest->decode();
}

void answer_preflight(const std::shared_ptr<HttpSession>& session, const Request& request, OriginCheck origin) {
  if (origin == OriginCheck::foreign) {
    return session->send(error_response(request, {"forbidden", "This origin is not in allowed_origins."}));
  }
  http::response<http::empty_body> response{http::status::no_content, request.version()};
  response.set(http::field::server, "herald");
  response.set(http::field::access_control_allow_methods, "GET, POST, OPTIONS");
  response.set(http::field::access_control_allow_headers,
               "Authorization, Content-Type, Idempotency-Key, Last-Event-ID, X-Herald-CSRF");
  response.set(http::field::access_control_max_age, "600");
  response.keep_alive(request.keep_alive());
  session->send(std::move(response));
}

}  // namespace

void route_request(const std::shared_ptr<HttpSession>& session, Request request) {
  auto parsed = boost::urls::parse_origin_form(request.target());
  if (!parsed) {
    return session->send(error_response(
        request, {"bad_request",
                  "The request target is not a valid URL path: characters such as < > \" and spaces must be "
                  "percent-encoded."}));
  }
  boost::urls::url_view url = *parsed;
  const auto method = request.method();
  if (spdlog::should_log(spdlog::level::debug)) {
    spdlog::debug("http: {} {} from {}", request.method_string(), request.target(),
                  session->remote().address().to_string());
  }

  if (session->context().shutting_down.load(std::memory_order_relaxed)) {
    return session->send(error_response(request, {"shutting_down", "The server is shutting down."}));
  }
  // Cross-origin pages: listed ones get CORS headers on every answer; a preflight is answered here.
  OriginCheck origin = check_origin(request, session->context().config.allowed_origins, {}, session->peer().own_host);
  if (origin == OriginCheck::allowed) session->allow_cross_origin(std::string(request[http::field::origin]));
  if (method == http::verb::options) return answer_preflight(session, request, origin);

  auto only = [&](http::verb allowed) {
    if (method == allowed) return true;
    session->send(method_not_allowed(request, allowed));
    return false;
  };

  if (auto channel = path_rest(url, "/pub/")) {
    if (only(http::verb::post)) publish_route(session, std::move(request), std::move(*channel), url.params());
  } else if (auto channel = path_rest(url, "/sub/")) {
    if (only(http::verb::get)) subscribe_route(session, std::move(request), std::move(*channel), url.params());
  } else if (url.encoded_path() == "/ws") {
    if (only(http::verb::get)) multiplex_route(session, request, url.params());
  } else if (url.encoded_path() == "/api/broadcast") {
    if (only(http::verb::post)) broadcast_route(session, std::move(request));
  } else if (auto channel = path_rest(url, "/channels/")) {
    constexpr std::string_view presence_suffix = "/presence";
    if (!only(http::verb::get)) return;
    if (channel->ends_with(presence_suffix)) {
      channel->resize(channel->size() - presence_suffix.size());
      presence_route(session, request, *channel, url.params());
    } else {
      channel_info_route(session, request, *channel);
    }
  } else if (url.encoded_path() == "/healthz") {
    if (method == http::verb::head || only(http::verb::get)) {
      session->send(json_response(request, http::status::ok, R"({"status":"ok"})"));
    }
  } else if (url.encoded_path() == "/readyz") {
    // Readiness, for load balancers: whether to send this node new clients (liveness is /healthz). A
    // draining node answers every request 503 shutting_down (above).
    if (method == http::verb::head || only(http::verb::get)) {
      const ServerContext& context = session->context();
      if (context.broker_ready && !context.broker_ready()) {
        session->send(error_response(request, {"broker_unavailable", "The broker (Redis) is unreachable."}));
      } else {
        session->send(json_response(request, http::status::ok, R"({"status":"ready"})"));
      }
    }
  } else if (route_server_api(session, request, url) || route_metrics(session, request, url) ||
             route_login(session, request, url)) {
    // answered by the server API, the metrics or the login routes
  } else if (method == http::verb::get || method == http::verb::head) {
    session->send(serve_static_file(session->context().config.web_root, request, url.path()));
  } else {
    session->send(
        error_response(request, {"not_found", "There is nothing at " + std::string(url.encoded_path()) + "."}));
  }
}

}  // namespace herald
