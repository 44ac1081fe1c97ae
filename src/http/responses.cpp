#include "http/responses.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string_view.hpp>
#include <unordered_map>

namespace herald {

Response json_response(const Request& request, http::status status, std::string body) {
  Response response{status, request.version()};
  response.set(http::field::server, "herald");
  response.set(http::field::content_type, "application/json");
  response.set(http::field::cache_control, "no-store");
  response.keep_alive(request.keep_alive());
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

http::status status_of(const std::string& error_code) {
  static const std::unordered_map<std::string, http::status> statuses = {
      {"bad_request", http::status::bad_request},
      {"bad_channel", http::status::bad_request},
      {"bad_event", http::status::bad_request},
      {"bad_json", http::status::bad_request},
      {"bad_utf8", http::status::bad_request},
      {"bad_cursor", http::status::bad_request},
      {"bad_parameter", http::status::bad_request},
      {"bad_idempotency_key", http::status::bad_request},
      {"unauthorized", http::status::unauthorized},
      {"forbidden", http::status::forbidden},
      {"not_found", http::status::not_found},
      {"method_not_allowed", http::status::method_not_allowed},
      {"too_large", http::status::payload_too_large},
      {"headers_too_large", http::status::request_header_fields_too_large},
      {"unsupported_transfer_coding", http::status::not_implemented},
      {"shutting_down", http::status::service_unavailable},
      {"transport_disabled", http::status::forbidden},
      {"invalid_code", http::status::not_found},
      {"not_approved", http::status::conflict},
      {"access_denied", http::status::forbidden},
      {"gone", http::status::gone},
      {"wrong_number", http::status::forbidden},  // the request is denied by it
      {"number_required", http::status::bad_request},
      {"rate_limited", http::status::too_many_requests},
      {"busy", http::status::service_unavailable},
      {"token_required", http::status::unauthorized},
      {"bad_token", http::status::unauthorized},
      {"token_expired", http::status::unauthorized},
      {"bad_credentials", http::status::unauthorized},
      {"broker_unavailable", http::status::service_unavailable},
      {"login_unavailable", http::status::service_unavailable},
      {"bad_presence", http::status::bad_request},
      {"presence_off", http::status::bad_request},
      {"too_many_from_address", http::status::too_many_requests},
      {"too_many_connections", http::status::service_unavailable},
      {"too_many_members", http::status::too_many_requests},
      {"identity_required", http::status::unauthorized},
      {"user_connection_limit", http::status::too_many_requests},
      {"disconnected", http::status::forbidden},
      {"unsubscribed", http::status::forbidden},
  };
  auto it = statuses.find(error_code);
  return it == statuses.end() ? http::status::internal_server_error : it->second;
}

std::string json_quote(std::string_view text) { return boost::json::serialize(boost::json::string_view(text)); }

Response error_response(const Request& request, const Error& error) {
  auto status = status_of(error.code);
  Response response = json_response(
      request, status, R"({"error":)" + json_quote(error.code) + R"(,"message":)" + json_quote(error.message) + "}");
  if (status == http::status::unauthorized) response.set(http::field::www_authenticate, "Bearer");
  if (status == http::status::service_unavailable || status == http::status::too_many_requests) {
    response.set(http::field::retry_after, "1");  // callers that know better set their own
  }
  return response;
}

Response method_not_allowed(const Request& request, http::verb allowed) {
  auto name = std::string(http::to_string(allowed));
  Response refusal = error_response(request, {"method_not_allowed", "This path takes only " + name + "."});
  refusal.set(http::field::allow, name);
  return refusal;
}

std::optional<std::string_view> bearer_token(const Request& request) {
  constexpr std::string_view scheme = "Bearer ";
  auto header = request[http::field::authorization];
  if (!header.starts_with(scheme)) return std::nullopt;
  return header.substr(scheme.size());
}

}  // namespace herald
