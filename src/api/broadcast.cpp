#include "api/broadcast.hpp"

#include <boost/json.hpp>
#include <unordered_set>

#include "access/admission.hpp"
#include "core/channel_name.hpp"
#include "core/publish_rules.hpp"
#include "http/http_session.hpp"
#include "http/responses.hpp"

namespace herald {
namespace json = boost::json;
namespace {

struct Broadcast {
  std::vector<std::string> channels;
  std::string event;
  std::string data;
  bool is_json = false;
  std::string idempotency_key;
};

Error bad_request(std::string message) { return Error{"bad_request", std::move(message)}; }

// The body, checked whole: nothing is published unless all of it is well formed.
std::variant<Broadcast, Error> parse_broadcast(std::string_view body, std::size_t max_channels) {
  json::error_code ec;
  json::value value = json::parse(body, ec);
  if (ec || !value.is_object()) {
    return Error{"bad_json", R"(The body is a JSON object such as {"channels":["a","b"],"data":{"hello":1}}.)"};
  }
  if (has_infinite_number(value)) {
    return Error{"bad_json", "The body holds a number too large for JSON (it must fit a double, about 1.8e308)."};
  }
  const json::object& object = value.as_object();
  for (const auto& field : object) {
    auto key = field.key();
    if (key != "channels" && key != "data" && key != "event" && key != "idempotency_key") {
      return bad_request("Unknown field \"" + std::string(key) +
                         "\": a broadcast takes channels, data, event and idempotency_key.");
    }
  }
  Broadcast broadcast;
  const auto* channels = object.if_contains("channels");
  if (channels == nullptr || !channels->is_array() || channels->as_array().empty()) {
    return bad_request("\"channels\" must be a non-empty array of channel names.");
  }
  if (channels->as_array().size() > max_channels) {
    return bad_request("A broadcast names at most " + std::to_string(max_channels) +
                       " channels (limits.broadcast_max_channels).");
  }
  std::unordered_set<std::string_view> seen;
  for (const auto& channel : channels->as_array()) {
    if (!channel.is_string() || !is_valid_channel_name(channel.as_string())) {
      return Error{"bad_channel", "Channel " + json::serialize(channel) +
                                      " is not a channel name (1-128 characters from A-Z a-z 0-9 _ - . : @)."};
    }
    if (!seen.insert(channel.as_string()).second) {
      return bad_request("Channel \"" + std::string(channel.as_string()) + "\" is named twice.");
    }
    broadcast.channels.emplace_back(channel.as_string());
  }
  const auto* data = object.if_contains("data");
  if (data == nullptr) return bad_request("A broadcast needs \"data\".");
  // As in a /ws publish frame: a string is published as text, any other value as JSON.
  if (data->is_string()) {
    broadcast.data = std::string(data->as_string());
  } else {
    broadcast.data = json::serialize(*data);
    broadcast.is_json = true;
  }
  if (const auto* event = object.if_contains("event"); event != nullptr && !event->is_null()) {
    if (!event->is_string() || event->as_string().empty()) {
      return Error{"bad_event", "\"event\" must be a non-empty string."};
    }
    broadcast.event = std::string(event->as_string());
  }
  if (const auto* key = object.if_contains("idempotency_key"); key != nullptr && !key->is_null()) {
    if (!key->is_string()) return Error{"bad_idempotency_key", "\"idempotency_key\" must be a string."};
    broadcast.idempotency_key = std::string(key->as_string());
    if (auto refused = refuse_idempotency_key(broadcast.idempotency_key)) return *refused;
  }
  return broadcast;
}

// The answers of one broadcast, filled in by the broker's callbacks on the session's loop.
struct Outcomes {
  std::shared_ptr<HttpSession> session;
  Request request;
  std::vector<std::string> channels;
  std::vector<std::variant<std::monostate, std::string, Error>> ids;  // the id, or why not
  std::vector<bool> replayed;
  std::size_t waiting = 0;

