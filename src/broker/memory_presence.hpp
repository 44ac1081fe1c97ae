#pragma once
// The embedded presence store: one node, so its leases are the only ones and a member is present until
// its lease runs out or is dropped (presence_store.hpp).
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "broker/presence_store.hpp"

namespace herald {

class MemoryPresence final : public PresenceStore {
 public:
  void presence_hold(const std::string& channel, const PresenceMember& member, std::chrono::milliseconds lease,
                     ChangeCallback done) override;
  void presence_drop(const std::string& channel, const std::string& client, ChangeCallback done) override;
  void presence_reap(const std::string& channel, ReapCallback done) override;
  void presence_list(const std::string& channel, std::size_t limit, ListCallback done) override;

 private:
  struct Lease {
    std::string name;
    std::chrono::steady_clock::time_point until;
  };
  std::mutex presence_mutex_;
  std::unordered_map<std::string, std::map<std::string, Lease>> presence_;  // channel -> client -> lease
};

}  // namespace herald
