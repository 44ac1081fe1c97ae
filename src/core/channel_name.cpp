#include "core/channel_name.hpp"

#include <algorithm>

namespace herald {
namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.' || c == ':' || c == '@';
}

bool is_valid_name(std::string_view name, std::size_t max_length) {
  return !name.empty() && name.size() <= max_length && std::all_of(name.begin(), name.end(), is_name_char);
}

}  // namespace

bool is_valid_channel_name(std::string_view name) { return is_valid_name(name, max_channel_name_length); }

bool is_valid_event_name(std::string_view name) { return is_valid_name(name, max_event_name_length); }

std::string_view namespace_of(std::string_view channel) {
  auto colon = channel.find(':');
  return colon == std::string_view::npos ? std::string_view{} : channel.substr(0, colon);
}

}  // namespace herald