  void answer() {
    json::object published;
    json::array replays;
    json::object errors;
    const Error* first_error = nullptr;
    for (std::size_t i = 0; i < channels.size(); ++i) {
      if (const auto* id = std::get_if<std::string>(&ids[i])) {
        published[channels[i]] = *id;
        if (replayed[i]) replays.emplace_back(channels[i]);
      } else if (const auto* error = std::get_if<Error>(&ids[i])) {
        errors[channels[i]] = {{"error", error->code}, {"message", error->message}};
        if (first_error == nullptr) first_error = error;
      }
    }
    json::object body;
    http::status status = http::status::ok;
    if (first_error != nullptr) {
      // Not done as asked: the status of the first failure (a retry with the same idempotency key then
      // publishes only what was not published).
      status = status_of(first_error->code);
      body["error"] = first_error->code;
      body["message"] = std::to_string(errors.size()) + " of " + std::to_string(channels.size()) +
                        " channels were not published; the first: " + first_error->message;
    }
    const bool all_replayed = replays.size() == channels.size();
    body["ids"] = std::move(published);
    if (!replays.empty()) body["replayed"] = std::move(replays);
    if (!errors.empty()) body["errors"] = std::move(errors);
    auto response = json_response(request, status, json::serialize(body));
    if (all_replayed) response.set("Idempotent-Replayed", "true");
    if (status == http::status::service_unavailable || status == http::status::too_many_requests) {
      response.set(http::field::retry_after, "1");
    }
    session->send(std::move(response));
  }
};

}  // namespace

void broadcast_route(const std::shared_ptr<HttpSession>& session, Request request) {
  ServerContext& context = session->context();
  const Limits& limits = context.config.limits;
  auto parsed = parse_broadcast(request.body(), limits.broadcast_max_channels);
  if (auto* error = std::get_if<Error>(&parsed)) return session->send(error_response(request, *error));
  Broadcast broadcast = std::get<Broadcast>(std::move(parsed));

  // Every message is made before any is published: a payload too large for one namespace refuses all.
  std::vector<PublishRequest> requests;
  requests.reserve(broadcast.channels.size());
  for (const auto& channel : broadcast.channels) {
    // JSON data is already compact (serialized above), so it is checked as text, not parsed per channel.
    auto made = make_publish_request(channel, broadcast.event, broadcast.data, false,
                                     context.admission->payload_limit(channel));
    if (auto* error = std::get_if<Error>(&made)) {
      return session->send(error_response(request, {error->code, "Channel " + channel + ": " + error->message}));
    }
    auto& publish = requests.emplace_back(std::get<PublishRequest>(std::move(made)));
    publish.is_json = broadcast.is_json;
    if (!broadcast.idempotency_key.empty()) {
      publish.idempotency_key = broadcast.idempotency_key;
      publish.idempotency_window = std::chrono::seconds(limits.idempotency_seconds);
    }
  }

  auto outcomes = std::make_shared<Outcomes>();
  outcomes->session = session;
  outcomes->channels = std::move(broadcast.channels);
  outcomes->ids.resize(requests.size());
  outcomes->replayed.resize(requests.size());
  // Admitted as a publish to each channel would be (the key's namespaces, rate budget, presence events).
  const Client client = session->client(request);
  std::vector<std::size_t> admitted;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (auto refused = context.admission->publish(client, requests[i].channel, broadcast.event, "")) {
      outcomes->ids[i] = std::move(*refused);
    } else {
      admitted.push_back(i);
    }
  }
  outcomes->request = std::move(request);
  outcomes->waiting = admitted.size();
  if (admitted.empty()) return outcomes->answer();
  // The callbacks run on this loop (broker.hpp, point 6), possibly before publish() returns.
  for (std::size_t i : admitted) {
    context.broker.publish(std::move(requests[i]), [outcomes, i](std::variant<MessagePtr, Replayed, Error> outcome) {
      if (auto* error = std::get_if<Error>(&outcome)) {
        outcomes->ids[i] = std::move(*error);
      } else if (auto* replayed = std::get_if<Replayed>(&outcome)) {
        outcomes->ids[i] = format_cursor(replayed->id);
        outcomes->replayed[i] = true;
      } else {
        outcomes->ids[i] = std::get<MessagePtr>(outcome)->id();
      }
      if (--outcomes->waiting == 0) outcomes->answer();
    });
  }
}

}  // namespace herald
