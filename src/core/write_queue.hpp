#pragma once
// The bytes waiting to go out on one streaming connection, bounded in total size. A queued message is a
// reference to the shared message's encoding, never a copy of it. An idle connection's queue holds no
// memory at all (a vector allocated on first use, given back when it drains after a burst).
#include <string>
#include <string_view>
#include <vector>

#include "core/message.hpp"

namespace herald {

class WriteQueue {
 public:
  explicit WriteQueue(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  // False (and nothing queued) when the queue would pass its bound: the reader is too slow.
  // `bytes` must live inside `owner` (one of the message's encodings).
  bool push(MessagePtr owner, const std::string& bytes);
  bool push(std::string bytes);
  // History pages fill at most half the bound, so the frames that answer a client (and live messages,
  // once caught up) still fit behind them.
  bool push_history(MessagePtr owner, const std::string& bytes);

  bool empty() const { return head_ == items_.size(); }
  std::size_t bytes() const { return bytes_; }
  std::size_t size() const { return items_.size() - head_; }
  std::string_view at(std::size_t index) const { return items_[head_ + index].view(); }
  // Forgets the first `count` items (they have been written).
  void pop(std::size_t count);
  // Forgets everything after the first `count` items (those may be mid-write).
  void drop_after(std::size_t count);

 private:
  struct Item {
    MessagePtr owner;
    const std::string* shared = nullptr;
    std::string owned;
    std::string_view view() const { return shared != nullptr ? std::string_view(*shared) : std::string_view(owned); }
  };
  bool fits(std::size_t size) const { return bytes_ + size <= max_bytes_ || empty(); }
  void append(Item item);

  // Written items are dropped from the front by moving head_; the vector is compacted when half of it is
  // dead, emptied when all of it is.
  std::vector<Item> items_;
  std::size_t head_ = 0;
  std::size_t bytes_ = 0;
  std::size_t max_bytes_;
};

}  // namespace herald
