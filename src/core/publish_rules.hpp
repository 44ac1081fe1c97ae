#pragma once
// What a publish must satisfy, whoever sends it (POST /pub or a /ws client frame).
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
};

// Checks the channel and event names, the size, and that the payload is UTF-8 (or JSON when
// `is_json`, which is then compacted). Returns the request ready for the broker, or why not.
// In a presence namespace the events `join` and `leave` are herald's own: a publisher may not send them.
std::optional<Error> refuse_presence_event(bool presence_namespace, std::string_view event);

std::variant<PublishRequest, Error> make_publish_request(std::string channel, std::string event, std::string body,
                                                         bool is_json, std::size_t max_payload_bytes);

}  // namespace herald
