#include "api/routes.hpp"

#include <boost/url/parse.hpp>

#include "core/channel_name.hpp"
#include "core/publish_rules.hpp"
#include "http/http_session.hpp"
#include "http/responses.hpp"
#include "transport/poll.hpp"
#include "transport/sse.hpp"
#include "transport/subscribe_request.hpp"
#include "transport/websocket.hpp"

namespace herald {
namespace {

const Error bad_channel{"bad_channel", "A channel name is 1-128 characters from A-Z a-z 0-9 _ - . : @."};

// With a publish key, everyone must present it; without one, only this machine may publish.
std::optional<Error> check_publisher(const HttpSession& session, const Request& request) {
  const std::string& key = session.context().config.publish_key;
  if (key.empty()) {
    auto address = session.remote().address();
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
      address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
    }
    if (address.is_loopback()) return std::nullopt;
    return Error{"forbidden", "No publish key is configured, so only loopback clients may publish."};
  }
  auto header = request[http::field::authorization];
  constexpr std::string_view scheme = "Bearer ";
  if (!header.starts_with(scheme)) {
    return Error{"unauthorized", "Publishing needs an 'Authorization: Bearer <publish key>' header."};
  }
  auto given = header.substr(scheme.size());
  // Compare in time independent of where the first difference is.
  unsigned char diff = given.size() == key.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ key[i % key.size()]);
  if (diff != 0) return Error{"forbidden", "The publish key is not valid."};
  return std::nullopt;
}

bool is_json_content(const Request& request) {
  auto type = request[http::field::content_type];
  auto semicolon = type.find(';');
  auto media = type.substr(0, semicolon);
  while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
  return beast::iequals(media, "application/json");
}

}  // namespace

void publish_route(const std::shared_ptr<HttpSession>& session, Request request, std::string channel) {
  if (auto refused = check_publisher(*session, request)) return session->send(error_response(request, *refused));
  auto parsed = boost::urls::parse_origin_form(request.target());
  std::string event;
  if (auto it = parsed->params().find("event"); it != parsed->params().end()) {
    event = (*it).value;
    if (event.empty()) return session->send(error_response(request, {"bad_event", "The event name is empty."}));
  }
  ServerContext& context = session->context();
  auto made = make_publish_request(std::move(channel), std::move(event), std::move(request.body()),
                                   is_json_content(request), context.config.limits.max_payload_bytes);
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
  auto parsed = parse_subscribe_request(request, params, session->context().config.limits);
  if (auto* error = std::get_if<Error>(&parsed)) return session->send(error_response(request, *error));
  SubscribeRequest subscribe = std::get<SubscribeRequest>(std::move(parsed));
  subscribe.channel = std::move(channel);

  if (websocket::is_upgrade(request)) return start_websocket(session, request, std::move(subscribe));
  if (accepts_event_stream(request)) return start_sse(session, request, std::move(subscribe));
  serve_poll(session, std::move(request), std::move(subscribe));
}

void multiplex_route(const std::shared_ptr<HttpSession>& session, const Request& request) {
  if (!websocket::is_upgrade(request)) {
    return session->send(
        error_response(request, {"bad_request", "/ws is a WebSocket endpoint: send an Upgrade: websocket request."}));
  }
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

}  // namespace herald
