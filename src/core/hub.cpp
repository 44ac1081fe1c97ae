#include "core/hub.hpp"

#include <algorithm>

namespace herald {

void Hub::attach(Subscriber* connection) {
  if (!connections_.insert(connection).second) return;
  open_connections_.fetch_add(1, std::memory_order_relaxed);
  by_transport_[static_cast<std::size_t>(connection->transport())].fetch_add(1, std::memory_order_relaxed);
}

void Hub::detach(Subscriber* connection) {
  if (connections_.erase(connection) == 0) return;
  forget_user(connection);
  std::replace(deferred_.begin(), deferred_.end(), connection,
               static_cast<Subscriber*>(nullptr));  // gone before its write
  open_connections_.fetch_sub(1, std::memory_order_relaxed);
  by_transport_[static_cast<std::size_t>(connection->transport())].fetch_sub(1, std::memory_order_relaxed);
}

void Hub::identify(Subscriber* connection, const std::string& user) {
  if (user.empty() || !connections_.contains(connection)) return;
  auto [it, fresh] = user_of_.try_emplace(connection, user);
  if (!fresh) {
    if (it->second == user) return;
    forget_user(connection);
    user_of_.emplace(connection, user);
  }
  users_[user].push_back(connection);
}

void Hub::forget_user(Subscriber* connection) {
  auto it = user_of_.find(connection);
  if (it == user_of_.end()) return;
  auto list = users_.find(it->second);
  if (list != users_.end()) {
    std::erase(list->second, connection);
    if (list->second.empty()) users_.erase(list);
  }
  user_of_.erase(it);
}

void Hub::disconnect_user(const std::string& user) {
  auto found = users_.find(user);
  if (found == users_.end()) return;
  // close() may detach: walk a copy, and skip any that left meanwhile.
  std::vector<Subscriber*> connections = found->second;
  for (Subscriber* connection : connections) {
    if (user_of_.contains(connection)) connection->close(CloseReason::disconnected);
  }
}

void Hub::revoke(const std::string& user, const std::string& channel) {
  auto found = users_.find(user);
  if (found == users_.end()) return;
  std::vector<Subscriber*> connections = found->second;
  for (Subscriber* connection : connections) {
    if (user_of_.contains(connection)) connection->revoke(channel);
  }
}

std::array<std::size_t, transport_count> Hub::connections_of(const std::string& user) const {
  std::array<std::size_t, transport_count> counts{};
  if (auto found = users_.find(user); found != users_.end()) {
    for (Subscriber* connection : found->second) ++counts[static_cast<std::size_t>(connection->transport())];
  }
  return counts;
}

void Hub::subscribe(const std::string& channel, Subscriber* subscriber) {
  auto& entry = channels_[channel];
  if (!entry.counts) {
    entry.counts = counts_.acquire(channel);
    // Set before the subscriber reads history (join_channel): a message published after that read is
    // handed to this loop, and one published before is in what it reads.
    entry.counts->loops.fetch_or(bit_, std::memory_order_seq_cst);
  }
  entry.subscribers.push_back(subscriber);
  counts_.joined(*entry.counts, subscriber->transport());
}

void Hub::unsubscribe(const std::string& channel, Subscriber* subscriber) {
  auto entry = channels_.find(channel);
  if (entry == channels_.end()) return;
  auto& list = entry->second.subscribers;
  auto it = std::find(list.begin(), list.end(), subscriber);
  if (it == list.end()) return;
  counts_.left(*entry->second.counts, subscriber->transport());
  if (entry->second.dispatching) {
    *it = nullptr;  // the dispatch loop is walking this vector; compact after it
    entry->second.has_holes = true;
    return;
  }
  *it = list.back();
  list.pop_back();
  if (list.empty()) forget(entry);
}

void Hub::forget(std::unordered_map<std::string, ChannelSubscribers>::iterator entry) {
  entry->second.counts->loops.fetch_and(~bit_, std::memory_order_relaxed);
  channels_.erase(entry);
}

std::size_t Hub::dispatch(const MessagePtr& message) {
  auto found = channels_.find(message->channel());
  if (found == channels_.end()) return 0;
  // A deliver() may subscribe elsewhere and rehash the map: keep a reference (stable), not the iterator.
  ChannelSubscribers& entry = found->second;
  entry.dispatching = true;
  // Tallied on the stack and added to the loop's counters once: the walk itself stays a plain loop.
  std::array<std::uint64_t, transport_count> sent{};
  std::array<std::uint64_t, drop_reason_count> dropped{};
  // Subscribers added during the walk (a deliver() that subscribes) are not visited: they read history.
  const std::size_t count = entry.subscribers.size();
  for (std::size_t i = 0; i < count; ++i) {
    Subscriber* subscriber = entry.subscribers[i];
    if (subscriber == nullptr) continue;
    switch (subscriber->deliver(message)) {
      case Delivery::sent:
        ++sent[static_cast<std::size_t>(subscriber->transport())];
        break;
      case Delivery::skipped:
        break;
      case Delivery::dropped:
        ++dropped[static_cast<std::size_t>(DropReason::closing)];
        break;
      case Delivery::overflowed:
        ++dropped[static_cast<std::size_t>(DropReason::slow_consumer)];
        break;
    }
  }
  entry.dispatching = false;
  std::size_t delivered = 0;
  for (std::size_t t = 0; t < transport_count; ++t) {
    if (sent[t] > 0) metrics_.delivered[t].add(sent[t]);
    delivered += sent[t];
  }
  for (std::size_t r = 0; r < drop_reason_count; ++r) {
    if (dropped[r] > 0) metrics_.dropped[r].add(dropped[r]);
  }
  if (delivered > 0) {
    // One clock reading per message and loop, not per subscriber: they all took it just now.
    metrics_.latency.observe(std::chrono::steady_clock::now() - message->created(), delivered);
    entry.counts->delivered.fetch_add(delivered, std::memory_order_relaxed);
  }
  if (entry.has_holes) {
    std::erase(entry.subscribers, nullptr);
    entry.has_holes = false;
  }
  if (entry.subscribers.empty()) forget(found);
  return delivered;
}

bool Hub::defer_flush(Subscriber* subscriber) {
  if (!batching_) return false;
  deferred_.push_back(subscriber);
  return true;
}

void Hub::end_batch() {
  batching_ = false;
  // A write may end a connection (detach leaves a hole); nothing is deferred while not batching.
  for (std::size_t i = 0; i < deferred_.size(); ++i) {
    if (Subscriber* subscriber = deferred_[i]) subscriber->flush_deferred();
  }
  deferred_.clear();  // keeps its capacity for the next batch
}

void Hub::close_all(CloseReason reason) {
  // close() detaches, so walk a copy.
  std::vector<Subscriber*> connections(connections_.begin(), connections_.end());
  for (Subscriber* connection : connections) {
    if (connections_.contains(connection)) connection->close(reason);
  }
}

}  // namespace herald
