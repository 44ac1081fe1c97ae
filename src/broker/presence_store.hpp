#pragma once
// Who is on a channel, across nodes: the store presence (presence/presence.hpp) states its members to.
// A store apart from the broker, as presence is a question apart from history: a node's members are
// leases in it, and the broker only carries the join and leave events presence publishes.
//
// Contract (every implementation, checked by the presence store conformance tests):
//  1. Each node states which members it holds on a channel with a lease (hold), one clock for all nodes
//     (the store's). A member is present while any node's lease on it lasts.
//  2. hold answers true when the member was not present before (a join, on exactly one node); a hold of
//     a present member renews this node's lease and answers false.
//  3. drop ends this node's lease and answers true when no other node holds the member (a leave, on
//     exactly one node).
//  4. reap removes members whose every lease ran out (a node that died) and returns them, each to exactly
//     one caller.
//  5. list counts the present members and names up to `limit` of them.
//  6. Callbacks run as the broker's do (broker.hpp, point 6): on the calling event loop, or on a thread of
//     the store's own when called from elsewhere. A store that cannot reach its backend answers
//     broker_unavailable (reap answers nothing).
#include <chrono>
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "core/error.hpp"

namespace herald {

// Who is on a channel: a client-chosen id (one per page or device) and the name it shows.
struct PresenceMember {
  std::string client;
  std::string name;
};

struct PresenceList {
  std::size_t count = 0;                // members present now
  std::vector<PresenceMember> members;  // at most the limit asked for
};

class PresenceStore {
 public:
  using ChangeCallback = std::function<void(std::variant<bool, Error>)>;
  using ReapCallback = std::function<void(std::vector<PresenceMember>)>;
  using ListCallback = std::function<void(std::variant<PresenceList, Error>)>;

  virtual ~PresenceStore() = default;

  virtual void presence_hold(const std::string& channel, const PresenceMember& member, std::chrono::milliseconds lease,
                             ChangeCallback done) = 0;
  virtual void presence_drop(const std::string& channel, const std::string& client, ChangeCallback done) = 0;
  virtual void presence_reap(const std::string& channel, ReapCallback done) = 0;
  virtual void presence_list(const std::string& channel, std::size_t limit, ListCallback done) = 0;
};

}  // namespace herald
