#include "broker/memory_presence.hpp"

#include <algorithm>

namespace herald {

void MemoryPresence::presence_hold(const std::string& channel, const PresenceMember& member,
                                   std::chrono::milliseconds lease, ChangeCallback done) {
  auto now = std::chrono::steady_clock::now();
  bool joined = false;
  {
    std::lock_guard lock(presence_mutex_);
    auto [it, fresh] = presence_[channel].try_emplace(member.client);
    joined = fresh || it->second.until <= now;
    it->second.name = member.name;
    it->second.until = std::max(it->second.until, now + lease);
  }
  done(joined);
}

void MemoryPresence::presence_drop(const std::string& channel, const std::string& client, ChangeCallback done) {
  bool left = false;
  {
    std::lock_guard lock(presence_mutex_);
    if (auto found = presence_.find(channel); found != presence_.end()) {
      left = found->second.erase(client) > 0;
      if (found->second.empty()) presence_.erase(found);
    }
  }
  done(left);
}

void MemoryPresence::presence_reap(const std::string& channel, ReapCallback done) {
  auto now = std::chrono::steady_clock::now();
  std::vector<PresenceMember> gone;
  {
    std::lock_guard lock(presence_mutex_);
    if (auto found = presence_.find(channel); found != presence_.end()) {
      std::erase_if(found->second, [&](const auto& entry) {
        if (entry.second.until > now) return false;
        gone.push_back({entry.first, entry.second.name});
        return true;
      });
      if (found->second.empty()) presence_.erase(found);
    }
  }
  done(std::move(gone));
}

void MemoryPresence::presence_list(const std::string& channel, std::size_t limit, ListCallback done) {
  auto now = std::chrono::steady_clock::now();
  PresenceList list;
  {
    std::lock_guard lock(presence_mutex_);
    if (auto found = presence_.find(channel); found != presence_.end()) {
      for (const auto& [client, lease] : found->second) {
        if (lease.until <= now) continue;
        ++list.count;
        if (list.members.size() < limit) list.members.push_back({client, lease.name});
      }
    }
  }
  done(std::move(list));
}

}  // namespace herald
