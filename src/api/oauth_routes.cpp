// OAuth 2.0 Device Authorization Grant (RFC 8628) on the login state machine: a device asks for a
// device_code and user_code, the user approves at /device, the device polls /oauth/token.
// Errors are RFC 6749 §5.2 JSON: {"error":..,"error_description":..}.
#include <boost/url/parse_query.hpp>
#include <map>

#include "api/login_routes.hpp"
#include "api/login_support.hpp"
#include "http/http_session.hpp"
#include "http/responses.hpp"

namespace herald {
namespace {

using SessionPtr = std::shared_ptr<HttpSession>;
constexpr std::string_view device_grant = "urn:ietf:params:oauth:grant-type:device_code";

Response oauth_json(const Request& request, http::status status, std::string body) {
  Response response = json_response(request, status, std::move(body));
  response.set(http::field::pragma, "no-cache");  // RFC 6749 5.1 (Cache-Control: no-store is the route's)
  return response;
}

Response oauth_error(const Request& request, std::string_view code, std::string_view description) {
  auto status = code == "invalid_client" ? http::status::unauthorized : http::status::bad_request;
  return oauth_json(request, status,
                    R"({"error":)" + json_quote(code) + R"(,"error_description":)" + json_quote(description) + "}");
}

// An application/x-www-form-urlencoded body; nullopt when malformed or a parameter repeats (§3.1 of
// RFC 6749: parameters must not be included more than once).
std::optional<std::map<std::string, std::string, std::less<>>> form_body(const Request& request) {
  auto query = boost::urls::parse_query(request.body());
  if (!query) return std::nullopt;
  std::map<std::string, std::string, std::less<>> form;
  boost::urls::encoding_opts plus_is_space(true);
  for (auto param : *query) {
    auto [it, inserted] = form.emplace(param.key.decode(plus_is_space), param.value.decode(plus_is_space));
    if (!inserted) return std::nullopt;
  }
  return form;
}

std::string field(const std::map<std::string, std::string, std::less<>>& form, std::string_view key) {
  auto it = form.find(key);
  return it == form.end() ? std::string() : it->second;
}

bool known_client(const login::LoginModule& login, const std::string& client_id) {
  for (const auto& allowed : login.config.oauth_clients) {
    if (allowed == client_id) return true;
  }
  return false;
}

// 503 with RFC 6749's temporarily_unavailable: too many device codes waiting, or the login store away.
Response temporarily_unavailable(const Request& request, std::string_view description) {
  Response busy =
      oauth_json(request, http::status::service_unavailable,
                 R"({"error":"temporarily_unavailable","error_description":)" + json_quote(description) + "}");
  busy.set(http::field::retry_after, "5");
  return busy;
}

constexpr std::string_view store_away = "The login store is unreachable right now: try again in a moment.";

void device_authorization(const SessionPtr& session, const Request& request) {
  auto& login = login_of(*session);
  auto form = form_body(request);
  if (!form) return session->send(oauth_error(request, "invalid_request", "The form body is malformed."));
  std::string client_id = field(*form, "client_id");
  if (client_id.empty()) return session->send(oauth_error(request, "invalid_request", "client_id is required."));
  if (!known_client(login, client_id)) {
    return session->send(oauth_error(request, "invalid_client", "This client_id is not registered."));
  }
  std::string ip = client_ip(*session);
  auto held = std::make_shared<const Request>(request);
  login.store->take(
      login::Limit::starts, {"ip:" + ip}, [session, held, ip, client_id](login::Answer<login::Done> taken) {
        auto& login = login_of(*session);
        const Request& request = *held;
        if (auto* refusal = std::get_if<login::Refusal>(&taken)) {
          if (refusal->code == "rate_limited") {
            return session->send(too_many_starts(request, refusal->retry_after, login));
          }
          return session->send(temporarily_unavailable(request, store_away));
        }
        login::Requester requester{
            login::describe_user_agent(request[http::field::user_agent]) + " (" + client_id + ")", ip,
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                .count()};
        login.store->start(
            login::Flow::device, std::move(requester), client_id, [session, held](login::Answer<login::Started> made) {
              const Request& request = *held;
              if (auto* refusal = std::get_if<login::Refusal>(&made)) {
                return session->send(temporarily_unavailable(
                    request, refusal->code == "busy" ? "Too many device codes are waiting." : store_away));
              }
              const auto& started = std::get<login::Started>(made);
              std::string verification = base_url(*session, request) + "/device";
              session->send(oauth_json(request, http::status::ok,
                                       R"({"device_code":)" + json_quote(started.poll_secret) + R"(,"user_code":)" +
                                           json_quote(started.user_code) + R"(,"verification_uri":)" +
                                           json_quote(verification) + R"(,"verification_uri_complete":)" +
                                           json_quote(verification + "?user_code=" + started.user_code) +
                                           R"(,"expires_in":)" + std::to_string(started.expires_in) +
                                           R"(,"interval":)" + std::to_string(started.interval) + "}"));
            });
      });
}

void token(const SessionPtr& session, const Request& request) {
  auto& login = login_of(*session);
  auto form = form_body(request);
  if (!form) {
    return session->send(oauth_error(request, "invalid_request", "The form body is malformed or repeats a parameter."));
  }
  std::string grant_type = field(*form, "grant_type");
  if (grant_type.empty()) return session->send(oauth_error(request, "invalid_request", "grant_type is required."));
  if (grant_type != device_grant) {
    return session->send(oauth_error(request, "unsupported_grant_type", "Only the device_code grant is supported."));
  }
  std::string client_id = field(*form, "client_id");
  std::string device_code = field(*form, "device_code");
  if (device_code.empty()) return session->send(oauth_error(request, "invalid_request", "device_code is required."));
  if (client_id.empty()) return session->send(oauth_error(request, "invalid_request", "client_id is required."));
  if (!known_client(login, client_id)) {
    return session->send(oauth_error(request, "invalid_client", "This client_id is not registered."));
  }
  auto held = std::make_shared<const Request>(request);
  login.store->poll_token(device_code, client_id, [session, held](login::Answer<login::Grant> outcome) {
    const Request& request = *held;
    if (auto* refusal = std::get_if<login::Refusal>(&outcome)) {
      if (refusal->code == "login_unavailable") return session->send(temporarily_unavailable(request, store_away));
      static const std::map<std::string, std::string, std::less<>> descriptions = {
          {"authorization_pending", "The user has not approved yet."},
          {"slow_down", "Polling too fast: wait 5 seconds more between requests."},
          {"access_denied", "The user denied the request."},
          {"expired_token", "The device code has expired: start again."},
          {"invalid_grant", "The device code is not valid (unknown, another client's, or already used)."},
      };
      auto it = descriptions.find(refusal->code);
      return session->send(oauth_error(request, refusal->code, it == descriptions.end() ? "" : it->second));
    }
    auto& login = login_of(*session);
    const auto& grant = std::get<login::Grant>(outcome);
    session->send(oauth_json(request, http::status::ok,
                             R"({"access_token":)" + json_quote(grant.issued.token) +
                                 R"(,"token_type":"Bearer","expires_in":)" +
                                 std::to_string(login.config.access_token_ttl_seconds) + "}"));
  });
}

void metadata(const SessionPtr& session, const Request& request) {
  std::string base = base_url(*session, request);
  session->send(json_response(
      request, http::status::ok,
      R"({"issuer":)" + json_quote(base) + R"(,"device_authorization_endpoint":)" +
          json_quote(base + "/oauth/device_authorization") + R"(,"token_endpoint":)" +
          json_quote(base + "/oauth/token") + R"(,"grant_types_supported":[")" + std::string(device_grant) +
          R"("],"token_endpoint_auth_methods_supported":["none"],"response_types_supported":[]})"));
}

}  // namespace

bool route_oauth(const std::shared_ptr<HttpSession>& session, Request& request, const boost::urls::url_view& url) {
  std::string_view path = url.encoded_path();
  auto only = [&](http::verb allowed) {
    if (request.method() == allowed) return true;
    session->send(oauth_error(request, "invalid_request",
                              "This endpoint takes only " + std::string(http::to_string(allowed)) + "."));
    return false;
  };
  if (path == "/oauth/device_authorization") {
    if (only(http::verb::post)) device_authorization(session, request);
  } else if (path == "/oauth/token") {
    if (only(http::verb::post)) token(session, request);
  } else if (path == "/.well-known/oauth-authorization-server") {
    if (only(http::verb::get)) metadata(session, request);
  } else {
    return false;
  }
  return true;
}

}  // namespace herald
