#pragma once
// Who is on a channel now. A subscriber of a presence namespace may say who it is (a client id and a
// display name); this node keeps its own members, states them to the broker with a lease, and publishes
// a `join` or `leave` event on the channel through the broker when the presence store says the member
// came or went on all nodes.
//
// Streaming connections (SSE, WebSocket, a held long poll) hold their member while open; when the last
// one closes the member lingers a moment, so a reconnect or a switch of transport is not a leave and a
// join. An interval poll has no connection to hold: each poll extends a lease instead. Whichever came
// last counts: a member whose last connection closed lingers, even if a poll before it took a lease.
//
// Thread-safe: event loops hold, release and touch; the server's timer calls tick(). Not on the fan-out
// path: a lock per subscribe and per tick.
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include <boost/json/object.hpp>

#include "broker/broker.hpp"
#include "broker/presence_store.hpp"
#include "core/error.hpp"
#include "core/rate_limiter.hpp"

namespace herald {

struct PresenceSettings {
  std::chrono::seconds lease{15};  // an interval poll's, and a node's lease in the broker
  std::chrono::seconds linger{2};  // after the last connection closes
  std::size_t max_payload_bytes = 65536;
  // Members one client address may have on this node at once (0: no cap), and the budget a new member
  // draws one token from (the client-publish rate per address: a join is a publish; null: none). A flood
  // of made-up client ids would otherwise publish a join, and later a leave, for each.
  std::size_t members_per_address = 20;
  RateLimiter* join_rate = nullptr;
  // Whether a channel's namespace is identified: its members are users (`sub`), their names the token's
  // `info` (JSON text), and join/leave say {"user","info"} (see presence_json).
  std::function<bool(const std::string&)> identified;
};

// A member as presence shows it: {"client","name"}, or in an identified namespace {"user","info"}.
boost::json::object presence_json(const PresenceMember& member, bool identified);

// Checks a member a client names: the id is 1-64 characters from A-Z a-z 0-9 _ -, the name 1 to
// `max_name_bytes` bytes of UTF-8 without control characters.
std::optional<Error> check_presence_member(const PresenceMember& member, std::size_t max_name_bytes);

class Presence {
 public:
  using Clock = std::chrono::steady_clock;
  // `listened` says whether this node has subscribers of a channel: it keeps reaping such channels for
  // members a dead node left behind even when none of its own members are there.
  // `store` keeps the leases; `broker` carries the join and leave events.
  Presence(PresenceStore& store, Broker& broker, PresenceSettings settings,
           std::function<bool(const std::string&)> listened)
      : store_(store), broker_(broker), settings_(std::move(settings)), listened_(std::move(listened)) {}
  Presence(const Presence&) = delete;
  Presence& operator=(const Presence&) = delete;

  // A streaming connection's hold on its member: the member stays while the returned object lives.
  // `address` is the client's; a member new to this node counts against its budget (see settings), and
  // "rate_limited" or "too_many_members" (429) refuses it.
  [[nodiscard]] std::variant<std::shared_ptr<void>, Error> hold(const std::string& channel,
                                                                const PresenceMember& member,
                                                                const std::string& address);
  // An interval poll: the member stays for the lease.
  std::optional<Error> touch(const std::string& channel, const PresenceMember& member, const std::string& address);
  // Ends lingering members, refreshes the others' leases in the broker (every third of a lease), and
  // reaps members other nodes left behind. Called every second.
  void tick(Clock::time_point now);
  // Who is on the channel, on every node: the count and up to `limit` members (GET /channels/{c}/presence).
  void list(const std::string& channel, std::size_t limit, PresenceStore::ListCallback done) {
    store_.presence_list(channel, limit, std::move(done));
  }

 private:
  struct Local {
    std::string name;
    std::string address;  // whose budget it counts against
    std::size_t holds = 0;
    Clock::time_point until;  // while no connection holds it
  };
  void release(const std::string& channel, const std::string& client);
  // Finds or makes the member; a new one must fit its address's budget (else the Error, and nothing made).
  std::variant<Local*, Error> admit_locked(const std::string& channel, const PresenceMember& member,
                                           const std::string& address, bool& fresh);
  void forget_locked(const Local& member);
  // Tells the broker; publishes `join` when the member is new to every node.
  void state(const std::string& channel, const PresenceMember& member);
  void announce(const std::string& channel, const char* event, const PresenceMember& member);

  PresenceStore& store_;
  Broker& broker_;
  PresenceSettings settings_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::unordered_map<std::string, Local>> channels_;  // channel -> client
  std::function<bool(const std::string&)> listened_;
  std::unordered_map<std::string, std::size_t> per_address_;  // local members by client address
  std::unordered_set<std::string> watched_;  // presence channels to reap: had members here, or listened to
  Clock::time_point next_refresh_{};
};

}  // namespace herald
