#include "transport/ws_frames.hpp"

#include "transport/ws_protocol.hpp"

namespace herald::ws {

std::string text_frame(std::string_view payload) {
  std::string frame;
  const std::size_t size = payload.size();
  frame.reserve(size + 10);
  frame += static_cast<char>(0x81);  // FIN, opcode 1 (text)
  if (size < 126) {
    frame += static_cast<char>(size);
  } else if (size <= 0xFFFF) {
    frame += static_cast<char>(126);
    frame += static_cast<char>((size >> 8U) & 0xFFU);
    frame += static_cast<char>(size & 0xFFU);
  } else {
    frame += static_cast<char>(127);
    for (int shift = 56; shift >= 0; shift -= 8) frame += static_cast<char>((size >> shift) & 0xFFU);
  }
  frame.append(payload);
  return frame;
}

const std::string& message_frame(const Message& message, bool multiplex) {
  if (multiplex) {
    return message.encoded(Message::Slot::ws_multiplex, [](const Message& m) {
      const std::string& envelope = m.envelope();
      std::string json;
      json.reserve(envelope.size() + 15);
      json = R"({"op":"message",)";
      json.append(envelope, 1);
      return text_frame(json);
    });
  }
  return message.encoded(Message::Slot::ws_single, [](const Message& m) { return text_frame(m.envelope()); });
}

std::string gap_frame(std::string_view channel, Cursor cursor, bool multiplex) {
  if (multiplex) return text_frame(herald::gap_frame(std::string(channel), cursor));
  std::string json = R"({"channel":")";
  json += channel;
  json += R"(","gap":true,"cursor":")" + format_cursor(cursor) + R"("})";
  return text_frame(json);
}

}  // namespace herald::ws
