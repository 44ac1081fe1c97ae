// Cross-device login over HTTP (docs/login.md): the waiting screen's routes, the approving phone's
// routes, accounts and sessions, and the server-to-server approval. The state machine itself is in
// src/login; this file only reads requests and writes answers.
#include "api/login_routes.hpp"

#include <boost/json/serialize.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "api/login_support.hpp"
#include "api/routes.hpp"
#include "http/cookies.hpp"
#include "http/http_session.hpp"
#include "http/responses.hpp"
#include "http/static_files.hpp"
#include "login/qr_svg.hpp"

namespace herald {
namespace {

using login::Refusal;
using login::State;

using SessionPtr = std::shared_ptr<HttpSession>;

void send_error(const SessionPtr& session, const Request& request, const Error& error) {
  Response response = error_response(request, error);
  response.set(http::field::cache_control, "no-store");
  session->send(std::move(response));
}

Response no_store_json(const Request& request, http::status status, std::string body) {
  Response response = json_response(request, status, std::move(body));
  response.set(http::field::cache_control, "no-store");
  return response;
}

std::string state_json(State state) { return R"({"state":")" + std::string(login::state_name(state)) + "\"}"; }

// The QR screen's cookie, the only proof /login/exchange, /login/cancel and /login/qr.svg take.
std::string screen_cookie_of(const Request& request) { return cookie_value(request, login_cookie).value_or(""); }

// What /login/events and /login/status take: the QR screen's cookie, or a device's device_code as a bearer
// token (RFC 8628 extension). Each opens only a request of the flow that issued it.
login::PollSecret poll_secret_of(const Request& request) {
  if (auto cookie = cookie_value(request, login_cookie)) return {login::Flow::qr, *cookie};
  return {login::Flow::device, std::string(bearer_token(request).value_or(""))};
}

std::string per_minute(unsigned count, std::string_view each) {
  return "at most " + std::to_string(count) + " a minute " + std::string(each) + ".";
}

const Error no_login{"unauthorized",
                     "No sign-in request goes with this cookie: it expired, it was finished, or the server restarted. "
                     "Start a new one (POST /login/start)."};
const Error too_many_logins{"busy", "Too many login requests are waiting: try again shortly."};

// ---------------------------------------------------------------------------------------------
// The waiting screen

void start_route(const SessionPtr& session, const Request& request) {
  auto& login = login_of(*session);
  if (!origin_allowed(*session, request)) return send_error(session, request, origin_refused(*session, request));
  std::string ip = client_ip(*session);
  if (auto wait = login.starts.take("ip:" + ip)) return session->send(too_many_starts(request, *wait, login));
  login::Requester requester{
      login::describe_user_agent(request[http::field::user_agent]), ip,
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count()};
  auto made = login.requests.start(login::Flow::qr, std::move(requester));
  if (!made) return send_error(session, request, too_many_logins);
  const login::Started& started = *made;
  std::string qr_url = base_url(*session, request) + "/login/approve?c=" + started.qr_secret;
  std::string body = R"({"id":)" + json_quote(started.id) + R"(,"qr_url":)" + json_quote(qr_url) + R"(,"user_code":)" +
                     json_quote(started.user_code) + R"(,"match_number":)" + std::to_string(started.match_number) +
                     R"(,"expires_in":)" + std::to_string(started.expires_in) + R"(,"interval":)" +
                     std::to_string(started.interval) + R"(,"events":"/login/events"})";
  Response response = no_store_json(request, http::status::created, std::move(body));
  response.set(http::field::set_cookie, set_cookie_value(login_cookie, started.poll_secret,
                                                         {.path = "/login",
                                                          .same_site = "Strict",
                                                          .max_age_seconds = static_cast<long>(started.expires_in),
                                                          .secure = secure_cookies(*session)}));
  session->send(std::move(response));
}

void qr_image(const SessionPtr& session, const Request& request) {
  auto& login = login_of(*session);
  auto secret = login.requests.qr_secret(screen_cookie_of(request));
  if (!secret) return send_error(session, request, {"gone", "There is no QR code to show for this login now."});
  http::response<http::string_body> response{http::status::ok, request.version()};
  response.set(http::field::server, "herald");
  response.set(http::field::content_type, "image/svg+xml");
  response.set(http::field::cache_control, "no-store");
  response.body() = login::qr_svg(base_url(*session, request) + "/login/approve?c=" + *secret);
  response.keep_alive(request.keep_alive());
  response.prepare_payload();
  session->send(std::move(response));
}

void events(const SessionPtr& session, Request request, boost::urls::params_view params) {
  auto& login = login_of(*session);
  auto status = login.requests.status(poll_secret_of(request));
  if (!status) return send_error(session, request, no_login);
  // Cross-site WebSocket hijacking: a browser sends the cookie with any page's upgrade, so check Origin.
  if (websocket::is_upgrade(request) && !origin_allowed(*session, request)) {
    return send_error(session, request, origin_refused(*session, request));
  }
  listen_route(session, std::move(request), login::events_channel(status->id), params);
}

void status_route(const SessionPtr& session, const Request& request) {
  auto found = login_of(*session).requests.status(poll_secret_of(request));
  if (!found) return send_error(session, request, no_login);
  std::string reason = found->reason.empty() ? "" : R"(,"reason":)" + json_quote(found->reason);
  session->send(no_store_json(request, http::status::ok,
                              R"({"id":)" + json_quote(found->id) + R"(,"state":")" +
                                  std::string(login::state_name(found->state)) + "\"" + reason + R"(,"expires_in":)" +
                                  std::to_string(found->expires_in) + "}"));
}

