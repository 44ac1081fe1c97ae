#pragma once
// A cursor is a message id: which history it belongs to and its place in it.
// On the wire it is "<history>.<seq>", e.g. "k7f3q9wz.42"; clients treat it as opaque.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace herald {

struct Cursor {
  // A random 40-bit number drawn when a channel's history is created. A cursor minted before a restart
  // or an eviction carries another number, so it is recognised as foreign instead of being misread.
  std::uint64_t history = 0;
  // 1 for the first message of a history, +1 for each next one; 0 means "before the first message".
  std::uint64_t seq = 0;

  friend bool operator==(const Cursor&, const Cursor&) = default;
};

inline constexpr std::uint64_t history_id_mask = (std::uint64_t{1} << 40) - 1;

std::string format_cursor(Cursor cursor);
std::optional<Cursor> parse_cursor(std::string_view text);

// A fresh history id from the OS random source.
std::uint64_t new_history_id();

}  // namespace herald
