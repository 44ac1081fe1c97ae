#pragma once
// What a publish must satisfy, whoever sends it (POST /pub or a /ws client frame).
#include <boost/json/fwd.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "core/error.hpp"

namespace herald {

struct PublishRequest {
  std::string channel;
  std::string event;  // empty: none
  std::string data;   // UTF-8 text, or compact JSON when is_json
  bool is_json = false;
  // Idempotent publish (broker.hpp, point 10): empty, none. A repeat of the key on the channel within
  // the window answers the first publish's cursor and publishes nothing.
  std::string idempotency_key;
  std::chrono::milliseconds idempotency_window{0};
  // false: a message herald publishes about itself (the dashboard snapshot), which the broker does not
  // count among what this node published (broker.hpp, point 13).
  bool counted = true;
};

// JSON has no infinity, but a number too large for a double (1e400) parses as one, and serializes as the
// bare word Infinity, which no JSON parser takes: forwarded, it would break every subscriber's parse.
// True when `value` holds such a number anywhere; a publish (or /ws frame) that does is refused.
bool has_infinite_number(const boost::json::value& value);

// The longest idempotency key (bytes of visible ASCII: docs/limits.md).
inline constexpr std::size_t max_idempotency_key_bytes = 128;
// Checks a client-given idempotency key: 1 to max_idempotency_key_bytes of visible ASCII (0x21-0x7E).
std::optional<Error> refuse_idempotency_key(std::string_view key);

// Checks the channel and event names, the size, and that the payload is UTF-8 (or JSON when
// `is_json`, which is then compacted). Returns the request ready for the broker, or why not.
// In a presence namespace the events `join` and `leave` are herald's own: a publisher may not send them.
std::optional<Error> refuse_presence_event(bool presence_namespace, std::string_view event);

std::variant<PublishRequest, Error> make_publish_request(std::string channel, std::string event, std::string body,
                                                         bool is_json, std::size_t max_payload_bytes);

}  // namespace herald
