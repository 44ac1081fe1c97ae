#include "api/routes.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse.hpp>

#include "access/admission.hpp"
#include "access/user_connections.hpp"
#include "core/channel_name.hpp"
#include "core/publish_rules.hpp"
#include "core/subscriber_counts.hpp"
#include "http/http_session.hpp"
#include "http/origins.hpp"
#include "http/responses.hpp"
#include "presence/presence.hpp"
#include "transport/poll.hpp"
#include "transport/sse.hpp"
#include "transport/subscribe_request.hpp"
#include "transport/websocket.hpp"

namespace herald {
namespace {

const Error foreign_origin{"forbidden",
                           "This origin may not open WebSockets or publish as a client (see allowed_origins)."};

bool is_json_content(const Request& request) {
  auto type = request[http::field::content_type];
  auto semicolon = type.find(';');
  auto media = type.substr(0, semicolon);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  return beast::iequals(media, "application/json");
}

// Whether the request will stay open (WebSocket, SSE, a long poll): only those count as a user's
// connections; an interval poll answers at once.
bool holds_connection(const Request& request, boost::urls::params_view params) {
  if (websocket::is_upgrade(request) || accepts_event_stream(request)) return true;
  auto wait = params.find("wait");
  return wait != params.end() && !(*wait).value.empty() && (*wait).value.find_first_not_of('0') != std::string::npos;
}

}  // namespace

void publish_route(const std::shared_ptr<HttpSession>& session, Request request, std::string channel,
                   boost::urls::params_view params) {
  ServerContext& context = session->context();
  std::string event;
  if (auto it = params.find("event"); it != params.end()) {
    event = (*it).value;
    if (event.empty()) return session->send(error_response(request, {"bad_event", "The event name is empty."}));
  }
  // A client's publish token (private namespaces) comes as ?token=: Authorization carries publish keys.
  std::string token;
  if (auto it = params.find("token"); it != params.end()) token = (*it).value;
  if (auto refused = context.admission->publish(session->client(request), channel, event, token)) {
    return session->send(error_response(request, *refused));
  }
  const std::size_t limit = context.admission->payload_limit(channel);
  auto made = make_publish_request(std::move(channel), std::move(event), std::move(request.body()),
                                   is_json_content(request), limit);
  if (auto* error = std::get_if<Error>(&made)) return session->send(error_response(request, *error));
  auto publish = std::move(std::get<PublishRequest>(made));
  std::string keyed_channel;  // only a keyed publish can be answered without its message: it names the channel
  if (auto key = request.find("Idempotency-Key"); key != request.end()) {
    if (auto refused = refuse_idempotency_key(key->value())) return session->send(error_response(request, *refused));
    publish.idempotency_key = std::string(key->value());
    publish.idempotency_window = std::chrono::seconds(context.config.limits.idempotency_seconds);
    keyed_channel = publish.channel;
  }
  // Counted before publishing: afterwards, long polls the message answers would already have left.
  auto counts = context.counts.find(publish.channel);
  std::int64_t listening = counts ? counts->total() : 0;
  context.broker.publish(std::move(publish), [session, request = std::move(request), listening,
                                              keyed_channel = std::move(keyed_channel)](auto outcome) {
    if (auto* error = std::get_if<Error>(&outcome)) return session->send(error_response(request, *error));
    auto body = [&](const std::string& channel, const std::string& id) {
      return R"({"channel":")" + channel + R"(","id":")" + id + R"(","subscribers":)" + std::to_string(listening) + "}";
    };
    if (auto* replayed = std::get_if<Replayed>(&outcome)) {
      // The key was used within its window: the first publish's id, and nothing published now.
      auto response = json_response(request, http::status::ok, body(keyed_channel, format_cursor(replayed->id)));
      response.set("Idempotent-Replayed", "true");
      return session->send(std::move(response));
    }
    const auto& message = std::get<MessagePtr>(outcome);
    session->send(json_response(request, http::status::created, body(message->channel(), message->id())));
  });
}

void subscribe_route(const std::shared_ptr<HttpSession>& session, Request request, std::string channel,
                     boost::urls::params_view params) {
  const Admission& admission = *session->context().admission;
  const Client client = session->client(request);
  const std::string token = subscribe_token_of(request, params);
  auto identified = admission.identify(client, token);
  if (auto* refused = std::get_if<Error>(&identified)) return session->send(error_response(request, *refused));
  Identity identity = std::get<Identity>(std::move(identified));
  auto admitted = admission.read(client, channel, token, identity);
  if (auto* refused = std::get_if<Error>(&admitted)) return session->send(error_response(request, *refused));
  // The listener ends with the first of its tokens to end: the connection token's, the subscribe token's.
  const std::int64_t ends =
      earliest(identity ? identity->expires_at : 0, std::get<ReadGrant>(admitted).token_expires_at);
  UserConnections* users = session->context().user_connections;
  if (!identity || users == nullptr || users->limit() == 0 || !holds_connection(request, params)) {
    return listen_route(session, std::move(request), std::move(channel), params, identity, ends);
  }
  // An identified connection that stays open takes one of its user's places first (on every node).
  const std::string user = identity->subject;
  users->admit(user,
               [session, request = std::move(request), channel = std::move(channel), identity = std::move(identity),
                ends](std::variant<std::shared_ptr<void>, Error> outcome) mutable {
                 if (auto* refused = std::get_if<Error>(&outcome)) {
                   return session->send(error_response(request, *refused));
                 }
                 auto url = boost::urls::parse_origin_form(request.target());
                 listen_route(session, std::move(request), std::move(channel), url->params(), identity, ends,
                              std::get<std::shared_ptr<void>>(std::move(outcome)));
               });
}

void listen_route(const std::shared_ptr<HttpSession>& session, Request request, std::string channel,
                  boost::urls::params_view params, const Identity& identity, std::int64_t expires_at,
                  std::shared_ptr<void> user_hold) {
  const Transports& offered = session->context().config.transports;
  auto parsed = parse_subscribe_request(request, params, session->context().config.limits);
  if (auto* error = std::get_if<Error>(&parsed)) return session->send(error_response(request, *error));
  SubscribeRequest subscribe = std::get<SubscribeRequest>(std::move(parsed));
  subscribe.channel = std::move(channel);
  subscribe.expires_at = expires_at;
  subscribe.user_hold = std::move(user_hold);
  if (identity) subscribe.user = identity->subject;
  const Admission& admission = *session->context().admission;
  const Client client = session->client(request);
  subscribe.member = admission.member_for(subscribe.channel, identity, std::move(subscribe.member));
  // A connection that stays open holds its member; an interval poll extends the member's lease. False:
  // refused (and answered).
  auto hold_member = [&] {
    if (!subscribe.member) return true;
    auto held = admission.hold_member(client, subscribe.channel, *subscribe.member);
    if (auto* refused = std::get_if<Error>(&held)) {
      session->send(error_response(request, *refused));
      return false;
    }
    subscribe.presence = std::get<std::shared_ptr<void>>(std::move(held));
    return true;
  };

  auto disabled = [&](const char* name) {
    session->send(error_response(
        request, {"transport_disabled", std::string("This server does not offer ") + name + " (see [transports])."}));
  };
  if (websocket::is_upgrade(request)) {
    if (!offered.websocket) return disabled("WebSocket");
    if (!client.origin_ok) return session->send(error_response(request, foreign_origin));
    if (!hold_member()) return;
    return start_websocket(session, request, std::move(subscribe), identity);
  }
  if (accepts_event_stream(request)) {
    if (!offered.sse) return disabled("Server-Sent Events");
    if (!hold_member()) return;
    return start_sse(session, request, std::move(subscribe));
  }
  if (subscribe.wait_seconds > 0 ? !offered.longpoll : !offered.poll) {
    return disabled(subscribe.wait_seconds > 0 ? "long polling" : "interval polling");
  }
  if (subscribe.wait_seconds > 0) {
    if (!hold_member()) return;
  } else if (subscribe.member) {
    if (auto refused = admission.touch_member(client, subscribe.channel, *subscribe.member)) {
      return session->send(error_response(request, *refused));
    }
  }
  serve_poll(session, std::move(request), std::move(subscribe));
}

void multiplex_route(const std::shared_ptr<HttpSession>& session, const Request& request,
                     boost::urls::params_view params) {
  if (!websocket::is_upgrade(request)) {
    return session->send(
        error_response(request, {"bad_request", "/ws is a WebSocket endpoint: send an Upgrade: websocket request."}));
  }
  if (!session->context().config.transports.websocket) {
    return session->send(error_response(request, {"transport_disabled", "This server does not offer WebSocket."}));
  }
  const Client client = session->client(request);
  if (!client.origin_ok) return session->send(error_response(request, foreign_origin));
  // A connection token with the upgrade (?token= or Bearer) identifies the socket from the start; a
  // browser, which cannot set the header, may instead send an auth frame first.
  auto identified = session->context().admission->identify(client, subscribe_token_of(request, params));
  if (auto* refused = std::get_if<Error>(&identified)) return session->send(error_response(request, *refused));
  Identity identity = std::get<Identity>(std::move(identified));
  UserConnections* users = session->context().user_connections;
  if (!identity || users == nullptr || users->limit() == 0) {
    return start_websocket(session, request, std::nullopt, std::move(identity));
  }
  const std::string user = identity->subject;
  users->admit(user, [session, request,
                      identity = std::move(identity)](std::variant<std::shared_ptr<void>, Error> outcome) mutable {
    if (auto* refused = std::get_if<Error>(&outcome)) return session->send(error_response(request, *refused));
    start_websocket(session, request, std::nullopt, std::move(identity),
                    std::get<std::shared_ptr<void>>(std::move(outcome)));
  });
}

void channel_info_route(const std::shared_ptr<HttpSession>& session, const Request& request,
                        const std::string& channel) {
  ServerContext& context = session->context();
  if (auto refused = context.admission->inspect(channel)) return session->send(error_response(request, *refused));
  context.broker.info(channel, [session, request, channel](std::variant<ChannelInfo, Error> outcome) {
    if (auto* error = std::get_if<Error>(&outcome)) return session->send(error_response(request, *error));
    const ChannelInfo& info = std::get<ChannelInfo>(outcome);
    auto counts = session->context().counts.find(channel);
    auto count = [&](Transport t) {
      return std::to_string(counts ? counts->by_transport[static_cast<std::size_t>(t)].load() : 0);
    };
    // max_payload_bytes: what a page may send here, so it can count as its user types.
    std::string body = R"({"channel":")" + channel + R"(","last_id":)" +
                       (info.last_id ? json_quote(format_cursor(*info.last_id)) : "null") + R"(,"history":)" +
                       std::to_string(info.kept) + R"(,"subscribers":{"websocket":)" + count(Transport::websocket) +
                       R"(,"sse":)" + count(Transport::sse) + R"(,"longpoll":)" + count(Transport::longpoll) +
                       R"(},"max_payload_bytes":)" +
                       std::to_string(session->context().admission->payload_limit(channel)) + "}";
    session->send(json_response(request, http::status::ok, std::move(body)));
  });
}

namespace {

void answer_presence(HttpSession& session, const Request& request, const std::string& channel,
                     std::variant<PresenceList, Error> outcome) {
  if (auto* error = std::get_if<Error>(&outcome)) return session.send(error_response(request, *error));
  const auto& list = std::get<PresenceList>(outcome);
  const bool identified = session.context().config.namespaces.for_channel(channel).identified;
  boost::json::array members;
  for (const auto& member : list.members) members.push_back(presence_json(member, identified));
  boost::json::object body{{"channel", channel},
                           {"count", list.count},
                           {"members", std::move(members)},
                           {"truncated", list.count > list.members.size()}};
  session.send(json_response(request, http::status::ok, boost::json::serialize(body)));
}

}  // namespace

void presence_route(const std::shared_ptr<HttpSession>& session, const Request& request, const std::string& channel,
                    boost::urls::params_view params) {
  ServerContext& context = session->context();
  const Client client = session->client(request);
  const std::string token = subscribe_token_of(request, params);
  auto identified = context.admission->identify(client, token);
  if (auto* refused = std::get_if<Error>(&identified)) return session->send(error_response(request, *refused));
  auto admitted = context.admission->read(client, channel, token, std::get<Identity>(identified));
  if (auto* refused = std::get_if<Error>(&admitted)) return session->send(error_response(request, *refused));
  if (!context.config.namespaces.for_channel(channel).presence) {
    return session->send(error_response(
        request, {"presence_off", "Namespace '" + std::string(namespace_of(channel)) + "' keeps no presence."}));
  }
  context.presence->list(channel, context.config.limits.presence_list_limit,
                         [session, request, channel](std::variant<PresenceList, Error> outcome) {
                           answer_presence(*session, request, channel, std::move(outcome));
                         });
}

}  // namespace herald
