#include "api/login_support.hpp"

#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>

#include "http/cookies.hpp"
#include "http/http_session.hpp"
#include "http/origins.hpp"
#include "http/responses.hpp"
#include "login/secrets.hpp"

namespace herald {

login::LoginModule& login_of(HttpSession& session) { return *session.context().login; }

std::string client_ip(const HttpSession& session) { return session.peer().address.to_string(); }

std::string base_url(const HttpSession& session, const Request& request) {
  const std::string& configured = session.context().config.login.public_url;
  if (!configured.empty()) return configured;
  std::string_view host = request[http::field::host];
  // A Host that is not one of the server's names (http/trust.hpp) never goes into a link herald hands out.
  if (host.empty() || !session.peer().own_host) host = session.context().config.listen;
  return (session.context().tls != nullptr ? "https://" : "http://") + std::string(host);
}

// Behind a TLS proxy only the configured public URL tells; when herald terminates TLS itself, it knows.
bool secure_cookies(const HttpSession& session) {
  return session.context().tls != nullptr || session.context().config.login.public_url.starts_with("https://");
}

bool origin_allowed(const HttpSession& session, const Request& request) {
  return session.origin_ok(request, session.context().config.login.allowed_origins);
}

Error origin_refused(const HttpSession& session, const Request& request) {
  std::string origin(request[http::field::origin]);
  const std::string& public_url = session.context().config.login.public_url;
  std::string_view host = request[http::field::host];
  bool page_is_here = !host.empty() && origin.ends_with("://" + std::string(host));
  if (page_is_here && !session.peer().own_host) {
    // Typically a name of this machine the config does not know yet (a LAN or mDNS name): the page is
    // ours, but its name could equally be a stranger's pointed at this server (DNS rebinding).
    return Error{"forbidden", "This page was opened at " + origin +
                                  ", which is not one of this server's addresses, so it may not start or approve "
                                  "sign-ins. Open it at " +
                                  (public_url.empty() ? "this server's IP address or localhost" : public_url) +
                                  " instead, or add its host name to allowed_hosts in the server's config."};
  }
  return Error{"forbidden", "Pages at " + origin +
                                " may not start or approve sign-ins on this server: only its own pages and the "
                                "origins in login.allowed_origins may."};
}

std::variant<boost::json::object, Error> json_object_body(const Request& request) {
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(request.body(), ec);
  if (ec || !value.is_object()) return Error{"bad_json", "The body must be a JSON object."};
  return std::move(value.as_object());
}

std::string string_member(const boost::json::object& body, std::string_view key) {
  auto it = body.find(key);
  if (it == body.end() || !it->value().is_string()) return {};
  return std::string(it->value().as_string());
}

Error unavailable_error(const login::Refusal& refusal) { return Error{refusal.code, refusal.message}; }

namespace {

const Error not_signed_in{"unauthorized", "Not signed in."};

// The holder of the access token of `Authorization: Bearer`, when no session cookie let the caller in.
void authenticate_bearer(HttpSession& session, std::optional<std::string> token, CallerReply done) {
  if (!token) return done(not_signed_in);
  login_of(session).store->find(login::TokenKind::access, *token,
                                [token = *token, done = std::move(done)](login::Answer<login::SessionInfo> found) {
                                  if (auto* refusal = std::get_if<login::Refusal>(&found)) {
                                    if (refusal->code == "unauthorized") return done(not_signed_in);
                                    return done(unavailable_error(*refusal));
                                  }
                                  done(Caller{std::get<login::SessionInfo>(found).subject, token, {}, false});
                                });
}

}  // namespace

void authenticate(HttpSession& session, const Request& request, CallerReply done) {
  auto bearer = bearer_token(request);
  std::optional<std::string> access = bearer ? std::optional<std::string>(*bearer) : std::nullopt;
  auto cookie = cookie_value(request, session_cookie);
  if (!cookie) return authenticate_bearer(session, std::move(access), std::move(done));
  login_of(session).store->find(login::TokenKind::session, *cookie,
                                [self = session.shared_from_this(), token = *cookie, access = std::move(access),
                                 done = std::move(done)](login::Answer<login::SessionInfo> found) mutable {
                                  if (auto* info = std::get_if<login::SessionInfo>(&found)) {
                                    return done(Caller{info->subject, token, info->csrf, true});
                                  }
                                  const auto& refusal = std::get<login::Refusal>(found);
                                  if (refusal.code != "unauthorized") return done(unavailable_error(refusal));
                                  authenticate_bearer(*self, std::move(access), std::move(done));
                                });
}

void require_signed_in_browser(HttpSession& session, const Request& request, CallerReply done) {
  if (!origin_allowed(session, request)) return done(origin_refused(session, request));
  auto token = cookie_value(request, session_cookie);
  if (!token) return done(Error{"unauthorized", "Sign in first."});
  std::string csrf(request["X-Herald-CSRF"]);
  login_of(session).store->find(
      login::TokenKind::session, *token,
      [token = *token, csrf, done = std::move(done)](login::Answer<login::SessionInfo> found) {
        if (auto* refusal = std::get_if<login::Refusal>(&found)) {
          if (refusal->code == "unauthorized") return done(Error{"unauthorized", "Sign in first."});
          return done(unavailable_error(*refusal));
        }
        const auto& info = std::get<login::SessionInfo>(found);
        if (!login::equal_in_constant_time(std::string_view(csrf), std::string_view(info.csrf))) {
          return done(Error{"forbidden", "The X-Herald-CSRF header is missing or wrong (GET /me gives it)."});
        }
        done(Caller{info.subject, token, info.csrf, true});
      });
}

Response rate_limited(const Request& request, unsigned retry_after_seconds, std::string_view limit,
                      std::string_view what) {
  std::string wait = std::to_string(retry_after_seconds) + (retry_after_seconds == 1 ? " second" : " seconds");
  Response response = json_response(request, http::status::too_many_requests,
                                    R"({"error":"rate_limited","limit":)" + json_quote(limit) + R"(,"message":)" +
                                        json_quote(std::string(what) + " Try again in " + wait + ".") + "}");
  response.set(http::field::retry_after, std::to_string(retry_after_seconds));
  return response;
}

Response too_many_starts(const Request& request, unsigned retry_after_seconds, const login::LoginModule& login) {
  return rate_limited(request, retry_after_seconds, "starts_per_minute",
                      "Too many sign-ins were started from this address: at most " +
                          std::to_string(login.config.starts_per_minute) + " a minute for each address.");
}

Response refusal_response(const Request& request, const login::Refusal& refusal) {
  std::string body = R"({"error":)" + json_quote(refusal.code) + R"(,"message":)" + json_quote(refusal.message);
  if (!refusal.extra.empty()) body += "," + refusal.extra;
  body += "}";
  auto status = status_of(refusal.code);
  Response response = json_response(request, status, std::move(body));
  if (status == http::status::service_unavailable) {
    response.set(http::field::retry_after, std::to_string(std::max(refusal.retry_after, 1U)));
  }
  return response;
}

}  // namespace herald
