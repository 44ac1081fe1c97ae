#include "api/metrics_routes.hpp"

#include "api/routes.hpp"
#include "http/http_session.hpp"
#include "http/responses.hpp"

namespace herald {
namespace {

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
  if (auto refused = context.admission->read_metrics(session->client(request))) {
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
