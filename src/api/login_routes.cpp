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
#include "login/passwords.hpp"
#include "login/qr_svg.hpp"

namespace herald {
namespace {

using login::Answer;
using login::Limit;
using login::Refusal;
using login::State;

using SessionPtr = std::shared_ptr<HttpSession>;
// A request the answer waits on the login store for (with Redis, an answer comes later on this loop).
using RequestPtr = std::shared_ptr<const Request>;

void send_error(const SessionPtr& session, const Request& request, const Error& error) {
  session->send(error_response(request, error));
}

void send_refusal(const SessionPtr& session, const Request& request, const Refusal& refusal) {
  session->send(refusal_response(request, refusal));
}

// A take() the store refused: past the limit, `limited(seconds)` is the 429; the store away, a 503.
template <typename Limited>
void refuse_take(const SessionPtr& session, const Request& request, const Refusal& refusal, Limited limited) {
  if (refusal.code == "rate_limited") return session->send(limited(refusal.retry_after));
  send_refusal(session, request, refusal);
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

// The store's `unauthorized` for a poll secret is no_login (with its WWW-Authenticate); anything else as it is.
void refuse_poll_secret(const SessionPtr& session, const Request& request, const Refusal& refusal) {
  if (refusal.code == "unauthorized") return send_error(session, request, no_login);
  send_refusal(session, request, refusal);
}

// ---------------------------------------------------------------------------------------------
// The waiting screen

void start_route(const SessionPtr& session, const RequestPtr& request) {
  auto& login = login_of(*session);
  if (!origin_allowed(*session, *request)) return send_error(session, *request, origin_refused(*session, *request));
  std::string ip = client_ip(*session);
  login.store->take(Limit::starts, {"ip:" + ip}, [session, request, ip](Answer<login::Done> taken) {
    auto& login = login_of(*session);
    if (auto* refusal = std::get_if<Refusal>(&taken)) {
      return refuse_take(session, *request, *refusal,
                         [&](unsigned wait) { return too_many_starts(*request, wait, login); });
    }
    login::Requester requester{
        login::describe_user_agent((*request)[http::field::user_agent]), ip,
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count()};
    login.store->start(login::Flow::qr, std::move(requester), {}, [session, request](Answer<login::Started> made) {
      if (auto* refusal = std::get_if<Refusal>(&made)) return send_refusal(session, *request, *refusal);
      const auto& started = std::get<login::Started>(made);
      std::string qr_url = base_url(*session, *request) + "/login/approve?c=" + started.qr_secret;
      std::string body = R"({"id":)" + json_quote(started.id) + R"(,"qr_url":)" + json_quote(qr_url) +
                         R"(,"user_code":)" + json_quote(started.user_code) + R"(,"match_number":)" +
                         std::to_string(started.match_number) + R"(,"expires_in":)" +
                         std::to_string(started.expires_in) + R"(,"interval":)" + std::to_string(started.interval) +
                         R"(,"events":"/login/events"})";
      Response response = json_response(*request, http::status::created, std::move(body));
      response.set(http::field::set_cookie, set_cookie_value(login_cookie, started.poll_secret,
                                                             {.path = "/login",
                                                              .same_site = "Strict",
                                                              .max_age_seconds = static_cast<long>(started.expires_in),
                                                              .secure = secure_cookies(*session)}));
      session->send(std::move(response));
    });
  });
}

void qr_image(const SessionPtr& session, const RequestPtr& request) {
  login_of(*session).store->qr_secret(screen_cookie_of(*request), [session, request](Answer<std::string> secret) {
    if (auto* refusal = std::get_if<Refusal>(&secret)) return send_refusal(session, *request, *refusal);
    http::response<http::string_body> response{http::status::ok, request->version()};
    response.set(http::field::server, "herald");
    response.set(http::field::content_type, "image/svg+xml");
    response.body() = login::qr_svg(base_url(*session, *request) + "/login/approve?c=" + std::get<std::string>(secret));
    response.keep_alive(request->keep_alive());
    response.prepare_payload();
    session->send(std::move(response));
  });
}

// The screen's cookie (or a device code) names its request; the request's channel is then heard exactly
// as /sub/{channel} is.
void events(const SessionPtr& session, Request request) {
  auto secret = poll_secret_of(request);
  auto held = std::make_shared<Request>(std::move(request));
  login_of(*session).store->status(std::move(secret), [session, held](Answer<login::Status> status) {
    if (auto* refusal = std::get_if<Refusal>(&status)) return refuse_poll_secret(session, *held, *refusal);
    // Cross-site WebSocket hijacking: a browser sends the cookie with any page's upgrade, so check Origin.
    if (websocket::is_upgrade(*held) && !origin_allowed(*session, *held)) {
      return send_error(session, *held, origin_refused(*session, *held));
    }
    std::string target(held->target());  // the parameters' view must outlive the request, which moves on
    auto params = boost::urls::parse_origin_form(target)->params();
    listen_route(session, std::move(*held), login::events_channel(std::get<login::Status>(status).id), params);
  });
}

void status_route(const SessionPtr& session, const RequestPtr& request) {
  login_of(*session).store->status(poll_secret_of(*request), [session, request](Answer<login::Status> found) {
    if (auto* refusal = std::get_if<Refusal>(&found)) return refuse_poll_secret(session, *request, *refusal);
    const auto& status = std::get<login::Status>(found);
    std::string reason = status.reason.empty() ? "" : R"(,"reason":)" + json_quote(status.reason);
    session->send(json_response(*request, http::status::ok,
                                R"({"id":)" + json_quote(status.id) + R"(,"state":")" +
                                    std::string(login::state_name(status.state)) + "\"" + reason + R"(,"expires_in":)" +
                                    std::to_string(status.expires_in) + "}"));
  });
}

// Always a brand-new session: whatever session cookie the browser had (planted or not) is not promoted.
void exchange_route(const SessionPtr& session, const RequestPtr& request) {
  if (!origin_allowed(*session, *request)) return send_error(session, *request, origin_refused(*session, *request));
  login_of(*session).store->exchange(screen_cookie_of(*request), [session, request](Answer<login::Grant> outcome) {
    if (auto* refusal = std::get_if<Refusal>(&outcome)) return send_refusal(session, *request, *refusal);
    const auto& grant = std::get<login::Grant>(outcome);
    auto& login = login_of(*session);
    Response response = json_response(*request, http::status::ok, R"({"user":)" + json_quote(grant.subject) + "}");
    bool secure = secure_cookies(*session);
    response.insert(http::field::set_cookie,
                    set_cookie_value(session_cookie, grant.issued.token,
                                     {.path = "/",
                                      .same_site = "Lax",
                                      .max_age_seconds = static_cast<long>(login.config.session_ttl_seconds),
                                      .secure = secure}));
    response.insert(http::field::set_cookie,
                    set_cookie_value(login_cookie, "", {.path = "/login", .max_age_seconds = 0, .secure = secure}));
    session->send(std::move(response));
  });
}

void cancel_route(const SessionPtr& session, const RequestPtr& request) {
  if (!origin_allowed(*session, *request)) return send_error(session, *request, origin_refused(*session, *request));
  login_of(*session).store->cancel(screen_cookie_of(*request), [session, request](Answer<State> outcome) {
    if (auto* refusal = std::get_if<Refusal>(&outcome)) return send_refusal(session, *request, *refusal);
    session->send(json_response(*request, http::status::ok, state_json(std::get<State>(outcome))));
  });
}

// ---------------------------------------------------------------------------------------------
// The approving device

// A page for signed-in users only; signed-out visitors sign in first and come back.
void signed_in_page(const SessionPtr& session, const RequestPtr& request, std::string_view file) {
  authenticate(*session, *request, [session, request, file](std::variant<Caller, Error> caller) {
    if (auto* error = std::get_if<Error>(&caller); error && error->code != "unauthorized") {
      return send_error(session, *request, *error);
    }
    if (std::holds_alternative<Error>(caller)) {
      http::response<http::string_body> redirect{http::status::see_other, request->version()};
      redirect.set(http::field::server, "herald");
      std::string back = std::string(request->target());
      redirect.set(http::field::location,
                   "/signin.html?next=" + boost::urls::encode(back, boost::urls::unreserved_chars));
      redirect.set("Referrer-Policy", "no-referrer");
      redirect.keep_alive(request->keep_alive());
      redirect.prepare_payload();
      return session->send(std::move(redirect));
    }
    Response page = serve_static_file(session->context().config.web_root, *request, file);
    page.set("Referrer-Policy", "no-referrer");  // the QR secret is in this page's URL
    session->send(std::move(page));
  });
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
void bind_prompt(const SessionPtr& session, const RequestPtr& request, bool typed) {
  require_signed_in_browser(*session, *request, [session, request, typed](std::variant<Caller, Error> caller) {
    if (auto* error = std::get_if<Error>(&caller)) return send_error(session, *request, *error);
    std::string subject = std::get<Caller>(caller).subject;
    auto body = json_object_body(*request);
    if (auto* error = std::get_if<Error>(&body)) return send_error(session, *request, *error);
    std::string code = string_member(std::get<boost::json::object>(body), typed ? "user_code" : "c");
    auto& login = login_of(*session);
    // Every code tried counts here, right or wrong: this is what bounds guessing (docs/login.md).
    login.store->take(
        Limit::code_attempts, {"account:" + subject, "ip:" + client_ip(*session)},
        [session, request, typed, subject, code](Answer<login::Done> taken) {
          auto& login = login_of(*session);
          if (auto* refusal = std::get_if<Refusal>(&taken)) {
            return refuse_take(session, *request, *refusal, [&](unsigned wait) {
              return rate_limited(*request, wait, "code_attempts_per_minute",
                                  "Too many codes were tried: " + per_minute(login.config.code_attempts_per_minute,
                                                                             "for each account and each address"));
            });
          }
          // Only a good code makes a prompt, and only prompts count against prompts_per_minute (a flood of
          // them is push-bombing); the store checks it before anything is bound, so a refused prompt leaves
          // the request as it was.
          auto prompted = [session, request](Answer<login::Prompt> outcome) {
            auto& login = login_of(*session);
            if (auto* refusal = std::get_if<Refusal>(&outcome)) {
              return refuse_take(session, *request, *refusal, [&](unsigned wait) {
                return rate_limited(*request, wait, "prompts_per_minute",
                                    "This account was asked to approve too many sign-ins: " +
                                        per_minute(login.config.prompts_per_minute, "for each account"));
              });
            }
            session->send(json_response(*request, http::status::ok, prompt_json(std::get<login::Prompt>(outcome))));
          };
          if (typed) return login.store->enter_code(code, subject, std::move(prompted));
          login.store->scan(code, subject, std::move(prompted));
        });
  });
}

void decide(const SessionPtr& session, const RequestPtr& request) {
  require_signed_in_browser(*session, *request, [session, request](std::variant<Caller, Error> caller) {
    if (auto* error = std::get_if<Error>(&caller)) return send_error(session, *request, *error);
    auto body = json_object_body(*request);
    if (auto* error = std::get_if<Error>(&body)) return send_error(session, *request, *error);
    const auto& object = std::get<boost::json::object>(body);
    std::string decision = string_member(object, "decision");
    if (decision != "approve" && decision != "deny") {
      return send_error(session, *request, {"bad_request", "'decision' must be \"approve\" or \"deny\"."});
    }
    std::optional<int> number;
    if (auto it = object.find("number"); it != object.end() && it->value().is_int64()) {
      number = static_cast<int>(it->value().as_int64());
    }
    login_of(*session).store->decide(
        string_member(object, "id"), std::get<Caller>(caller).subject, decision == "approve", number,
        [session, request](Answer<State> outcome) {
          if (auto* refusal = std::get_if<Refusal>(&outcome)) {
            return send_refusal(session, *request, *refusal);
          }
          session->send(json_response(*request, http::status::ok, state_json(std::get<State>(outcome))));
        });
  });
}

// ---------------------------------------------------------------------------------------------
// Accounts and sessions

// Runs `work` on this connection's loop after `delay` (zero: at once); no event loop waits meanwhile.
void run_after(const SessionPtr& session, std::chrono::seconds delay, std::function<void()> work) {
  if (delay.count() == 0) return work();
  auto timer = std::make_shared<asio::steady_timer>(session->get_executor(), delay);
  timer->async_wait([timer, work = std::move(work)](error_code ec) {
    if (!ec) work();
  });
}

Response signed_in(const SessionPtr& session, const Request& request, const std::string& name,
                   const login::Issued& issued) {
  auto& login = login_of(*session);
  Response response = json_response(request, http::status::ok, R"({"user":)" + json_quote(name) + "}");
  response.set(http::field::set_cookie,
               set_cookie_value(session_cookie, issued.token,
                                {.path = "/",
                                 .same_site = "Lax",
                                 .max_age_seconds = static_cast<long>(login.config.session_ttl_seconds),
                                 .secure = secure_cookies(*session)}));
  return response;
}

// The password was right: a new session, and never an older one kept (a session cookie the browser sent
// is ended first).
void open_session(const SessionPtr& session, const RequestPtr& request, const std::string& name) {
  auto& login = login_of(*session);
  auto issue = [session, request, name] {
    login_of(*session).store->issue(
        login::TokenKind::session, name, [session, request, name](Answer<login::Issued> issued) {
          if (auto* refusal = std::get_if<Refusal>(&issued)) {
            return send_refusal(session, *request, *refusal);
          }
          session->send(signed_in(session, *request, name, std::get<login::Issued>(issued)));
        });
  };
  auto previous = cookie_value(*request, session_cookie);
  if (!previous) return issue();
  login.store->revoke(*previous, [session, request, issue](Answer<login::Done> revoked) {
    if (auto* refusal = std::get_if<Refusal>(&revoked)) return send_refusal(session, *request, *refusal);
    issue();
  });
}

// Checks the password (Argon2id takes tens of milliseconds on purpose: on the blocking pool, not on an
// event loop), then answers on this connection's loop.
void check_password(const SessionPtr& session, const RequestPtr& request, const std::string& name,
                    std::string password) {
  login_of(*session).store->password_hash(
      name, [session, request, name, password = std::move(password)](Answer<std::string> stored) mutable {
        if (auto* refusal = std::get_if<Refusal>(&stored)) return send_refusal(session, *request, *refusal);
        login_of(*session).run_blocking([session, request, name, password = std::move(password),
                                         stored = std::get<std::string>(std::move(stored))] {
          bool right = !name.empty() && login::verify_password(stored, password);
          asio::post(session->get_executor(), [session, request, name, right] {
            if (right) return open_session(session, request, name);
            send_error(session, *request, {"bad_credentials", "The name or the password is wrong."});
          });
        });
      });
}

void signin(const SessionPtr& session, const RequestPtr& request) {
  auto& login = login_of(*session);
  if (!origin_allowed(*session, *request)) return send_error(session, *request, origin_refused(*session, *request));
  auto body = json_object_body(*request);
  if (auto* error = std::get_if<Error>(&body)) return send_error(session, *request, *error);
  std::string name = string_member(std::get<boost::json::object>(body), "name");
  std::string password = string_member(std::get<boost::json::object>(body), "password");
  // Guessing is refused per address. Per name it is only slowed: strangers guessing alice's password
  // from elsewhere must not lock alice out (docs/login.md, "Abuse limits").
  login.store->take(
      Limit::signins, {"ip:" + client_ip(*session)},
      [session, request, name, password](Answer<login::Done> taken) mutable {
        auto& login = login_of(*session);
        if (auto* refusal = std::get_if<Refusal>(&taken)) {
          return refuse_take(session, *request, *refusal, [&](unsigned wait) {
            return rate_limited(*request, wait, "signins_per_minute",
                                "Too many sign-in attempts from this address: " +
                                    per_minute(login.config.signins_per_minute, "for each address"));
          });
        }
        std::string name_key = "name:" + name;  // before `name` moves into the continuation
        login.store->take(
            Limit::signins, {std::move(name_key)},
            [session, request, name = std::move(name), password = std::move(password)](Answer<login::Done> taken) {
              std::chrono::seconds delay{0};
              if (auto* refusal = std::get_if<Refusal>(&taken)) {
                if (refusal->code != "rate_limited") return send_refusal(session, *request, *refusal);
                delay = std::min(std::chrono::seconds(refusal->retry_after), login::max_signin_delay);
              }
              run_after(session, delay,
                        [session, request, name, password] { check_password(session, request, name, password); });
            });
      });
}

// {"user":..} and, for a browser's session cookie, the CSRF token its state-changing calls need.
std::string caller_json(const Caller& caller) {
  std::string body = R"({"user":)" + json_quote(caller.subject);
  if (caller.by_cookie) body += R"(,"csrf":)" + json_quote(caller.csrf);
  return body + "}";
}

void me(const SessionPtr& session, const RequestPtr& request) {
  authenticate(*session, *request, [session, request](std::variant<Caller, Error> caller) {
    if (auto* error = std::get_if<Error>(&caller)) return send_error(session, *request, *error);
    session->send(json_response(*request, http::status::ok, caller_json(std::get<Caller>(caller))));
  });
}

// A page's question "is this browser signed in?": 200 either way, `{"user":null}` when not. (GET /me
// answers 401 then, which every browser reports as an error in its console.)
void session_route(const SessionPtr& session, const RequestPtr& request) {
  authenticate(*session, *request, [session, request](std::variant<Caller, Error> caller) {
    if (auto* error = std::get_if<Error>(&caller); error && error->code != "unauthorized") {
      return send_error(session, *request, *error);  // the store is away: say so, not "signed out"
    }
    auto* who = std::get_if<Caller>(&caller);
    session->send(json_response(*request, http::status::ok, who ? caller_json(*who) : R"({"user":null})"));
  });
}

void logout(const SessionPtr& session, const RequestPtr& request) {
  if (!origin_allowed(*session, *request)) return send_error(session, *request, origin_refused(*session, *request));
  auto done = [session, request] {
    http::response<http::string_body> response{http::status::no_content, request->version()};
    response.set(http::field::server, "herald");
    response.set(
        http::field::set_cookie,
        set_cookie_value(session_cookie, "",
                         {.path = "/", .same_site = "Lax", .max_age_seconds = 0, .secure = secure_cookies(*session)}));
    response.keep_alive(request->keep_alive());
    session->send(std::move(response));
  };
  if (!cookie_value(*request, session_cookie)) return done();
  // CSRF-checked too: another site must not be able to sign the user out.
  require_signed_in_browser(*session, *request, [session, request, done](std::variant<Caller, Error> caller) {
    if (auto* error = std::get_if<Error>(&caller)) {
      if (error->code == "unauthorized") return done();  // no such session: nothing to end
      return send_error(session, *request, *error);
    }
    login_of(*session).store->revoke(std::get<Caller>(caller).token,
                                     [session, request, done](Answer<login::Done> revoked) {
                                       if (auto* refusal = std::get_if<Refusal>(&revoked)) {
                                         return send_refusal(session, *request, *refusal);
                                       }
                                       done();
                                     });
  });
}

// An application that authenticates its own users approves a login for one of them.
void approve_for_app(const SessionPtr& session, const RequestPtr& request) {
  // Never by address: behind a reverse proxy on the same host every client is on loopback.
  if (auto refused = session->context().admission->approve_logins(session->client(*request))) {
    return send_error(session, *request, *refused);
  }
  auto body = json_object_body(*request);
  if (auto* error = std::get_if<Error>(&body)) return send_error(session, *request, *error);
  const auto& object = std::get<boost::json::object>(body);
  std::string user = string_member(object, "user");
  if (user.empty() || user.size() > 256) {
    return send_error(session, *request, {"bad_request", "'user' must name the user (1-256 characters)."});
  }
  std::string decision = string_member(object, "decision");
  if (!decision.empty() && decision != "approve" && decision != "deny") {
    return send_error(session, *request, {"bad_request", "'decision' must be \"approve\" or \"deny\"."});
  }
  login::Selector which{string_member(object, "id"), string_member(object, "qr"), string_member(object, "user_code")};
  if (which.id.empty() && which.qr_secret.empty() && which.user_code.empty()) {
    return send_error(session, *request, {"bad_request", "Name the login by 'id', 'qr' or 'user_code'."});
  }
  login_of(*session).store->decide_for(
      std::move(which), user, decision != "deny", [session, request](Answer<State> outcome) {
        if (auto* refusal = std::get_if<Refusal>(&outcome)) {
          return send_refusal(session, *request, *refusal);
        }
        session->send(json_response(*request, http::status::ok, state_json(std::get<State>(outcome))));
      });
}

}  // namespace

bool route_login(const std::shared_ptr<HttpSession>& session, Request& request, const boost::urls::url_view& url) {
  if (session->context().login == nullptr) return false;
  session->answer_privately(true);  // every answer below carries a secret or someone's state
  std::string_view path = url.encoded_path();
  const auto method = request.method();
  auto only = [&](http::verb allowed) {
    if (method == allowed) return true;
    session->send(method_not_allowed(request, allowed));
    return false;
  };
  using http::verb;
  if (path == "/login/events") {
    if (only(verb::get)) events(session, std::move(request));
    return true;
  }
  auto held = [&request] { return std::make_shared<const Request>(std::move(request)); };
  if (path == "/login/start") {
    if (only(verb::post)) start_route(session, held());
  } else if (path == "/login/qr.svg") {
    if (only(verb::get)) qr_image(session, held());
  } else if (path == "/login/status") {
    if (only(verb::get)) status_route(session, held());
  } else if (path == "/login/exchange") {
    if (only(verb::post)) exchange_route(session, held());
  } else if (path == "/login/cancel") {
    if (only(verb::post)) cancel_route(session, held());
  } else if (path == "/login/approve") {
    if (only(verb::get)) signed_in_page(session, held(), "/approve.html");
  } else if (path == "/device") {
    if (only(verb::get)) signed_in_page(session, held(), "/device.html");
  } else if (path == "/login/scan") {
    if (only(verb::post)) bind_prompt(session, held(), false);
  } else if (path == "/login/device") {
    if (only(verb::post)) bind_prompt(session, held(), true);
  } else if (path == "/login/decide") {
    if (only(verb::post)) decide(session, held());
  } else if (path == "/signin") {
    if (only(verb::post)) signin(session, held());
  } else if (path == "/me") {
    if (only(verb::get)) me(session, held());
  } else if (path == "/session") {
    if (only(verb::get)) session_route(session, held());
  } else if (path == "/logout") {
    if (only(verb::post)) logout(session, held());
  } else if (path == "/api/login/approve") {
    if (only(verb::post)) approve_for_app(session, held());
  } else if (!route_oauth(session, request, url)) {
    session->answer_privately(false);
    return false;
  }
  return true;
}

}  // namespace herald
