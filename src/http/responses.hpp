#pragma once
// Building responses: JSON bodies, and errors as {"error":..,"message":..} with the matching status.
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "runtime/beast.hpp"

namespace herald {

Response json_response(const Request& request, http::status status, std::string body);
Response error_response(const Request& request, const Error& error);
// The HTTP status of an error code ("bad_channel" -> 400, "too_large" -> 413, ...).
http::status status_of(const std::string& error_code);
// A JSON string literal for `text` (quoted and escaped).
std::string json_quote(std::string_view text);
// 405 with `Allow`, saying which method the path takes.
Response method_not_allowed(const Request& request, http::verb allowed);
// The token of an `Authorization: Bearer <token>` header, if the request has one.
std::optional<std::string_view> bearer_token(const Request& request);

}  // namespace herald
