#include "access/user_connections.hpp"

#include <random>
#include <vector>

namespace herald {

UserConnections::UserConnections(Broker& broker, std::size_t limit, std::chrono::seconds lease)
    : broker_(broker), limit_(limit), lease_(lease) {
  std::random_device random;
  node_ = std::to_string(random()) + "." + std::to_string(random());
}

void UserConnections::admit(const std::string& user, AdmitCallback done) {
  if (limit_ == 0) return done(std::shared_ptr<void>());
  std::string connection;
  {
    std::lock_guard lock(mutex_);
    connection = node_ + ":" + std::to_string(next_++);
  }
  broker_.user_admit(user, connection, limit_, lease_,
                     [this, user, connection, done = std::move(done)](std::variant<bool, Error> outcome) {
                       if (auto* error = std::get_if<Error>(&outcome)) return done(*error);
                       if (!std::get<bool>(outcome)) {
                         return done(Error{"user_connection_limit",
                                           "This user has as many connections open as one may have "
                                           "(limits.max_connections_per_user = " +
                                               std::to_string(limit_) + "): close one first."});
                       }
                       {
                         std::lock_guard lock(mutex_);
                         held_.emplace(connection, user);
                       }
                       // The deleter runs where the connection ends; `this` outlives every connection.
                       done(std::shared_ptr<void>(nullptr, [this, connection](void*) { release(connection); }));
                     });
}

void UserConnections::release(const std::string& connection) {
  std::string user;
  {
    std::lock_guard lock(mutex_);
    auto it = held_.find(connection);
    if (it == held_.end()) return;
    user = std::move(it->second);
    held_.erase(it);
  }
  broker_.user_release(user, connection);
}

void UserConnections::tick(Clock::time_point now) {
  std::vector<std::pair<std::string, std::string>> held;
  {
    std::lock_guard lock(mutex_);
    if (limit_ == 0 || now < next_refresh_) return;
    next_refresh_ = now + lease_ / 3;
    held.reserve(held_.size());
    for (const auto& [connection, user] : held_) held.emplace_back(user, connection);
  }
  if (!held.empty()) broker_.user_refresh(held, lease_);
}

}  // namespace herald
