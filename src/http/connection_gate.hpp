#pragma once
// Admission of new connections: at most `max_total` open at once, and `max_per_address` from one client
// address, so one client cannot take every file descriptor. Checked once per accepted connection (never
// on the message path); a Ticket held for the connection's whole life — by the HTTP session, then by
// the SSE or WebSocket stream that takes its socket over — gives the place back when dropped.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>

#include "core/error.hpp"

namespace herald {

class ConnectionGate : public std::enable_shared_from_this<ConnectionGate> {
 public:
  using Ticket = std::shared_ptr<void>;

  ConnectionGate(std::size_t max_total, std::size_t max_per_address)
      : max_total_(max_total), max_per_address_(max_per_address) {}

  // A ticket, or why not: "too_many_connections" (the server is full) or "too_many_from_address". An
  // empty `address` (a trusted proxy's connection, which carries many clients) counts toward the total
  // only; its clients are admitted one by one with admit_client() as their requests name them.
  std::variant<Ticket, Error> admit(const std::string& address);
  // A place under max_per_address for a client a trusted proxy forwarded (not counted in the total: its
  // connection already is).
  std::variant<Ticket, Error> admit_client(const std::string& address);
  std::size_t open() const { return open_.load(std::memory_order_relaxed); }
  // New limits (a reload), for connections from now on; call it while no event loop runs.
  void set_limits(std::size_t max_total, std::size_t max_per_address) {
    max_total_ = max_total;
    max_per_address_ = max_per_address;
  }
  // Connections refused since start, by the two reasons above.
  std::uint64_t refused_full() const { return refused_full_.load(std::memory_order_relaxed); }
  std::uint64_t refused_address() const { return refused_address_.load(std::memory_order_relaxed); }

 private:
  void release(const std::string& address, bool counted_in_total);
  std::optional<Error> take_address_locked(const std::string& address);

  std::size_t max_total_, max_per_address_;
  std::atomic<std::size_t> open_{0};
  std::atomic<std::uint64_t> refused_full_{0}, refused_address_{0};
  std::mutex mutex_;
  std::unordered_map<std::string, std::size_t> per_address_;
};

}  // namespace herald
