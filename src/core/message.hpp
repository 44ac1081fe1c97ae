#pragma once
// One published message: immutable once made, shared by every subscriber that receives it.
// Its wire encodings are built once, on first need, by whichever thread needs them first;
// every subscriber of every transport then writes the same bytes.
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "core/cursor.hpp"

namespace herald {

class Message {
 public:
  // `data` is UTF-8 text, or compact JSON text when `is_json`.
  Message(std::string channel, Cursor cursor, std::int64_t time_ms, std::string event, std::string data, bool is_json);

  const std::string& channel() const { return channel_; }
  Cursor cursor() const { return cursor_; }
  const std::string& id() const { return id_; }
  std::int64_t time_ms() const { return time_ms_; }
  const std::string& event() const { return event_; }
  const std::string& data() const { return data_; }
  bool is_json() const { return is_json_; }
  // When this node made the message (published it, or received it from Redis): the start of the
  // publish-to-delivery latency the hubs measure.
  std::chrono::steady_clock::time_point created() const { return created_; }

  // {"channel":..,"id":..,"time":..,"event":..,"data":..}
  const std::string& envelope() const;
  // {"op":"message","channel":..,...}: the envelope as a frame of the /ws protocol.
  const std::string& ws_frame() const;
  // "id: ..\nevent: ..\ndata: ..\n\n"
  const std::string& sse_block() const;
  // "id: ..\ndata: <envelope>\n\n": for SSE clients that asked for whole envelopes (format=envelope), so
  // that a browser EventSource hears every message through `onmessage`, whatever its event name.
  const std::string& sse_envelope_block() const;

 private:
  std::string channel_;
  Cursor cursor_;
  std::string id_;
  std::int64_t time_ms_;
  std::string event_;
  std::string data_;
  bool is_json_;
  std::chrono::steady_clock::time_point created_ = std::chrono::steady_clock::now();

  mutable std::once_flag envelope_once_, ws_frame_once_, sse_once_, sse_envelope_once_;
  mutable std::string envelope_, ws_frame_, sse_block_, sse_envelope_block_;
};

using MessagePtr = std::shared_ptr<const Message>;

// Appends the SSE "data:" lines for a payload: one line per line of text, as the SSE spec reads them.
void append_sse_data_lines(std::string& out, std::string_view payload);

}  // namespace herald
