#include "api/routes.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include "auth/subscribe_token.hpp"
#include "core/channel_name.hpp"
#include "core/publish_rules.hpp"
#include "http/http_session.hpp"
#include "http/origins.hpp"
#include "http/responses.hpp"
#include "login/secrets.hpp"
#include "presence/presence.hpp"
#include "transport/poll.hpp"
#include "transport/sse.hpp"
#include "transport/subscribe_request.hpp"
#include "transport/websocket.hpp"

namespace herald {
namespace {

const Error bad_channel{"bad_channel", "A channel name is 1-128 characters from A-Z a-z 0-9 _ - . : @."};

bool is_json_content(const Request& request) {
  auto type = request[http::field::content_type];
  auto semicolon = type.find(';');
  auto media = type.substr(0, semicolon);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  return beast::iequals(media, "application/json");
}

std::optional<Error> refuse_internal(const ServerContext& context, const std::string& channel) {
  if (!context.config.namespaces.for_channel(channel).internal) return std::nullopt;
  return Error{"forbidden",
               "The channels of namespace " + std::string(namespace_of(channel)) + " are private to herald."};
}

// A browser sends its cookies with a WebSocket upgrade from any site and the Same-Origin Policy does not
// apply to WebSocket: the Origin check is the only thing standing between another site and the socket.
std::optional<Error> refuse_foreign_origin(const HttpSession& session, const Request& request) {
  const Config& config = session.context().config;
  if (origin_acceptable(check_origin(request, config.allowed_origins))) return std::nullopt;
  // Behind a proxy, the public URL the login flow is configured with is herald's own origin too.
  if (!config.login.public_url.empty() && request[http::field::origin] == config.login.public_url) return std::nullopt;
  return Error{"forbidden", "This origin may not open WebSockets or publish as a client (see allowed_origins)."};
}

// Private namespaces want a subscribe token naming the channel (?token=, or Authorization: Bearer).
std::optional<Error> refuse_without_token(const HttpSession& session, const Request& request,
                                          boost::urls::params_view params, const std::string& channel) {
  const Config& config = session.context().config;
  if (!config.namespaces.for_channel(channel).private_channels) return std::nullopt;
  std::string token;
  if (auto it = params.find("token"); it != params.end()) {
    token = (*it).value;
  } else if (auto bearer = bearer_token(request)) {
    token = std::string(*bearer);
  }
  return auth::authorize_private(token, config.token_secret, channel, plain_address(session.remote()).to_string(),
                                 unix_seconds());
}

}  // namespace

std::variant<std::string, Error> authorize_publisher(const HttpSession& session, const Request& request,
                                                     std::string_view space) {
  const Config& config = session.context().config;
  if (config.publish_key.empty() && config.publish_keys.empty()) {
    auto address = plain_address(session.remote());
    if (address.is_loopback()) return "ip:" + address.to_string();
    return Error{"forbidden", "No publish key is configured, so only loopback clients may publish."};
  }
  auto bearer = bearer_token(request);
  if (!bearer) return Error{"unauthorized", "Publishing needs an 'Authorization: Bearer <publish key>' header."};
  auto given = *bearer;
  // Every key is compared, each in time independent of where the first difference is.
  if (!config.publish_key.empty() && login::equal_in_constant_time(given, config.publish_key)) return "key:*";
  for (std::size_t i = 0; i < config.publish_keys.size(); ++i) {
    const PublishKey& key = config.publish_keys[i];
    if (!login::equal_in_constant_time(given, key.key)) continue;
    for (const auto& allowed : key.namespaces) {
      if (allowed == "*" || allowed == space) return "key:" + std::to_string(i);
    }
    return Error{"forbidden", "This publish key may not publish to namespace '" + std::string(space) + "'."};
  }
  return Error{"forbidden", "The publish key is not valid."};
}

std::optional<Error> check_publisher(const HttpSession& session, const Request& request, std::string_view space) {
  auto publisher = authorize_publisher(session, request, space);
  if (auto* error = std::get_if<Error>(&publisher)) return *error;
  RateLimiter* rate = session.context().publish_rate;
  if (rate == nullptr) return std::nullopt;
  if (auto wait = rate->take(std::get<std::string>(publisher))) {
    return Error{"rate_limited",
                 "Too many publishes: at most " + std::to_string(session.context().config.limits.publishes_per_second) +
                     " a second per key (or per address without one). Retry in " + std::to_string(*wait) + " s."};
  }
  return std::nullopt;
}

// A publish without a key, where the namespace lets clients publish (a chat): from a page of an allowed
// origin, limited per address like a /ws client's.
std::optional<Error> check_client_publisher(const HttpSession& session, const Request& request) {
  if (auto refused = refuse_foreign_origin(session, request)) return refused;
  const ServerContext& context = session.context();
  const std::string address = "ip:" + plain_address(session.remote()).to_string();
  for (RateLimiter* rate : {context.publish_rate, context.client_publish_rate}) {
    if (rate == nullptr) continue;
    if (auto wait = rate->take(address)) {
      return Error{"rate_limited", "Too many publishes from this address. Retry in " + std::to_string(*wait) + " s."};
    }
  }
  return std::nullopt;
}

void publish_route(const std::shared_ptr<HttpSession>& session, Request request, std::string channel) {
  const NamespaceSettings& space = session->context().config.namespaces.for_channel(channel);
  const bool as_client = space.client_publish && request[http::field::authorization].empty();
  auto refused =
      as_client ? check_client_publisher(*session, request) : check_publisher(*session, request, namespace_of(channel));
  if (refused) return session->send(error_response(request, *refused));
  if (auto refused = refuse_internal(session->context(), channel)) {
    return session->send(error_response(request, *refused));
  }
  auto parsed = boost::urls::parse_origin_form(request.target());
  std::string event;
  if (auto it = parsed->params().find("event"); it != parsed->params().end()) {
    event = (*it).value;
    if (event.empty()) return session->send(error_response(request, {"bad_event", "The event name is empty."}));
  }
  if (auto refused = refuse_presence_event(space.presence, event)) {
    return session->send(error_response(request, *refused));
  }
  ServerContext& context = session->context();
  auto made =
      make_publish_request(std::move(channel), std::move(event), std::move(request.body()), is_json_content(request),
                           payload_limit(space, context.config.limits.max_payload_bytes));
  if (auto* error = std::get_if<Error>(&made)) return session->send(error_response(request, *error));
  auto publish = std::move(std::get<PublishRequest>(made));
  // Counted before publishing: afterwards, long polls the message answers would already have left.
  auto counts = context.counts.find(publish.channel);
  std::int64_t listening = counts ? counts->total() : 0;
  context.broker.publish(std::move(publish), [session, request = std::move(request), listening](auto outcome) {
    if (auto* error = std::get_if<Error>(&outcome)) return session->send(error_response(request, *error));
    const auto& message = std::get<MessagePtr>(outcome);
    auto body = R"({"channel":")" + message->channel() + R"(","id":")" + message->id() + R"(","subscribers":)" +
                std::to_string(listening) + "}";
    session->send(json_response(request, http::status::created, std::move(body)));
  });
}

void subscribe_route(const std::shared_ptr<HttpSession>& session, Request request, std::string channel,
                     boost::urls::params_view params) {
  if (!is_valid_channel_name(channel)) return session->send(error_response(request, bad_channel));
  if (auto refused = refuse_internal(session->context(), channel)) {
    return session->send(error_response(request, *refused));
  }
  if (auto refused = refuse_without_token(*session, request, params, channel)) {
    return session->send(error_response(request, *refused));
  }
  listen_route(session, std::move(request), std::move(channel), params);
}

void listen_route(const std::shared_ptr<HttpSession>& session, Request request, std::string channel,
                  boost::urls::params_view params) {
  const Transports& offered = session->context().config.transports;
  auto parsed = parse_subscribe_request(request, params, session->context().config.limits);
  if (auto* error = std::get_if<Error>(&parsed)) return session->send(error_response(request, *error));
  SubscribeRequest subscribe = std::get<SubscribeRequest>(std::move(parsed));
  subscribe.channel = std::move(channel);
  if (subscribe.member && !session->context().config.namespaces.for_channel(subscribe.channel).presence) {
    return session->send(error_response(
        request, {"presence_off", "Namespace '" + std::string(namespace_of(subscribe.channel)) +
                                      "' keeps no presence: drop 'client' and 'name' (see [namespace.<name>])."}));
  }
  Presence* presence = session->context().presence;
  // A connection that stays open holds its member; an interval poll extends the member's lease.
  auto hold_member = [&] {
    if (subscribe.member && presence) subscribe.presence = presence->hold(subscribe.channel, *subscribe.member);
  };

  auto disabled = [&](const char* name) {
    session->send(error_response(
        request, {"transport_disabled", std::string("This server does not offer ") + name + " (see [transports])."}));
  };
  if (websocket::is_upgrade(request)) {
    if (!offered.websocket) return disabled("WebSocket");
    if (auto refused = refuse_foreign_origin(*session, request)) {
      return session->send(error_response(request, *refused));
    }
    hold_member();
    return start_websocket(session, request, std::move(subscribe));
  }
  if (accepts_event_stream(request)) {
    if (!offered.sse) return disabled("Server-Sent Events");
    hold_member();
    return start_sse(session, request, std::move(subscribe));
  }
  if (subscribe.wait_seconds > 0 ? !offered.longpoll : !offered.poll) {
    return disabled(subscribe.wait_seconds > 0 ? "long polling" : "interval polling");
  }
  if (subscribe.wait_seconds > 0) {
    hold_member();
  } else if (subscribe.member && presence) {
    presence->touch(subscribe.channel, *subscribe.member);
  }
  serve_poll(session, std::move(request), std::move(subscribe));
}

void multiplex_route(const std::shared_ptr<HttpSession>& session, const Request& request) {
  if (!websocket::is_upgrade(request)) {
    return session->send(
        error_response(request, {"bad_request", "/ws is a WebSocket endpoint: send an Upgrade: websocket request."}));
  }
  if (!session->context().config.transports.websocket) {
    return session->send(error_response(request, {"transport_disabled", "This server does not offer WebSocket."}));
  }
  if (auto refused = refuse_foreign_origin(*session, request)) return session->send(error_response(request, *refused));
  start_websocket(session, request, std::nullopt);
}

void channel_info_route(const std::shared_ptr<HttpSession>& session, const Request& request,
                        const std::string& channel) {
  if (!is_valid_channel_name(channel)) return session->send(error_response(request, bad_channel));
  ServerContext& context = session->context();
  context.broker.info(channel, [session, request, channel](std::variant<ChannelInfo, Error> outcome) {
    if (auto* error = std::get_if<Error>(&outcome)) return session->send(error_response(request, *error));
    const ChannelInfo& info = std::get<ChannelInfo>(outcome);
    auto counts = session->context().counts.find(channel);
    auto count = [&](Transport t) {
      return std::to_string(counts ? counts->by_transport[static_cast<std::size_t>(t)].load() : 0);
    };
    std::string body = R"({"channel":")" + channel + R"(","last_id":)" +
                       (info.last_id ? json_quote(format_cursor(*info.last_id)) : "null") + R"(,"history":)" +
                       std::to_string(info.kept) + R"(,"subscribers":{"websocket":)" + count(Transport::websocket) +
                       R"(,"sse":)" + count(Transport::sse) + R"(,"longpoll":)" + count(Transport::longpoll) + "}}";
    session->send(json_response(request, http::status::ok, std::move(body)));
  });
}

namespace {

void answer_presence(HttpSession& session, const Request& request, const std::string& channel,
                     std::variant<PresenceList, Error> outcome) {
  if (auto* error = std::get_if<Error>(&outcome)) return session.send(error_response(request, *error));
  const auto& list = std::get<PresenceList>(outcome);
  boost::json::array members;
  for (const auto& member : list.members) {
    members.push_back({{"client", member.client}, {"name", member.name}});
  }
  boost::json::object body{{"channel", channel},
                           {"count", list.count},
                           {"members", std::move(members)},
                           {"truncated", list.count > list.members.size()}};
  session.send(json_response(request, http::status::ok, boost::json::serialize(body)));
}

}  // namespace

void presence_route(const std::shared_ptr<HttpSession>& session, const Request& request, const std::string& channel,
                    boost::urls::params_view params) {
  if (!is_valid_channel_name(channel)) return session->send(error_response(request, bad_channel));
  ServerContext& context = session->context();
  if (auto refused = refuse_internal(context, channel)) return session->send(error_response(request, *refused));
  if (!context.config.namespaces.for_channel(channel).presence) {
    return session->send(error_response(
        request, {"presence_off", "Namespace '" + std::string(namespace_of(channel)) + "' keeps no presence."}));
  }
  if (auto refused = refuse_without_token(*session, request, params, channel)) {
    return session->send(error_response(request, *refused));
  }
  context.broker.presence_list(channel, context.config.limits.presence_list_limit,
                               [session, request, channel](std::variant<PresenceList, Error> outcome) {
                                 answer_presence(*session, request, channel, std::move(outcome));
                               });
}

}  // namespace herald
