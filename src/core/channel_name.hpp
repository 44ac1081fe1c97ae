#pragma once
// Channel and event names: what a client may send, checked once at the edge.
#include <cstddef>
#include <string_view>

namespace herald {

inline constexpr std::size_t max_channel_name_length = 128;
inline constexpr std::size_t max_event_name_length = 128;

// 1–128 characters from A–Z a–z 0–9 _ - . : @
bool is_valid_channel_name(std::string_view name);

// Event names share the channel alphabet, so they can never break an SSE line or a JSON string.
bool is_valid_event_name(std::string_view name);

// The part before the first ':' ("chat:lobby" -> "chat"); "" when there is none.
std::string_view namespace_of(std::string_view channel);

}  // namespace herald
