#include "core/write_queue.hpp"

namespace herald {

bool WriteQueue::push(MessagePtr owner, const std::string& bytes) {
  if (!fits(bytes.size())) return false;
  bytes_ += bytes.size();
  items_.push_back(Item{std::move(owner), &bytes, {}});
  return true;
}

bool WriteQueue::push_history(MessagePtr owner, const std::string& bytes) {
  if (!items_.empty() && bytes_ + bytes.size() > max_bytes_ / 2) return false;
  return push(std::move(owner), bytes);
}

bool WriteQueue::push(std::string bytes) {
  if (!fits(bytes.size())) return false;
  bytes_ += bytes.size();
  items_.push_back(Item{nullptr, nullptr, std::move(bytes)});
  return true;
}

void WriteQueue::pop(std::size_t count) {
  for (std::size_t i = 0; i < count && !items_.empty(); ++i) {
    bytes_ -= items_.front().view().size();
    items_.pop_front();
  }
}

void WriteQueue::drop_after(std::size_t count) {
  while (items_.size() > count) {
    bytes_ -= items_.back().view().size();
    items_.pop_back();
  }
}

}  // namespace herald
