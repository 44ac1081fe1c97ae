#include "core/write_queue.hpp"

namespace herald {
namespace {

// A queue that drained keeps this many places for the next message (no allocation per message under a
// steady trickle); a larger one, grown by a burst, is given back.
constexpr std::size_t kept_capacity = 8;

}  // namespace

void WriteQueue::append(Item item) {
  if (head_ > 0 && head_ * 2 >= items_.size()) {
    items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
  items_.push_back(std::move(item));
}

bool WriteQueue::push(MessagePtr owner, const std::string& bytes) {
  if (!fits(bytes.size())) return false;
  bytes_ += bytes.size();
  append(Item{std::move(owner), &bytes, {}});
  return true;
}

bool WriteQueue::push_history(MessagePtr owner, const std::string& bytes) {
  if (!empty() && bytes_ + bytes.size() > max_bytes_ / 2) return false;
  return push(std::move(owner), bytes);
}

bool WriteQueue::push(std::string bytes) {
  if (!fits(bytes.size())) return false;
  bytes_ += bytes.size();
  append(Item{nullptr, nullptr, std::move(bytes)});
  return true;
}

void WriteQueue::pop(std::size_t count) {
  for (std::size_t i = 0; i < count && !empty(); ++i) {
    Item& item = items_[head_++];
    bytes_ -= item.view().size();
    item = Item{};  // the message (or the bytes) is let go now, not when the slot is reused
  }
  if (empty()) {
    items_.clear();
    head_ = 0;
    if (items_.capacity() > kept_capacity) std::vector<Item>().swap(items_);
  }
}

void WriteQueue::drop_after(std::size_t count) {
  while (size() > count) {
    bytes_ -= items_.back().view().size();
    items_.pop_back();
  }
}

}  // namespace herald