void exchange_route(const SessionPtr& session, const Request& request) {
  auto& login = login_of(*session);
  if (!origin_allowed(*session, request)) return send_error(session, request, origin_refused(*session, request));
  auto outcome = login.requests.exchange(screen_cookie_of(request));
  if (auto* refusal = std::get_if<Refusal>(&outcome)) return session->send(refusal_response(request, *refusal));
  const std::string& subject = std::get<std::string>(outcome);
  // Always a brand-new session: whatever session cookie the browser had (planted or not) is not promoted.
  login::Issued issued = login.accounts.issue(login::TokenKind::session, subject, login.config.session_ttl_seconds);
  Response response = no_store_json(request, http::status::ok, R"({"user":)" + json_quote(subject) + "}");
  bool secure = secure_cookies(*session);
  response.insert(http::field::set_cookie,
                  set_cookie_value(session_cookie, issued.token,
                                   {.path = "/",
                                    .same_site = "Lax",
                                    .max_age_seconds = static_cast<long>(login.config.session_ttl_seconds),
                                    .secure = secure}));
  response.insert(http::field::set_cookie,
                  set_cookie_value(login_cookie, "", {.path = "/login", .max_age_seconds = 0, .secure = secure}));
  session->send(std::move(response));
}

void cancel_route(const SessionPtr& session, const Request& request) {
  if (!origin_allowed(*session, request)) return send_error(session, request, origin_refused(*session, request));
  auto outcome = login_of(*session).requests.cancel(screen_cookie_of(request));
  if (auto* refusal = std::get_if<Refusal>(&outcome)) return session->send(refusal_response(request, *refusal));
  session->send(no_store_json(request, http::status::ok, state_json(std::get<State>(outcome))));
}

// ---------------------------------------------------------------------------------------------
// The approving device

// A page for signed-in users only; signed-out visitors sign in first and come back.
void signed_in_page(const SessionPtr& session, const Request& request, std::string_view file) {
  if (!authenticate(*session, request)) {
    http::response<http::string_body> redirect{http::status::see_other, request.version()};
    redirect.set(http::field::server, "herald");
    std::string back = std::string(request.target());
    redirect.set(http::field::location,
                 "/signin.html?next=" + boost::urls::encode(back, boost::urls::unreserved_chars));
    redirect.set(http::field::cache_control, "no-store");
    redirect.set("Referrer-Policy", "no-referrer");
    redirect.keep_alive(request.keep_alive());
    redirect.prepare_payload();
    return session->send(std::move(redirect));
  }
  Response page = serve_static_file(session->context().config.web_root, request, file);
  page.set(http::field::cache_control, "no-store");
  page.set("Referrer-Policy", "no-referrer");  // the QR secret is in this page's URL
  session->send(std::move(page));
}

