#include "core/publish_rules.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cmath>

#include "core/channel_name.hpp"
#include "core/utf8.hpp"

namespace herald {

std::variant<PublishRequest, Error> make_publish_request(std::string channel, std::string event, std::string body,
                                                         bool is_json, std::size_t max_payload_bytes) {
  if (!is_valid_channel_name(channel)) {
    return Error{"bad_channel", "A channel name is 1-128 characters from A-Z a-z 0-9 _ - . : @."};
  }
  if (!event.empty() && !is_valid_event_name(event)) {
    return Error{"bad_event", "An event name is 1-128 characters from A-Z a-z 0-9 _ - . : @."};
  }
  // Names a browser's EventSource or herald itself gives a meaning: a message must not impersonate them.
  if (event == "gap" || event == "error" || event == "open" || event == "close") {
    return Error{"bad_event", "The event names gap, error, open and close are reserved."};
  }
  if (body.size() > max_payload_bytes) {
    return Error{"too_large", "The payload is larger than " + std::to_string(max_payload_bytes) + " bytes."};
  }
  if (!is_valid_utf8(body)) return Error{"bad_utf8", "The payload is not valid UTF-8."};
  if (is_json) {
    boost::system::error_code ec;
    auto value = boost::json::parse(body, ec);
    if (ec) return Error{"bad_json", "The payload is not valid JSON: " + ec.message() + "."};
    if (has_infinite_number(value)) {
      return Error{"bad_json", "The payload holds a number too large for JSON (it must fit a double, about 1.8e308)."};
    }
    body = boost::json::serialize(value);  // compact: one line in SSE, no stray whitespace in envelopes
  }
  return PublishRequest{
      .channel = std::move(channel), .event = std::move(event), .data = std::move(body), .is_json = is_json};
}

bool has_infinite_number(const boost::json::value& value) {
  switch (value.kind()) {
    case boost::json::kind::double_:
      return !std::isfinite(value.get_double());
    case boost::json::kind::array:
      return std::any_of(value.get_array().begin(), value.get_array().end(),
                         [](const boost::json::value& item) { return has_infinite_number(item); });
    case boost::json::kind::object:
      return std::any_of(value.get_object().begin(), value.get_object().end(),
                         [](const boost::json::key_value_pair& item) { return has_infinite_number(item.value()); });
    default:
      return false;
  }
}

std::optional<Error> refuse_idempotency_key(std::string_view key) {
  bool visible = std::all_of(key.begin(), key.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
  if (!key.empty() && key.size() <= max_idempotency_key_bytes && visible) return std::nullopt;
  return Error{"bad_idempotency_key", "An idempotency key is 1-" + std::to_string(max_idempotency_key_bytes) +
                                          " characters of visible ASCII (no spaces)."};
}

std::optional<Error> refuse_presence_event(bool presence_namespace, std::string_view event) {
  if (!presence_namespace || (event != "join" && event != "leave")) return std::nullopt;
  return Error{"bad_event", "In a presence namespace the events join and leave are herald's own."};
}

}  // namespace herald
