#pragma once
// Everything herald writes on a Server-Sent Events stream (text/event-stream), in one place: the
// stream's preamble, a message (an event, or the whole envelope for `format=envelope`), a gap, a
// heartbeat and an error comment.
#include <string>
#include <string_view>

#include "core/cursor.hpp"
#include "core/message.hpp"

namespace herald::sse {

// "retry: <ms>\n: herald\n\n": how long a browser waits before reconnecting, and a first comment.
std::string preamble(unsigned retry_ms);

// "id: ..\nevent: ..\ndata: ..\n\n", or with `envelopes` "id: ..\ndata: <envelope>\n\n" (so that a browser
// EventSource hears every message through `onmessage`, whatever its event name). Built once per message.
const std::string& message_block(const Message& message, bool envelopes);

// Where history ran out: `event: gap` (or, with envelopes, a data line saying so), with the cursor to
// resume from as its id.
std::string gap_block(std::string_view channel, Cursor cursor, bool envelopes);

// herald ends the stream (docs/api.md): `event: close` with the ending's JSON (ending_json), or with
// envelopes a data line {"close":{...}}. After it the stream ends.
std::string close_block(std::string_view ending_json, bool envelopes);

// A comment line that keeps proxies from timing the stream out.
inline constexpr std::string_view heartbeat = ": hb\n\n";

// A comment saying why the stream ends.
std::string error_comment(std::string_view message);

// Appends the "data:" lines of a payload: one per line of text, as the SSE spec reads them back.
void append_data_lines(std::string& out, std::string_view payload);

}  // namespace herald::sse