std::string prompt_json(const login::Prompt& prompt) {
  std::string numbers = "null";
  if (prompt.numbers) {
    numbers = "[" + std::to_string((*prompt.numbers)[0]) + "," + std::to_string((*prompt.numbers)[1]) + "," +
              std::to_string((*prompt.numbers)[2]) + "]";
  }
  return R"({"id":)" + json_quote(prompt.id) + R"(,"requester":{"browser":)" + json_quote(prompt.requester.browser) +
         R"(,"ip":)" + json_quote(prompt.requester.ip) + R"(,"time":)" + std::to_string(prompt.requester.time_ms) +
         R"(},"numbers":)" + numbers + R"(,"expires_in":)" + std::to_string(prompt.expires_in) + "}";
}

// /login/scan (a QR secret) and /login/device (a typed user code).
void bind_prompt(const SessionPtr& session, const Request& request, bool typed) {
  auto& login = login_of(*session);
  auto caller = require_signed_in_browser(*session, request);
  if (auto* error = std::get_if<Error>(&caller)) return send_error(session, request, *error);
  const std::string& subject = std::get<Caller>(caller).subject;
  auto body = json_object_body(request);
  if (auto* error = std::get_if<Error>(&body)) return send_error(session, request, *error);
  std::string code = string_member(std::get<boost::json::object>(body), typed ? "user_code" : "c");
  // Every code tried counts here, right or wrong: this is what bounds guessing (docs/login.md).
  if (auto wait = login.code_attempts.take_all({"account:" + subject, "ip:" + client_ip(*session)})) {
    return session->send(rate_limited(request, *wait, "code_attempts_per_minute",
                                      "Too many codes were tried: " + per_minute(login.config.code_attempts_per_minute,
                                                                                 "for each account and each address")));
  }
  // Only a good code makes a prompt, and only prompts count here (a flood of them is push-bombing); it is
  // checked before anything is bound, so a refused prompt leaves the request as it was.
  std::optional<unsigned> prompt_wait;
  login::Admit admit = [&] {
    prompt_wait = login.prompts.take("account:" + subject);
    return !prompt_wait;
  };
  auto outcome = typed ? login.requests.enter_code(code, subject, admit) : login.requests.scan(code, subject, admit);
  if (prompt_wait) {
    return session->send(rate_limited(request, *prompt_wait, "prompts_per_minute",
                                      "This account was asked to approve too many sign-ins: " +
                                          per_minute(login.config.prompts_per_minute, "for each account")));
  }
  if (auto* refusal = std::get_if<Refusal>(&outcome)) return session->send(refusal_response(request, *refusal));
  session->send(no_store_json(request, http::status::ok, prompt_json(std::get<login::Prompt>(outcome))));
}

void decide(const SessionPtr& session, const Request& request) {
  auto& login = login_of(*session);
  auto caller = require_signed_in_browser(*session, request);
  if (auto* error = std::get_if<Error>(&caller)) return send_error(session, request, *error);
  auto body = json_object_body(request);
  if (auto* error = std::get_if<Error>(&body)) return send_error(session, request, *error);
  const auto& object = std::get<boost::json::object>(body);
  std::string decision = string_member(object, "decision");
  if (decision != "approve" && decision != "deny") {
    return send_error(session, request, {"bad_request", "'decision' must be \"approve\" or \"deny\"."});
  }
  std::optional<int> number;
  if (auto it = object.find("number"); it != object.end() && it->value().is_int64()) {
    number = static_cast<int>(it->value().as_int64());
  }
  auto outcome = login.requests.decide(string_member(object, "id"), std::get<Caller>(caller).subject,
                                       decision == "approve", number);
  if (auto* refusal = std::get_if<Refusal>(&outcome)) return session->send(refusal_response(request, *refusal));
  session->send(no_store_json(request, http::status::ok, state_json(std::get<State>(outcome))));
}

// ---------------------------------------------------------------------------------------------
// Accounts and sessions

