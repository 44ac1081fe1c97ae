#pragma once
// limits.max_connections_per_user: how many streaming connections (WebSocket, SSE, a held long poll) one
// identified user may have open on all nodes together. The count lives in the broker (point 12): in
// memory on one node, in Redis across nodes, where each node's connections are leased and renewed by
// tick(), so a node that dies frees its users' places once the lease ends.
//
// Thread-safe: event loops admit and release, the server's timer ticks. A lock per connection opened and
// closed, never on the fan-out path.
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <variant>

#include "broker/broker.hpp"
#include "core/error.hpp"

namespace herald {

class UserConnections {
 public:
  using Clock = std::chrono::steady_clock;
  using AdmitCallback = std::function<void(std::variant<std::shared_ptr<void>, Error>)>;

  // `limit` 0: no limit (admit answers at once, holding nothing).
  UserConnections(Broker& broker, std::size_t limit, std::chrono::seconds lease);
  UserConnections(const UserConnections&) = delete;
  UserConnections& operator=(const UserConnections&) = delete;

  std::size_t limit() const { return limit_; }
  // A place for one more connection of `user`: a hold that gives it back when released, or
  // "user_connection_limit" (429). `done` follows the broker's point 6 (the calling loop).
  void admit(const std::string& user, AdmitCallback done);
  // Renews this node's leases every third of a lease. Called every second.
  void tick(Clock::time_point now);

 private:
  void release(const std::string& connection);

  Broker& broker_;
  std::size_t limit_;
  std::chrono::milliseconds lease_;
  std::string node_;  // makes connection ids unique across nodes
  std::mutex mutex_;
  std::uint64_t next_ = 0;
  std::unordered_map<std::string, std::string> held_;  // connection -> user
  Clock::time_point next_refresh_{};
};

}  // namespace herald
