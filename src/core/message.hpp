#pragma once
// One published message: immutable once made, shared by every subscriber that receives it.
// Its wire encodings are built once, on first need, by whichever thread needs them first;
// every subscriber of every transport then writes the same bytes, by reference.
#include <array>
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

  // {"channel":..,"id":..,"time":..,"event":..,"data":..}: the message model every transport carries.
  const std::string& envelope() const;

  // A transport's encoding of this message, built once by `make(*this)` on first need (by whichever
  // thread needs it first) and then written by every subscriber of that transport: each transport has
  // its slot and its encoder (transport/sse_encoding, transport/ws_frames), the core only keeps them.
  enum class Slot : std::uint8_t {
    sse,
    sse_envelope,
    ws_multiplex,
    ws_single,
    ws_multiplex_deflate,
    ws_single_deflate
  };
  static constexpr std::size_t slot_count = 6;
  template <class Make>
  const std::string& encoded(Slot slot, Make&& make) const {
    auto index = static_cast<std::size_t>(slot);
    std::call_once(encoded_once_[index], [&] { encoded_[index] = make(*this); });
    return encoded_[index];
  }

 private:
  std::string channel_;
  Cursor cursor_;
  std::string id_;
  std::int64_t time_ms_;
  std::string event_;
  std::string data_;
  bool is_json_;
  std::chrono::steady_clock::time_point created_ = std::chrono::steady_clock::now();

  mutable std::once_flag envelope_once_;
  mutable std::string envelope_;
  mutable std::array<std::once_flag, slot_count> encoded_once_;
  mutable std::array<std::string, slot_count> encoded_;
};

using MessagePtr = std::shared_ptr<const Message>;

}  // namespace herald