// Runs `work` on the login's blocking pool after `delay` (zero: at once); no event loop waits meanwhile.
void run_blocking_after(const SessionPtr& session, std::chrono::seconds delay, std::function<void()> work) {
  auto& login = login_of(*session);
  if (delay.count() == 0) return login.run_blocking(std::move(work));
  auto timer = std::make_shared<asio::steady_timer>(session->get_executor(), delay);
  timer->async_wait([timer, &login, work = std::move(work)](error_code ec) mutable {
    if (!ec) login.run_blocking(std::move(work));
  });
}

void signin(const SessionPtr& session, const Request& request) {
  auto& login = login_of(*session);
  if (!origin_allowed(*session, request)) return send_error(session, request, origin_refused(*session, request));
  auto body = json_object_body(request);
  if (auto* error = std::get_if<Error>(&body)) return send_error(session, request, *error);
  std::string name = string_member(std::get<boost::json::object>(body), "name");
  std::string password = string_member(std::get<boost::json::object>(body), "password");
  // Guessing is refused per address. Per name it is only slowed: strangers guessing alice's password
  // from elsewhere must not lock alice out (docs/login.md, "Abuse limits").
  if (auto wait = login.signins.take("ip:" + client_ip(*session))) {
    return session->send(rate_limited(request, *wait, "signins_per_minute",
                                      "Too many sign-in attempts from this address: " +
                                          per_minute(login.config.signins_per_minute, "for each address")));
  }
  std::chrono::seconds delay{0};
  if (auto wait = login.signins.take("name:" + name)) {
    delay = std::min(std::chrono::seconds(*wait), login::max_signin_delay);
  }
  std::optional<std::string> previous = cookie_value(request, session_cookie);
  bool secure = secure_cookies(*session);
  // Argon2id takes tens of milliseconds on purpose: not on an event loop.
  run_blocking_after(session, delay, [session, request, name, password, previous, secure, &login] {
    Response response;
    if (!name.empty() && login.accounts.check_password(name, password)) {
      if (previous) login.accounts.revoke(*previous);  // a new sign-in never keeps an older session
      login::Issued issued = login.accounts.issue(login::TokenKind::session, name, login.config.session_ttl_seconds);
      response = no_store_json(request, http::status::ok, R"({"user":)" + json_quote(name) + "}");
      response.set(http::field::set_cookie,
                   set_cookie_value(session_cookie, issued.token,
                                    {.path = "/",
                                     .same_site = "Lax",
                                     .max_age_seconds = static_cast<long>(login.config.session_ttl_seconds),
                                     .secure = secure}));
    } else {
      response = error_response(request, {"bad_credentials", "The name or the password is wrong."});
      response.set(http::field::cache_control, "no-store");
    }
    asio::post(session->get_executor(),
               [session, response = std::move(response)]() mutable { session->send(std::move(response)); });
  });
}

// {"user":..} and, for a browser's session cookie, the CSRF token its state-changing calls need.
std::string caller_json(const Caller& caller) {
  std::string body = R"({"user":)" + json_quote(caller.subject);
  if (caller.by_cookie) body += R"(,"csrf":)" + json_quote(caller.csrf);
  return body + "}";
}

void me(const SessionPtr& session, const Request& request) {
  auto caller = authenticate(*session, request);
  if (!caller) return send_error(session, request, {"unauthorized", "Not signed in."});
  session->send(no_store_json(request, http::status::ok, caller_json(*caller)));
}

// A page's question "is this browser signed in?": 200 either way, `{"user":null}` when not. (GET /me
// answers 401 then, which every browser reports as an error in its console.)
void session_route(const SessionPtr& session, const Request& request) {
  auto caller = authenticate(*session, request);
  session->send(no_store_json(request, http::status::ok, caller ? caller_json(*caller) : R"({"user":null})"));
}

