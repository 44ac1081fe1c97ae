#pragma once
// Per-namespace settings ("chat" for "chat:lobby"), with defaults for every namespace not named.
#include <algorithm>
#include <map>
#include <string>
#include <string_view>

#include "core/channel_name.hpp"
#include "core/history.hpp"

namespace herald {

struct NamespaceSettings {
  HistoryLimits history;
  bool client_publish = false;        // may /ws clients publish here (POST /pub is always allowed with the key)
  bool internal = false;              // herald's own channels (login events): /sub, /pub and /ws refuse them
  bool private_channels = false;      // subscribing needs a token signed with `token_secret` (auth/subscribe_token)
  bool presence = false;              // subscribers may say who they are; herald keeps who is here (presence/)
  bool identified = false;            // listening needs a connection token (a JWT with `sub`); presence lists its user
  std::size_t max_payload_bytes = 0;  // a message's data at most; 0: limits.max_payload_bytes
};

// The payload limit of a namespace, given the server-wide one.
inline std::size_t payload_limit(const NamespaceSettings& settings, std::size_t server_wide) {
  return settings.max_payload_bytes > 0 ? std::min(settings.max_payload_bytes, server_wide) : server_wide;
}

class NamespacePolicy {
 public:
  NamespaceSettings defaults;
  std::map<std::string, NamespaceSettings, std::less<>> by_namespace;

  const NamespaceSettings& for_channel(std::string_view channel) const {
    auto it = by_namespace.find(namespace_of(channel));
    return it == by_namespace.end() ? defaults : it->second;
  }
};

}  // namespace herald
