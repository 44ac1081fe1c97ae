#include "transport/sse_encoding.hpp"

namespace herald::sse {

std::string preamble(unsigned retry_ms) { return "retry: " + std::to_string(retry_ms) + "\n: herald\n\n"; }

const std::string& message_block(const Message& message, bool envelopes) {
  if (envelopes) {
    return message.encoded(Message::Slot::sse_envelope, [](const Message& m) {
      const std::string& body = m.envelope();  // one line: JSON escapes every newline
      std::string out;
      out.reserve(16 + m.id().size() + body.size());
      out += "id: ";
      out += m.id();
      out += "\ndata: ";
      out += body;
      out += "\n\n";
      return out;
    });
  }
  return message.encoded(Message::Slot::sse, [](const Message& m) {
    std::string out;
    out.reserve(32 + m.event().size() + m.data().size());
    out += "id: ";
    out += m.id();
    out += '\n';
    if (!m.event().empty()) {
      out += "event: ";
      out += m.event();
      out += '\n';
    }
    append_data_lines(out, m.data());
    out += '\n';
    return out;
  });
}

std::string gap_block(std::string_view channel, Cursor cursor, bool envelopes) {
  // Channel names and cursors come from restricted alphabets: nothing to escape.
  std::string id = format_cursor(cursor);
  std::string out = "id: " + id + "\n";
  if (envelopes) {
    out += R"(data: {"channel":")";
    out += channel;
    out += R"(","gap":true,"cursor":")" + id + "\"}\n\n";
  } else {
    out += R"(event: gap)";
    out += "\n";
    out += R"(data: {"channel":")";
    out += channel;
    out += "\"}\n\n";
  }
  return out;
}

std::string close_block(std::string_view ending_json, bool envelopes) {
  std::string out = envelopes ? std::string(R"(data: {"close":)") + std::string(ending_json) + "}\n\n"
                              : "event: close\ndata: " + std::string(ending_json) + "\n\n";
  return out;
}

std::string error_comment(std::string_view message) {
  std::string out = ": error ";
  for (char c : message) out += (c == '\n' || c == '\r') ? ' ' : c;  // one comment line
  out += "\n\n";
  return out;
}

void append_data_lines(std::string& out, std::string_view payload) {
  // SSE ends a line at CRLF, LF or CR; each becomes its own "data:" line, and the client joins them
  // back with LF.
  std::size_t start = 0;
  while (true) {
    std::size_t end = payload.find_first_of("\r\n", start);
    out += "data: ";
    out.append(payload.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    out += '\n';
    if (end == std::string_view::npos) break;
    start = end + ((payload[end] == '\r' && end + 1 < payload.size() && payload[end + 1] == '\n') ? 2 : 1);
  }
}

}  // namespace herald::sse
