#pragma once
// Who may do what on which channel: the one home of channel admission. Every way in — the HTTP routes,
// the frames of a /ws or /sub WebSocket, the presence list, channel info — asks here, so a rule cannot
// hold on one path and not on another.
//
//   identify  who a connection is: the connection token (a JWT with `sub`, auth/subscribe_token.hpp) it
//             presented by Authorization: Bearer, ?token= or a /ws `auth` frame. A JWT presented must be
//             valid (when token_secret is set); one without `sub` identifies nobody.
//   read      listen on any transport, list presence: the name is valid, the namespace is not herald's
//             own (internal), an identified namespace's listener is identified, and a private
//             namespace's channel is covered for this client by the connection token or a subscribe
//             token. It answers until when: the end of the token the subscription relies on.
//   inspect   GET /channels/{c}: valid and not internal (counts and the newest cursor, no messages).
//   publish   with a publish key (Authorization: Bearer) that covers the namespace; or, where the
//             namespace lets clients publish, as a client: from an acceptable Origin, with a token whose
//             `publish` claim covers the channel in a private namespace, within the per-address rate;
//             or, only when no key is configured and the operator set `loopback_publish`, from this
//             machine (http/trust.hpp says what that means).
//   presence  being listed as a member (a `client` and `name`): the namespace keeps presence and the
//             member is well formed; the per-address budget is Presence's (presence/presence.hpp).
//   administer  the server API (/api/*: disconnect a user, revoke a channel, list users and channels):
//             a publish key that covers the namespace concerned ("*" for what concerns every namespace).
//   approve   act for herald's login server-to-server: a key that covers `_login`; never an address.
//   metrics   read /metrics and the feed: [metrics] public, this machine, or a key for every namespace.
//
// No I/O: callers describe the client (http's Trust and Origin checks) and take the answer.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "auth/subscribe_token.hpp"
#include "broker/presence_store.hpp"
#include "config/config.hpp"
#include "core/error.hpp"
#include "core/publish_rules.hpp"
#include "core/rate_limiter.hpp"

namespace herald {

class Presence;

// Who is asking, as the HTTP layer could establish it.
struct Client {
  std::string address;                // the client's address (a trusted proxy's forwarded one), for limits
  bool this_machine = false;          // loopback, not through a proxy, addressed by one of the server's names
  bool origin_ok = true;              // no Origin, or herald's own, or an allowed one
  std::optional<std::string> bearer;  // Authorization: Bearer …, when the way in carries one
};

// Which publish key a bearer is: the global one, or the index of a [[publish_keys]] entry.
struct KeyMatch {
  bool global = false;
  std::size_t index = 0;
  bool covers(const Config& config, std::string_view space) const;
};
// Compares `given` with every configured key, each in constant time. nullopt: no key matches.
std::optional<KeyMatch> match_publish_key(const Config& config, std::string_view given);

// Who a connection is: its verified connection token, or nobody.
using Identity = std::optional<auth::SubscribeGrant>;

// A subscription admitted by read(): when the subscribe token it relies on ends (unix seconds; 0: it
// relies on none, only on the connection's identity, whose own end is the identity's expires_at).
struct ReadGrant {
  std::int64_t token_expires_at = 0;
};

// The earlier of two ends, 0 being none.
inline std::int64_t earliest(std::int64_t a, std::int64_t b) {
  if (a == 0) return b;
  if (b == 0) return a;
  return std::min(a, b);
}

class Admission {
 public:
  Admission(const Config& config, RateLimiter* publish_rate, RateLimiter* client_publish_rate, Presence* presence)
      : config_(config), publish_rate_(publish_rate), client_publish_rate_(client_publish_rate), presence_(presence) {}

  std::variant<Identity, Error> identify(const Client& client, std::string_view token) const;
  std::variant<ReadGrant, Error> read(const Client& client, const std::string& channel, std::string_view token,
                                      const Identity& identity = std::nullopt) const;
  // The member a listener is in presence: in an identified namespace with presence, its token's user
  // (`sub`, with `info` as the name), whatever it asserted; elsewhere what it asserted (client, name).
  std::optional<PresenceMember> member_for(const std::string& channel, const Identity& identity,
                                           std::optional<PresenceMember> asserted) const;
  std::optional<Error> inspect(const std::string& channel) const;
  // Takes from the publish rate budgets when it admits. `event` is checked against presence's own events.
  std::optional<Error> publish(const Client& client, const std::string& channel, std::string_view event,
                               std::string_view token) const;
  // A member a streaming connection holds while it lives, or an interval poll's lease extended.
  std::variant<std::shared_ptr<void>, Error> hold_member(const Client& client, const std::string& channel,
                                                         const PresenceMember& member) const;
  std::optional<Error> touch_member(const Client& client, const std::string& channel,
                                    const PresenceMember& member) const;
  std::optional<Error> approve_logins(const Client& client) const;
  std::optional<Error> administer(const Client& client, std::string_view space) const;
  std::optional<Error> read_metrics(const Client& client) const;

  // The namespace-aware payload limit of a publish to `channel`.
  std::size_t payload_limit(const std::string& channel) const;

 private:
  std::optional<Error> check_member(const std::string& channel, const PresenceMember& member) const;
  std::optional<Error> publish_as_client(const Client& client, const std::string& channel, std::string_view token,
                                         bool private_channel) const;
  std::optional<Error> take(RateLimiter* rate, const std::string& bucket, const std::string& who) const;

  const Config& config_;
  RateLimiter* publish_rate_;
  RateLimiter* client_publish_rate_;
  Presence* presence_;
};

}  // namespace herald
