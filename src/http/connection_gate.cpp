#include "http/connection_gate.hpp"

namespace herald {

std::optional<Error> ConnectionGate::take_address_locked(const std::string& address) {
  if (address.empty()) return std::nullopt;
  std::size_t& mine = per_address_[address];
  if (max_per_address_ > 0 && mine >= max_per_address_) {
    if (mine == 0) per_address_.erase(address);
    refused_address_.fetch_add(1, std::memory_order_relaxed);
    return Error{"too_many_from_address",
                 "This address has as many connections as one may have (limits.max_connections_per_ip)."};
  }
  ++mine;
  return std::nullopt;
}

std::variant<ConnectionGate::Ticket, Error> ConnectionGate::admit(const std::string& address) {
  std::lock_guard lock(mutex_);
  if (max_total_ > 0 && open_.load(std::memory_order_relaxed) >= max_total_) {
    refused_full_.fetch_add(1, std::memory_order_relaxed);
    return Error{"too_many_connections", "The server has as many connections as it takes (limits.max_connections)."};
  }
  if (auto refused = take_address_locked(address)) return *refused;
  open_.fetch_add(1, std::memory_order_relaxed);
  // The ticket keeps the gate alive, so a connection that outlives the server's wiring can still leave.
  // (It points at the gate only so that it tests true while held.)
  return Ticket(static_cast<void*>(this),
                [gate = shared_from_this(), address](void*) { gate->release(address, true); });
}

std::variant<ConnectionGate::Ticket, Error> ConnectionGate::admit_client(const std::string& address) {
  std::lock_guard lock(mutex_);
  if (auto refused = take_address_locked(address)) return *refused;
  return Ticket(static_cast<void*>(this),
                [gate = shared_from_this(), address](void*) { gate->release(address, false); });
}

void ConnectionGate::release(const std::string& address, bool counted_in_total) {
  std::lock_guard lock(mutex_);
  if (!address.empty()) {
    auto it = per_address_.find(address);
    if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
  }
  if (counted_in_total) open_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace herald
