#pragma once
// What the login and OAuth routes share: who is asking (session cookie, bearer token, CSRF, Origin),
// where herald is reachable (for QR codes and verification URIs), and uniform refusals.
#include <boost/json/object.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "core/error.hpp"
#include "login/login_module.hpp"
#include "runtime/beast.hpp"

namespace herald {

class HttpSession;

inline constexpr std::string_view login_cookie = "herald_login";
inline constexpr std::string_view session_cookie = "herald_session";

login::LoginModule& login_of(HttpSession& session);

// The origin herald is reached at: `public_url`, or the scheme-less request's Host as http://.
std::string base_url(const HttpSession& session, const Request& request);
// Requests without an Origin header pass (not a browser, or a same-origin GET); a browser's Origin must
// be herald's own or one of `allowed_origins`.
bool origin_allowed(const HttpSession& session, const Request& request);
// The refusal of a request whose Origin is not allowed, in words a person on that page can act on: a page
// opened at a name that is not one of the server's (see allowed_hosts) is told where to open it instead.
Error origin_refused(const HttpSession& session, const Request& request);
bool secure_cookies(const HttpSession& session);

// The request body as a JSON object, or a bad_json error.
std::variant<boost::json::object, Error> json_object_body(const Request& request);
// A string member of `body`, or "" when absent or not a string.
std::string string_member(const boost::json::object& body, std::string_view key);

struct Caller {
  std::string subject;
  std::string token;
  std::string csrf;  // empty for bearer tokens
  bool by_cookie = false;
};
// Who is asking, or why they are not let in (the login store answers on the calling loop).
using CallerReply = std::function<void(std::variant<Caller, Error>)>;
// The session cookie's or the `Authorization: Bearer` access token's holder; else `unauthorized` (or
// `login_unavailable` when the store cannot say).
void authenticate(HttpSession& session, const Request& request, CallerReply done);
// For state-changing calls from a signed-in browser: a session cookie, the CSRF header matching it,
// and an allowed Origin. The Error says which is missing.
void require_signed_in_browser(HttpSession& session, const Request& request, CallerReply done);
// The store's `login_unavailable` as an Error (503, Retry-After).
Error unavailable_error(const login::Refusal& refusal);

// 429 with Retry-After, `{"error":"rate_limited","limit":<setting>,"message":<what> Try again in N seconds.}`:
// `what` says in a person's words what was limited ("Too many codes tried: at most 10 a minute …").
Response rate_limited(const Request& request, unsigned retry_after_seconds, std::string_view limit,
                      std::string_view what);
// The rate_limited answer of /login/start and /oauth/device_authorization (starts_per_minute per address).
Response too_many_starts(const Request& request, unsigned retry_after_seconds, const login::LoginModule& login);
// {"error":..,"message":..,<extra>} with the status of the code (and Retry-After on a 503).
Response refusal_response(const Request& request, const login::Refusal& refusal);

std::string client_ip(const HttpSession& session);

}  // namespace herald
