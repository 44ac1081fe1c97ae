#pragma once
// The /ws protocol: JSON frames that subscribe, unsubscribe and publish over one WebSocket.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "core/cursor.hpp"
#include "core/error.hpp"

namespace herald {

struct ClientFrame {
  // auth: who the socket is (a connection token, before it subscribes); refresh: a fresh token for the
  // connection (no channel) or for one subscription (its channel), before the old one ends.
  enum class Op { subscribe, unsubscribe, publish, auth, refresh } op = Op::subscribe;
  std::string channel;
  std::optional<Cursor> since;
  std::optional<std::size_t> last;
  std::string event;
  std::string data;  // publish: the text, or compact JSON when data_is_json
  bool data_is_json = false;
  std::string ref;              // serialized JSON value echoed in the reply; empty when absent
  std::string token;            // subscribe: the subscribe token, for private namespaces
  std::string client, name;     // subscribe: who this is, in a presence namespace (both or neither)
  std::string idempotency_key;  // publish: a repeat within the window answers the first id (empty: none)
};

// Parses one client text frame; the Error names what was wrong (code "bad_frame", "bad_cursor", ...).
// On error, `ref` is still filled in when it could be read, so the error frame can echo it.
std::variant<ClientFrame, Error> parse_client_frame(std::string_view text, std::string& ref);

std::string subscribed_frame(const std::string& channel, Cursor cursor, bool gap, const std::string& ref);
// A gap found while catching up after `subscribed` (history was trimmed faster than the socket read).
std::string gap_frame(const std::string& channel, Cursor cursor);
std::string unsubscribed_frame(const std::string& channel, const std::string& ref);
// `replayed`: the publish's idempotency key was used within its window; `id` is the first publish's.
std::string published_frame(const std::string& channel, const std::string& id, const std::string& ref,
                            bool replayed = false);
std::string error_frame(const Error& error, const std::string& ref);
std::string authenticated_frame(const std::string& user, std::int64_t expires_at, const std::string& ref);
// `channel` empty: the connection's token was refreshed.
std::string refreshed_frame(const std::string& channel, std::int64_t expires_at, const std::string& ref);
// herald ends one subscription ({"op":"unsubscribed","channel",…}) or the socket ({"op":"close",…}), with
// the ending's code, message and reconnect (core/subscriber.hpp).
std::string ending_frame(const std::string& ending_json, bool whole_socket);

}  // namespace herald
