#pragma once
// What herald writes on a WebSocket, as whole frames (RFC 6455 §5.2). A server's frames are not masked,
// so a message's frame — header and payload — is the same bytes for every subscriber: it is built once
// per message and written by reference, several queued frames in one write. Beast keeps the handshake,
// the reading of the client's frames and the control frames (ping, pong, close).
#include <string>
#include <string_view>

#include "core/cursor.hpp"
#include "core/message.hpp"

namespace herald::ws {

// One final, unmasked text frame carrying `payload`.
std::string text_frame(std::string_view payload);

// A message as a /ws frame ({"op":"message",…}) or, on a /sub/{channel} socket, its bare envelope.
const std::string& message_frame(const Message& message, bool multiplex);

// Where history ran out, as a frame: {"op":"gap",…} on /ws, {"channel":…,"gap":true,…} on /sub.
std::string gap_frame(std::string_view channel, Cursor cursor, bool multiplex);

}  // namespace herald::ws
