#include "presence/presence.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <vector>

#include "core/publish_rules.hpp"
#include "core/utf8.hpp"

namespace herald {

std::optional<Error> check_presence_member(const PresenceMember& member, std::size_t max_name_bytes) {
  const auto& id = member.client;
  if (id.empty() || id.size() > 64 ||
      id.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos) {
    return Error{"bad_presence", "'client' is 1-64 characters from A-Z a-z 0-9 _ -."};
  }
  const auto& name = member.name;
  bool control = false;
  for (unsigned char c : name) control = control || c < 0x20 || c == 0x7f;
  if (name.empty() || name.size() > max_name_bytes || control || !is_valid_utf8(name)) {
    return Error{"bad_presence",
                 "'name' is 1-" + std::to_string(max_name_bytes) + " bytes of UTF-8 text without control characters."};
  }
  return std::nullopt;
}

std::shared_ptr<void> Presence::hold(const std::string& channel, const PresenceMember& member) {
  bool fresh = false;
  {
    std::lock_guard lock(mutex_);
    auto [it, created] = channels_[channel].try_emplace(member.client);
    fresh = created;
    it->second.name = member.name;
    ++it->second.holds;
  }
  if (fresh) state(channel, member);
  // The deleter runs where the connection ends; `this` outlives every connection (server.cpp).
  return std::shared_ptr<void>(nullptr, [this, channel, client = member.client](void*) { release(channel, client); });
}

void Presence::touch(const std::string& channel, const PresenceMember& member) {
  bool fresh = false;
  {
    std::lock_guard lock(mutex_);
    auto [it, created] = channels_[channel].try_emplace(member.client);
    fresh = created;
    it->second.name = member.name;
    it->second.until = std::max(it->second.until, Clock::now() + settings_.lease);
  }
  if (fresh) state(channel, member);
}

void Presence::release(const std::string& channel, const std::string& client) {
  std::lock_guard lock(mutex_);
  auto found = channels_.find(channel);
  if (found == channels_.end()) return;
  auto member = found->second.find(client);
  if (member == found->second.end() || member->second.holds == 0) return;
  if (--member->second.holds == 0) {
    member->second.until = std::max(member->second.until, Clock::now() + settings_.linger);
  }
}

void Presence::tick(Clock::time_point now) {
  std::vector<std::pair<std::string, PresenceMember>> gone, kept;
  std::vector<std::string> listened;
  bool refresh = now >= next_refresh_;
  {
    std::lock_guard lock(mutex_);
    if (refresh) next_refresh_ = now + settings_.lease / 3;
    for (auto channel = channels_.begin(); channel != channels_.end();) {
      auto& members = channel->second;
      for (auto it = members.begin(); it != members.end();) {
        if (it->second.holds == 0 && it->second.until <= now) {
          gone.push_back({channel->first, {it->first, it->second.name}});
          it = members.erase(it);
          continue;
        }
        if (refresh) kept.push_back({channel->first, {it->first, it->second.name}});
        ++it;
      }
      if (refresh) watched_.insert(channel->first);
      channel = members.empty() ? channels_.erase(channel) : std::next(channel);
    }
    if (refresh) {
      std::erase_if(watched_,
                    [&](const std::string& channel) { return !channels_.contains(channel) && !listened_(channel); });
      listened.assign(watched_.begin(), watched_.end());
    }
  }
  // (Named pairs rather than structured bindings: lambdas capture them by name.)
  for (const auto& entry : gone) {
    broker_.presence_drop(entry.first, entry.second.client, [this, entry](std::variant<bool, Error> left) {
      if (auto* yes = std::get_if<bool>(&left); yes && *yes) announce(entry.first, "leave", entry.second);
    });
  }
  for (auto& [channel, member] : kept) state(channel, member);
  // A node that died left its members behind: whichever node reaps them first announces their leave.
  for (auto& channel : listened) {
    broker_.presence_reap(channel, [this, channel](const std::vector<PresenceMember>& reaped) {
      for (const auto& member : reaped) announce(channel, "leave", member);
    });
  }
}

void Presence::state(const std::string& channel, const PresenceMember& member) {
  broker_.presence_hold(channel, member, settings_.lease, [this, channel, member](std::variant<bool, Error> joined) {
    if (auto* yes = std::get_if<bool>(&joined); yes && *yes) announce(channel, "join", member);
  });
}

void Presence::announce(const std::string& channel, const char* event, const PresenceMember& member) {
  boost::json::value data{{"client", member.client}, {"name", member.name}};
  auto made = make_publish_request(channel, event, boost::json::serialize(data), true, settings_.max_payload_bytes);
  if (auto* request = std::get_if<PublishRequest>(&made)) broker_.publish(std::move(*request), [](const auto&) {});
}

}  // namespace herald