void logout(const SessionPtr& session, const Request& request) {
  auto& login = login_of(*session);
  if (!origin_allowed(*session, request)) return send_error(session, request, origin_refused(*session, request));
  if (cookie_value(request, session_cookie)) {
    // CSRF-checked too: another site must not be able to sign the user out.
    auto caller = require_signed_in_browser(*session, request);
    if (auto* caller_ok = std::get_if<Caller>(&caller)) {
      login.accounts.revoke(caller_ok->token);
    } else if (std::get<Error>(caller).code == "forbidden") {
      return send_error(session, request, std::get<Error>(caller));
    }
  }
  http::response<http::string_body> response{http::status::no_content, request.version()};
  response.set(http::field::server, "herald");
  response.set(http::field::cache_control, "no-store");
  response.set(
      http::field::set_cookie,
      set_cookie_value(session_cookie, "",
                       {.path = "/", .same_site = "Lax", .max_age_seconds = 0, .secure = secure_cookies(*session)}));
  response.keep_alive(request.keep_alive());
  session->send(std::move(response));
}

// An application that authenticates its own users approves a login for one of them.
void approve_for_app(const SessionPtr& session, const Request& request) {
  // Never by address: behind a reverse proxy on the same host every client is on loopback.
  if (auto refused = session->context().admission->approve_logins(session->client(request))) {
    return send_error(session, request, *refused);
  }
  auto body = json_object_body(request);
  if (auto* error = std::get_if<Error>(&body)) return send_error(session, request, *error);
  const auto& object = std::get<boost::json::object>(body);
  std::string user = string_member(object, "user");
  if (user.empty() || user.size() > 256) {
    return send_error(session, request, {"bad_request", "'user' must name the user (1-256 characters)."});
  }
  std::string decision = string_member(object, "decision");
  if (!decision.empty() && decision != "approve" && decision != "deny") {
    return send_error(session, request, {"bad_request", "'decision' must be \"approve\" or \"deny\"."});
  }
  login::Selector which{string_member(object, "id"), string_member(object, "qr"), string_member(object, "user_code")};
  if (which.id.empty() && which.qr_secret.empty() && which.user_code.empty()) {
    return send_error(session, request, {"bad_request", "Name the login by 'id', 'qr' or 'user_code'."});
  }
  auto outcome = login_of(*session).requests.decide_for(which, user, decision != "deny");
  if (auto* refusal = std::get_if<Refusal>(&outcome)) return session->send(refusal_response(request, *refusal));
  session->send(no_store_json(request, http::status::ok, state_json(std::get<State>(outcome))));
}

}  // namespace

bool route_login(const std::shared_ptr<HttpSession>& session, Request& request, const boost::urls::url_view& url) {
  if (session->context().login == nullptr) return false;
  std::string_view path = url.encoded_path();
  const auto method = request.method();
  auto only = [&](http::verb allowed) {
    if (method == allowed) return true;
    session->send(method_not_allowed(request, allowed));
    return false;
  };
  using http::verb;
  if (path == "/login/start") {
    if (only(verb::post)) start_route(session, request);
  } else if (path == "/login/qr.svg") {
    if (only(verb::get)) qr_image(session, request);
  } else if (path == "/login/events") {
    if (only(verb::get)) events(session, std::move(request), url.params());
  } else if (path == "/login/status") {
    if (only(verb::get)) status_route(session, request);
  } else if (path == "/login/exchange") {
    if (only(verb::post)) exchange_route(session, request);
  } else if (path == "/login/cancel") {
    if (only(verb::post)) cancel_route(session, request);
  } else if (path == "/login/approve") {
    if (only(verb::get)) signed_in_page(session, request, "/approve.html");
  } else if (path == "/device") {
    if (only(verb::get)) signed_in_page(session, request, "/device.html");
  } else if (path == "/login/scan") {
    if (only(verb::post)) bind_prompt(session, request, false);
  } else if (path == "/login/device") {
    if (only(verb::post)) bind_prompt(session, request, true);
  } else if (path == "/login/decide") {
    if (only(verb::post)) decide(session, request);
  } else if (path == "/signin") {
    if (only(verb::post)) signin(session, request);
  } else if (path == "/me") {
    if (only(verb::get)) me(session, request);
  } else if (path == "/session") {
    if (only(verb::get)) session_route(session, request);
  } else if (path == "/logout") {
    if (only(verb::post)) logout(session, request);
  } else if (path == "/api/login/approve") {
    if (only(verb::post)) approve_for_app(session, request);
  } else {
    return route_oauth(session, request, url);
  }
  return true;
}

}  // namespace herald
