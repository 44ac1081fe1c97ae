#include "core/history.hpp"

#include <algorithm>

namespace herald {

MessagePtr History::append(std::string channel, std::string event, std::string data, bool is_json,
                           const HistoryLimits& limits, Clock::time_point now) {
  auto time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  auto message = std::make_shared<const Message>(std::move(channel), Cursor{history_id_, ++last_seq_}, time_ms,
                                                 std::move(event), std::move(data), is_json);
  messages_.push_back(message);
  trim(limits, now);
  return message;
}

void History::trim(const HistoryLimits& limits, Clock::time_point now) {
  while (messages_.size() > limits.max_messages) messages_.pop_front();
  auto oldest_ms = std::chrono::duration_cast<std::chrono::milliseconds>((now - limits.max_age).time_since_epoch());
  while (!messages_.empty() && messages_.front()->time_ms() < oldest_ms.count()) messages_.pop_front();
}

ReadResult History::read(const ReadFrom& from, std::size_t limit, bool empty_vouches) const {
  ReadResult result = read_unstamped(from, limit, empty_vouches);
  result.newest = last_cursor();
  return result;
}

ReadResult History::read_absent(const ReadFrom& from, std::int64_t now_ms, bool empty_vouches) {
  ReadResult result;
  result.cursor = result.newest = result.gap_cursor = empty_cursor(now_ms);
  result.gap = from.since && !(is_empty_cursor(*from.since) && empty_vouches);
  return result;
}

ReadResult History::read_unstamped(const ReadFrom& from, std::size_t limit, bool empty_vouches) const {
  if (!from.since) {
    if (!from.last || *from.last == 0) return ReadResult{.cursor = last_cursor()};
    std::size_t count = std::min(*from.last, messages_.size());
    std::size_t index = messages_.size() - count;
    return read_from_index(index, limit, Cursor{history_id_, first_kept_seq() + index - 1});
  }
  const Cursor since = *from.since;
  if (is_empty_cursor(since) && empty_vouches && first_kept_seq() == 1) {
    return read_from_index(0, limit, Cursor{history_id_, 0});  // the first history since the cursor
  }
  bool foreign = since.history != history_id_ || since.seq > last_seq_;
  if (foreign || since.seq + 1 < first_kept_seq()) {
    Cursor before{history_id_, first_kept_seq() - 1};
    ReadResult result = read_from_index(0, limit, before);
    result.gap = true;
    result.gap_cursor = before;
    return result;
  }
  return read_from_index(since.seq + 1 - first_kept_seq(), limit, since);
}

ReadResult History::read_from_index(std::size_t index, std::size_t limit, Cursor before) const {
  ReadResult result;
  std::size_t available = messages_.size() - index;
  std::size_t count = std::min(available, limit);
  result.messages.assign(messages_.begin() + static_cast<std::ptrdiff_t>(index),
                         messages_.begin() + static_cast<std::ptrdiff_t>(index + count));
  result.more = count < available;
  result.cursor = count == 0 ? before : result.messages.back()->cursor();
  return result;
}

}  // namespace herald
