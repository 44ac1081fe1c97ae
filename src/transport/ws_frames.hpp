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

// The same for a socket that negotiated permessage-deflate (RFC 7692) with server_no_context_takeover:
// the payload compressed on its own, so the frame is the same bytes for every such socket and is built
// once per message. A payload below `threshold` bytes, or one that would not shrink, keeps the plain frame.
const std::string& deflated_message_frame(const Message& message, bool multiplex, std::size_t threshold);

// Whether the handshake's answer (its Sec-WebSocket-Extensions) lets herald send its compressed frames:
// permessage-deflate agreed, without a server window smaller than the 32 KiB the frames are made with.
bool deflate_agreed(std::string_view extensions);

// Where history ran out, as a frame: {"op":"gap",…} on /ws, {"channel":…,"gap":true,…} on /sub.
std::string gap_frame(std::string_view channel, Cursor cursor, bool multiplex);

}  // namespace herald::ws
