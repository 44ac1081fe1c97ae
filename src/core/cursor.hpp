#pragma once
// A cursor is a message id: which history it belongs to and its place in it.
// On the wire it is "<history>.<seq>", e.g. "k7f3q9wz.42"; clients treat it as opaque.
#include <algorithm>
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

// An empty cursor (history 0, never a drawn id) is what a read of a channel without a history hands out:
// "nothing here as of `seq`", a time in milliseconds since the epoch. So reading a channel that does not
// exist creates nothing, yet the cursor resumes without a false gap: within the channel's history age
// after `seq`, no history can have been created and forgotten unseen (one lives at least that long
// after its last use), so a history found then is the first, and if it kept its first message nothing
// was missed. Later than that, it reads as a gap.
inline Cursor empty_cursor(std::int64_t now_ms) {
  return {0, static_cast<std::uint64_t>(std::max<std::int64_t>(now_ms, 0))};
}
inline bool is_empty_cursor(Cursor cursor) { return cursor.history == 0; }
// Whether an empty cursor still says "nothing was missed before the history began" (see above).
inline bool empty_cursor_vouches(Cursor cursor, std::int64_t now_ms, std::int64_t max_age_ms) {
  auto minted = static_cast<std::int64_t>(cursor.seq);
  return is_empty_cursor(cursor) && minted <= now_ms + 60000 && now_ms - minted < max_age_ms;
}

std::string format_cursor(Cursor cursor);
std::optional<Cursor> parse_cursor(std::string_view text);

// A fresh history id from the OS random source (never 0, the empty cursor's).
std::uint64_t new_history_id();

}  // namespace herald
