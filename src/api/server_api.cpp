#include "api/server_api.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/pct_string_view.hpp>
#include <map>

#include "access/admission.hpp"
#include "api/login_support.hpp"
#include "core/channel_name.hpp"
#include "http/http_session.hpp"
#include "http/responses.hpp"

namespace herald {
namespace {

constexpr std::size_t max_user_bytes = 256;  // as a connection token's `sub`

// The body's "user": a connection token's `sub`.
std::variant<std::string, Error> user_of(const boost::json::object& body) {
  std::string user = string_member(body, "user");
  if (user.empty() || user.size() > max_user_bytes) {
    return Error{"bad_request", "\"user\" is the 'sub' of the user's connection tokens: a string of 1-256 bytes."};
  }
  return user;
}

// Publishes `command` on the control channel and answers `body` once the broker took it.
void send_command(const std::shared_ptr<HttpSession>& session, const Request& request, std::string command,
                  std::string body) {
  session->context().broker.control(
      std::move(command), [session, request, body = std::move(body)](std::variant<std::size_t, Error> outcome) {
        if (auto* failed = std::get_if<Error>(&outcome)) return session->send(error_response(request, *failed));
        session->send(json_response(request, http::status::ok, body));
      });
}

// POST /api/disconnect {"user":…}: every connection of the user, on every node, ends.
void disconnect_route(const std::shared_ptr<HttpSession>& session, const Request& request) {
  if (auto refused = session->context().admission->administer(session->client(request), "*")) {
    return session->send(error_response(request, *refused));
  }
  auto body = json_object_body(request);
  if (auto* error = std::get_if<Error>(&body)) return session->send(error_response(request, *error));
  auto user = user_of(std::get<boost::json::object>(body));
  if (auto* error = std::get_if<Error>(&user)) return session->send(error_response(request, *error));
  const std::string& who = std::get<std::string>(user);
  send_command(session, request, disconnect_command(who),
               boost::json::serialize(boost::json::object{{"user", who}, {"disconnected", true}}));
}

// POST /api/unsubscribe {"user":…,"channel":…}: the user stops hearing the channel, on every node.
void unsubscribe_route(const std::shared_ptr<HttpSession>& session, const Request& request) {
  auto body = json_object_body(request);
  if (auto* error = std::get_if<Error>(&body)) return session->send(error_response(request, *error));
  const auto& object = std::get<boost::json::object>(body);
  std::string channel = string_member(object, "channel");
  if (!is_valid_channel_name(channel)) {
    return session->send(
        error_response(request, {"bad_channel", "\"channel\" is 1-128 characters from A-Z a-z 0-9 _ - . : @."}));
  }
  if (auto refused = session->context().admission->administer(session->client(request), namespace_of(channel))) {
    return session->send(error_response(request, *refused));
  }
  auto user = user_of(object);
  if (auto* error = std::get_if<Error>(&user)) return session->send(error_response(request, *error));
  const std::string& who = std::get<std::string>(user);
  send_command(
      session, request, unsubscribe_command(who, channel),
      boost::json::serialize(boost::json::object{{"user", who}, {"channel", channel}, {"unsubscribed", true}}));
}

// Sums each node's {"websocket":n,"sse":n,"longpoll":n} at `key` into `into`.
void add_counts(boost::json::object& into, const boost::json::value& counts) {
  if (!counts.is_object()) return;
  for (const auto& [transport, n] : counts.as_object()) {
    if (!n.is_int64()) continue;
    auto& slot = into[transport];
    slot = (slot.is_int64() ? slot.as_int64() : 0) + n.as_int64();
  }
}

std::int64_t total_of(const boost::json::object& counts) {
  std::int64_t total = 0;
  for (const auto& [transport, n] : counts) total += n.is_int64() ? n.as_int64() : 0;
  return total;
}

boost::json::object zero_counts() { return {{"websocket", 0}, {"sse", 0}, {"longpoll", 0}}; }

// Asks every node and answers with what `merge` makes of their answers (each a JSON object).
template <class Merge>
void ask_cluster(const std::shared_ptr<HttpSession>& session, const Request& request, const boost::json::object& query,
                 Merge merge) {
  session->context().ask_cluster(
      boost::json::serialize(query),
      [session, request, merge = std::move(merge)](std::variant<std::vector<std::string>, Error> outcome) {
        if (auto* error = std::get_if<Error>(&outcome)) return session->send(error_response(request, *error));
        std::vector<boost::json::object> answers;
        for (const auto& text : std::get<std::vector<std::string>>(outcome)) {
          boost::system::error_code ec;
          auto value = boost::json::parse(text, ec);
          if (!ec && value.is_object()) answers.push_back(std::move(value.as_object()));
        }
        boost::json::object body = merge(answers);
        body["nodes"] = answers.size();
        session->send(json_response(request, http::status::ok, boost::json::serialize(body)));
      });
}

// GET /api/users/{user}: the user's connections on every node, by transport.
void user_route(const std::shared_ptr<HttpSession>& session, const Request& request, const std::string& user) {
  if (auto refused = session->context().admission->administer(session->client(request), "*")) {
    return session->send(error_response(request, *refused));
  }
  if (user.empty() || user.size() > max_user_bytes) {
    return session->send(error_response(request, {"bad_request", "The user is 1-256 bytes (a token's 'sub')."}));
  }
  ask_cluster(session, request, {{"what", "user"}, {"user", user}},
              [user](const std::vector<boost::json::object>& answers) {
                boost::json::object connections = zero_counts();
                for (const auto& answer : answers) {
                  if (auto* counts = answer.if_contains("connections")) add_counts(connections, *counts);
                }
                const std::int64_t total = total_of(connections);
                return boost::json::object{{"user", user}, {"connections", std::move(connections)}, {"total", total}};
              });
}

// GET /api/channels?prefix=&after=&limit=: channels with listeners on any node, by name, a page at a time.
void channels_route(const std::shared_ptr<HttpSession>& session, const Request& request,
                    boost::urls::params_view params) {
  if (auto refused = session->context().admission->administer(session->client(request), "*")) {
    return session->send(error_response(request, *refused));
  }
  std::string prefix, after;
  std::size_t limit = 100;
  if (auto it = params.find("prefix"); it != params.end()) prefix = (*it).value;
  if (auto it = params.find("after"); it != params.end()) after = (*it).value;
  if (auto it = params.find("limit"); it != params.end()) {
    std::string text = (*it).value;
    if (text.empty() || text.size() > 4 || text.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(text) == 0 || std::stoul(text) > 1000) {
      return session->send(error_response(request, {"bad_parameter", "'limit' is 1-1000."}));
    }
    limit = std::stoul(text);
  }
  // Each node answers its first `limit` after `after`; the first `limit` of their union are the
  // cluster's (a node's channel in that page is within its own first `limit`).
  const Config& config = session->context().config;
  ask_cluster(
      session, request, {{"what", "channels"}, {"prefix", prefix}, {"after", after}, {"limit", limit}},
      [limit, &config](const std::vector<boost::json::object>& answers) {
        std::map<std::string, boost::json::object> merged;
        for (const auto& answer : answers) {
          const auto* channels = answer.if_contains("channels");
          if (channels == nullptr || !channels->is_object()) continue;
          for (const auto& [name, counts] : channels->as_object()) {
            std::string channel(name);
            if (config.namespaces.for_channel(channel).internal) continue;  // herald's own
            auto [slot, fresh] = merged.try_emplace(channel, zero_counts());
            add_counts(slot->second, counts);
          }
        }
        boost::json::array page;
        for (auto& [name, counts] : merged) {
          if (page.size() == limit) break;
          const std::int64_t total = total_of(counts);
          page.push_back(boost::json::object{{"channel", name}, {"subscribers", std::move(counts)}, {"total", total}});
        }
        boost::json::value next = nullptr;
        if (page.size() == limit) next = page.back().as_object().at("channel");
        return boost::json::object{{"channels", std::move(page)}, {"next", next}};
      });
}

}  // namespace

std::string disconnect_command(const std::string& user) {
  return boost::json::serialize(boost::json::object{{"op", "disconnect"}, {"user", user}});
}

std::string unsubscribe_command(const std::string& user, const std::string& channel) {
  return boost::json::serialize(boost::json::object{{"op", "unsubscribe"}, {"user", user}, {"channel", channel}});
}

bool route_server_api(const std::shared_ptr<HttpSession>& session, Request& request, const boost::urls::url_view& url) {
  std::string_view path = url.encoded_path();
  auto only_post = [&] {
    if (request.method() == http::verb::post) return true;
    session->send(method_not_allowed(request, http::verb::post));
    return false;
  };
  auto only_get = [&] {
    if (request.method() == http::verb::get) return true;
    session->send(method_not_allowed(request, http::verb::get));
    return false;
  };
  constexpr std::string_view users = "/api/users/";
  if (path == "/api/disconnect") {
    if (only_post()) disconnect_route(session, request);
  } else if (path == "/api/unsubscribe") {
    if (only_post()) unsubscribe_route(session, request);
  } else if (path == "/api/channels") {
    if (only_get()) channels_route(session, request, url.params());
  } else if (path.starts_with(users)) {
    auto user = boost::urls::make_pct_string_view(path.substr(users.size()));
    if (only_get()) user_route(session, request, user ? user->decode() : std::string());
  } else {
    return false;  // /api/login/approve is the login's; anything else is not found by the router
  }
  return true;
}

}  // namespace herald
