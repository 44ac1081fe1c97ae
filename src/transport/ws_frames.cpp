#include "transport/ws_frames.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <memory>
#include <stdexcept>

#include "transport/ws_protocol.hpp"

namespace herald::ws {
namespace {

constexpr unsigned char kText = 0x81;          // FIN, opcode 1 (text)
constexpr unsigned char kDeflatedText = 0xC1;  // FIN, RSV1 (compressed, RFC 7692 §6), opcode 1

std::string frame_of(unsigned char first, std::string_view payload) {
  std::string frame;
  const std::size_t size = payload.size();
  frame.reserve(size + 10);
  frame += static_cast<char>(first);
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

// The payload of a frame built by frame_of (after its 2-, 4- or 10-byte header).
std::string_view payload_of(const std::string& frame) {
  const auto length = static_cast<unsigned char>(frame[1]);
  const std::size_t header = length < 126 ? 2 : length == 126 ? 4 : 10;
  return std::string_view(frame).substr(header);
}

// A raw DEFLATE stream of `payload` on its own (no context taken over from earlier messages), ended with
// a sync flush whose 00 00 FF FF tail is dropped (RFC 7692 §7.2.1). One z_stream per thread, reset each
// time: a message is compressed by the thread that first delivers it.
[[gnu::noinline]] std::string deflate_payload(std::string_view payload) {
  struct Deflater {
    z_stream z{};
    Deflater() {
      if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        throw std::runtime_error("zlib: deflateInit2 failed");
      }
    }
    ~Deflater() { deflateEnd(&z); }
    Deflater(const Deflater&) = delete;
    Deflater& operator=(const Deflater&) = delete;
  };
  thread_local Deflater deflater;
  z_stream& z = deflater.z;
  deflateReset(&z);
  const std::size_t bound = deflateBound(&z, static_cast<uLong>(payload.size())) + 6;
  const auto buffer = std::make_unique_for_overwrite<Bytef[]>(bound);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(payload.data()));
  z.avail_in = static_cast<uInt>(payload.size());
  z.next_out = buffer.get();
  z.avail_out = static_cast<uInt>(bound);
  if (deflate(&z, Z_SYNC_FLUSH) != Z_OK || z.avail_in != 0 || z.avail_out == 0) return {};
  const std::size_t produced = bound - z.avail_out;
  constexpr std::array<Bytef, 4> tail{0x00, 0x00, 0xFF, 0xFF};
  if (produced < tail.size() || produced > bound ||
      !std::equal(tail.begin(), tail.end(), buffer.get() + produced - tail.size())) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(buffer.get()), produced - tail.size());
}

}  // namespace

std::string text_frame(std::string_view payload) { return frame_of(kText, payload); }

const std::string& deflated_message_frame(const Message& message, bool multiplex, std::size_t threshold) {
  const std::string& plain = message_frame(message, multiplex);
  if (payload_of(plain).size() < threshold) return plain;
  const auto slot = multiplex ? Message::Slot::ws_multiplex_deflate : Message::Slot::ws_single_deflate;
  const std::string& deflated = message.encoded(slot, [&plain](const Message&) -> std::string {
    const std::string_view payload = payload_of(plain);
    std::string compressed = deflate_payload(payload);
    if (compressed.empty() || compressed.size() >= payload.size()) return {};  // the plain frame is as good
    return frame_of(kDeflatedText, compressed);
  });
  return deflated.empty() ? plain : deflated;
}

bool deflate_agreed(std::string_view extensions) {
  const auto at = extensions.find("permessage-deflate");
  if (at == std::string_view::npos) return false;
  const auto bits = extensions.find("server_max_window_bits", at);
  if (bits == std::string_view::npos) return true;
  const auto value = extensions.find('=', bits);
  if (value == std::string_view::npos) return true;
  std::size_t digits = value + 1;
  while (digits < extensions.size() && (extensions[digits] == ' ' || extensions[digits] == '"')) ++digits;
  return std::atoi(std::string(extensions.substr(digits, 2)).c_str()) >= 15;
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
