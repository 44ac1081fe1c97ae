#include "core/message.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string_view.hpp>

namespace herald {

Message::Message(std::string channel, Cursor cursor, std::int64_t time_ms, std::string event, std::string data,
                 bool is_json)
    : channel_(std::move(channel)),
      cursor_(cursor),
      id_(format_cursor(cursor)),
      time_ms_(time_ms),
      event_(std::move(event)),
      data_(std::move(data)),
      is_json_(is_json) {}

const std::string& Message::envelope() const {
  std::call_once(envelope_once_, [this] {
    // Channel, id and event come from a restricted alphabet and need no escaping.
    std::string out;
    out.reserve(64 + channel_.size() + event_.size() + data_.size() + data_.size() / 8);
    out += R"({"channel":")";
    out += channel_;
    out += R"(","id":")";
    out += id_;
    out += R"(","time":)";
    out += std::to_string(time_ms_);
    if (!event_.empty()) {
      out += R"(,"event":")";
      out += event_;
      out += '"';
    }
    out += R"(,"data":)";
    out += is_json_ ? data_ : boost::json::serialize(boost::json::string_view(data_));
    out += '}';
    envelope_ = std::move(out);
  });
  return envelope_;
}

const std::string& Message::ws_frame() const {
  std::call_once(ws_frame_once_, [this] {
    const std::string& env = envelope();
    ws_frame_.reserve(env.size() + 14);
    ws_frame_ = R"({"op":"message",)";
    ws_frame_.append(env, 1);
  });
  return ws_frame_;
}

const std::string& Message::sse_block() const {
  std::call_once(sse_once_, [this] {
    std::string out;
    out.reserve(32 + event_.size() + data_.size());
    out += "id: ";
    out += id_;
    out += '\n';
    if (!event_.empty()) {
      out += "event: ";
      out += event_;
      out += '\n';
    }
    append_sse_data_lines(out, data_);
    out += '\n';
    sse_block_ = std::move(out);
  });
  return sse_block_;
}

const std::string& Message::sse_envelope_block() const {
  std::call_once(sse_envelope_once_, [this] {
    const std::string& body = envelope();  // one line: JSON escapes every newline
    sse_envelope_block_.reserve(16 + id_.size() + body.size());
    sse_envelope_block_ = "id: " + id_ + "\ndata: " + body + "\n\n";
  });
  return sse_envelope_block_;
}

void append_sse_data_lines(std::string& out, std::string_view payload) {
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

}  // namespace herald
