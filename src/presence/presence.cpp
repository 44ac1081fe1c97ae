#include "presence/presence.hpp"

#include <boost/json/parse.hpp>
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

boost::json::object presence_json(const PresenceMember& member, bool identified) {
  if (!identified) return {{"client", member.client}, {"name", member.name}};
  boost::system::error_code ec;
  boost::json::value info = boost::json::parse(member.name, ec);
  if (ec) info = nullptr;
  return {{"user", member.client}, {"info", std::move(info)}};
}

std::variant<Presence::Local*, Error> Presence::admit_locked(const std::string& channel, const PresenceMember& member,
                                                             const std::string& address, bool& fresh) {
  auto& members = channels_[channel];
  auto it = members.find(member.client);
  fresh = it == members.end();
  if (!fresh) {
    it->second.name = member.name;
    return &it->second;
  }
  std::size_t& mine = per_address_[address];
  std::optional<Error> refused;
  if (settings_.members_per_address > 0 && mine >= settings_.members_per_address) {
    refused = Error{"too_many_members", "This address is already present as " + std::to_string(mine) +
                                            " members here (limits.presence_members_per_address)."};
  } else if (settings_.join_rate != nullptr) {
    if (auto wait = settings_.join_rate->take("ip:" + address)) {
      refused = Error{"rate_limited",
                      "Too many joins and publishes from this address. Retry in " + std::to_string(*wait) + " s."};
    }
  }
  if (refused) {
    if (mine == 0) per_address_.erase(address);
    if (members.empty()) channels_.erase(channel);
    return *refused;
  }
  ++mine;
  Local& local = members[member.client];
  local.name = member.name;
  local.address = address;
  return &local;
}

void Presence::forget_locked(const Local& member) {
  auto it = per_address_.find(member.address);
  if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
}

std::variant<std::shared_ptr<void>, Error> Presence::hold(const std::string& channel, const PresenceMember& member,
                                                          const std::string& address) {
  bool fresh = false;
  {
    std::lock_guard lock(mutex_);
    auto admitted = admit_locked(channel, member, address, fresh);
    if (auto* refused = std::get_if<Error>(&admitted)) return *refused;
    ++std::get<Local*>(admitted)->holds;
  }
  if (fresh) state(channel, member);
  // The deleter runs where the connection ends; `this` outlives every connection (server.cpp).
  return std::shared_ptr<void>(nullptr, [this, channel, client = member.client](void*) { release(channel, client); });
}

std::optional<Error> Presence::touch(const std::string& channel, const PresenceMember& member,
                                     const std::string& address) {
  bool fresh = false;
  {
    std::lock_guard lock(mutex_);
    auto admitted = admit_locked(channel, member, address, fresh);
    if (auto* refused = std::get_if<Error>(&admitted)) return *refused;
    Local& local = *std::get<Local*>(admitted);
    local.until = std::max(local.until, Clock::now() + settings_.lease);
  }
  if (fresh) state(channel, member);
  return std::nullopt;
}

void Presence::release(const std::string& channel, const std::string& client) {
  std::lock_guard lock(mutex_);
  auto found = channels_.find(channel);
  if (found == channels_.end()) return;
  auto member = found->second.find(client);
  if (member == found->second.end() || member->second.holds == 0) return;
  // The last connection's close is the member's latest word: it lingers from now, whatever lease an
  // earlier interval poll gave it (a long poller's first request, which does not wait, is one).
  if (--member->second.holds == 0) member->second.until = Clock::now() + settings_.linger;
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
          forget_locked(it->second);
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
    store_.presence_drop(entry.first, entry.second.client, [this, entry](std::variant<bool, Error> left) {
      if (auto* yes = std::get_if<bool>(&left); yes && *yes) announce(entry.first, "leave", entry.second);
    });
  }
  for (auto& [channel, member] : kept) state(channel, member);
  // A node that died left its members behind: whichever node reaps them first announces their leave.
  for (auto& channel : listened) {
    store_.presence_reap(channel, [this, channel](const std::vector<PresenceMember>& reaped) {
      for (const auto& member : reaped) announce(channel, "leave", member);
    });
  }
}

void Presence::state(const std::string& channel, const PresenceMember& member) {
  store_.presence_hold(channel, member, settings_.lease, [this, channel, member](std::variant<bool, Error> joined) {
    if (auto* yes = std::get_if<bool>(&joined); yes && *yes) announce(channel, "join", member);
  });
}

void Presence::announce(const std::string& channel, const char* event, const PresenceMember& member) {
  const bool identified = settings_.identified && settings_.identified(channel);
  auto made = make_publish_request(channel, event, boost::json::serialize(presence_json(member, identified)), true,
                                   settings_.max_payload_bytes);
  if (auto* request = std::get_if<PublishRequest>(&made)) broker_.publish(std::move(*request), [](const auto&) {});
}

}  // namespace herald
