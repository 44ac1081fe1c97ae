#pragma once
// The kept messages of one channel, bounded by count and age. Not thread-safe: its broker guards it.
//
// Sequence numbers are contiguous, so "everything after cursor C" is one index computation.
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "core/message.hpp"

namespace herald {

struct HistoryLimits {
  std::size_t max_messages = 100;
  std::chrono::milliseconds max_age = std::chrono::hours(1);
};

// Where a read starts.
struct ReadFrom {
  std::optional<Cursor> since;      // strictly after this cursor
  std::optional<std::size_t> last;  // without `since`: the newest N kept messages
};

struct ReadResult {
  std::vector<MessagePtr> messages;
  // The cursor was older than what is kept, or from another history: something may have been missed.
  bool gap = false;
  // More messages follow; read again from `cursor`.
  bool more = false;
  // Where the reader stands after `messages`: the cursor to send next.
  Cursor cursor;
  // With a gap, the cursor just before the oldest kept message (resuming from it has no gap).
  Cursor gap_cursor;
  // The newest message of the history when it was read.
  Cursor newest;
};

class History {
 public:
  using Clock = std::chrono::system_clock;

  explicit History(std::uint64_t history_id) : history_id_(history_id) {}

  std::uint64_t id() const { return history_id_; }
  Cursor last_cursor() const { return {history_id_, last_seq_}; }
  std::size_t size() const { return messages_.size(); }

  // Appends a message with the next cursor, then trims to the limits.
  MessagePtr append(std::string channel, std::string event, std::string data, bool is_json, const HistoryLimits& limits,
                    Clock::time_point now);

  // Drops what is past the limits (by count, then by age).
  void trim(const HistoryLimits& limits, Clock::time_point now);

  // `empty_vouches`: whether an empty cursor in `from.since` is recent enough to vouch that nothing was
  // missed before this history began (empty_cursor_vouches; the broker knows the age and the clock).
  ReadResult read(const ReadFrom& from, std::size_t limit, bool empty_vouches = false) const;
  // What a read of a channel that has no history answers: an empty cursor minted `now_ms`, and a gap
  // when the reader's cursor promised messages (a history that is gone, or an empty cursor that no
  // longer vouches).
  static ReadResult read_absent(const ReadFrom& from, std::int64_t now_ms, bool empty_vouches);

 private:
  ReadResult read_unstamped(const ReadFrom& from, std::size_t limit, bool empty_vouches) const;
  std::uint64_t first_kept_seq() const { return last_seq_ + 1 - messages_.size(); }
  ReadResult read_from_index(std::size_t index, std::size_t limit, Cursor before) const;

  std::uint64_t history_id_;
  std::uint64_t last_seq_ = 0;
  std::deque<MessagePtr> messages_;
};

}  // namespace herald
