#include "access/admission.hpp"

#include <algorithm>

#include "auth/subscribe_token.hpp"
#include "core/channel_name.hpp"
#include "login/secrets.hpp"
#include "presence/presence.hpp"

namespace herald {
namespace {

const Error bad_channel{"bad_channel", "A channel name is 1-128 characters from A-Z a-z 0-9 _ - . : @."};

std::optional<Error> refuse_name(const Config& config, const std::string& channel) {
  if (!is_valid_channel_name(channel)) return bad_channel;
  if (config.namespaces.for_channel(channel).internal) {
    return Error{"forbidden",
                 "The channels of namespace " + std::string(namespace_of(channel)) + " are private to herald."};
  }
  return std::nullopt;
}

std::string retry_in(unsigned seconds) { return "Retry in " + std::to_string(seconds) + " s."; }

}  // namespace

bool KeyMatch::covers(const Config& config, std::string_view space) const {
  if (global) return true;
  const auto& allowed = config.publish_keys[index].namespaces;
  return std::any_of(allowed.begin(), allowed.end(), [&](const std::string& entry) {
    // "*" is every namespace clients may name; herald's own (internal) ones must be listed by name.
    return entry == space || (entry == "*" && !space.starts_with('_'));
  });
}

std::optional<KeyMatch> match_publish_key(const Config& config, std::string_view given) {
  // Every key is compared, each in time independent of where the first difference is.
  std::optional<KeyMatch> found;
  if (!config.publish_key.empty() && login::equal_in_constant_time(given, config.publish_key)) {
    found = KeyMatch{.global = true};
  }
  for (std::size_t i = 0; i < config.publish_keys.size(); ++i) {
    if (login::equal_in_constant_time(given, config.publish_keys[i].key) && !found) found = KeyMatch{false, i};
  }
  return found;
}

std::variant<Identity, Error> Admission::identify(const Client& client, std::string_view token) const {
  // Without a secret no token can be checked: a token then means nothing (and identifies nobody). Nor
  // does a bearer that is not a JWT at all (header.claims.signature): a publish key, say.
  if (token.empty() || config_.token_secret.empty() || std::count(token.begin(), token.end(), '.') != 2) {
    return Identity{};
  }
  auto verified = auth::verify_subscribe_token(token, config_.token_secret, unix_seconds());
  if (auto* error = std::get_if<Error>(&verified)) return *error;
  auto& grant = std::get<auth::SubscribeGrant>(verified);
  if (!grant.client.empty() && grant.client != client.address) {
    return Error{"forbidden", "The token was issued to another client."};
  }
  if (!grant.identifies()) return Identity{};
  return Identity{std::move(grant)};
}

std::variant<ReadGrant, Error> Admission::read(const Client& client, const std::string& channel, std::string_view token,
                                               const Identity& identity) const {
  if (auto refused = refuse_name(config_, channel)) return *refused;
  const NamespaceSettings& space = config_.namespaces.for_channel(channel);
  if (space.identified && !identity) {
    return Error{"identity_required",
                 "Namespace '" + std::string(namespace_of(channel)) +
                     "' needs a connection token (a JWT with 'sub'): Authorization: Bearer, ?token=, or a /ws "
                     "auth frame."};
  }
  if (!space.private_channels) return ReadGrant{};
  if (identity && identity->covers(channel)) {
    if (auto refused = auth::check_grant(*identity, channel, client.address)) return *refused;
    return ReadGrant{};
  }
  if (identity && token.empty()) return Error{"forbidden", "The connection token does not cover this channel."};
  if (token.empty()) {
    return *auth::authorize_private(token, config_.token_secret, channel, client.address, unix_seconds());
  }
  // The subscribe token: the frame's, or the one the request carried.
  auto verified = auth::verify_subscribe_token(token, config_.token_secret, unix_seconds());
  if (auto* error = std::get_if<Error>(&verified)) return *error;
  const auto& grant = std::get<auth::SubscribeGrant>(verified);
  if (auto refused = auth::check_grant(grant, channel, client.address)) return *refused;
  return ReadGrant{grant.expires_at};
}

std::optional<PresenceMember> Admission::member_for(const std::string& channel, const Identity& identity,
                                                    std::optional<PresenceMember> asserted) const {
  const NamespaceSettings& space = config_.namespaces.for_channel(channel);
  if (space.identified && space.presence && identity) {
    return PresenceMember{identity->subject, identity->info.empty() ? "null" : identity->info};
  }
  return asserted;
}

std::optional<Error> Admission::inspect(const std::string& channel) const { return refuse_name(config_, channel); }

std::optional<Error> Admission::take(RateLimiter* rate, const std::string& bucket, const std::string& who) const {
  if (rate == nullptr) return std::nullopt;
  if (auto wait = rate->take(bucket)) {
    return Error{"rate_limited", "Too many publishes " + who + ". " + retry_in(*wait)};
  }
  return std::nullopt;
}

std::optional<Error> Admission::publish(const Client& client, const std::string& channel, std::string_view event,
                                        std::string_view token) const {
  if (auto refused = refuse_name(config_, channel)) return refused;
  const NamespaceSettings& space = config_.namespaces.for_channel(channel);
  if (auto refused = refuse_presence_event(space.presence, event)) return refused;
  const bool keys = !config_.publish_key.empty() || !config_.publish_keys.empty();
  if (client.bearer) {
    if (!keys) {
      // Nothing to check a key against: the bearer proves nothing, so it is judged as if absent.
      if (space.client_publish) return publish_as_client(client, channel, token, space.private_channels);
    } else {
      auto match = match_publish_key(config_, *client.bearer);
      if (!match) return Error{"forbidden", "The publish key is not valid."};
      if (!match->covers(config_, namespace_of(channel))) {
        return Error{"forbidden",
                     "This publish key may not publish to namespace '" + std::string(namespace_of(channel)) + "'."};
      }
      std::string bucket = match->global ? "key:*" : "key:" + std::to_string(match->index);
      return take(publish_rate_, bucket,
                  "with this key: at most " + std::to_string(config_.limits.publishes_per_second) + " a second");
    }
  } else if (space.client_publish) {
    return publish_as_client(client, channel, token, space.private_channels);
  }
  if (!keys && config_.trust.loopback_publish && client.this_machine) {
    return take(publish_rate_, "ip:" + client.address, "from this address");
  }
  if (keys) return Error{"unauthorized", "Publishing needs an 'Authorization: Bearer <publish key>' header."};
  return Error{"forbidden",
               "Publishing needs a publish key (publish_key or [[publish_keys]]), or loopback_publish = true for "
               "clients on this machine (docs/security.md)."};
}

std::optional<Error> Admission::publish_as_client(const Client& client, const std::string& channel,
                                                  std::string_view token, bool private_channel) const {
  if (!client.origin_ok) {
    return Error{"forbidden", "This origin may not open WebSockets or publish as a client (see allowed_origins)."};
  }
  if (private_channel) {
    if (auto refused = auth::authorize_private(token, config_.token_secret, channel, client.address, unix_seconds(),
                                               auth::Grant::publish)) {
      return refused;
    }
  }
  const std::string bucket = "ip:" + client.address;
  if (auto refused = take(publish_rate_, bucket, "from this address")) return refused;
  return take(client_publish_rate_, bucket,
              "from this address: at most " + std::to_string(config_.limits.client_publishes_per_second) + " a second");
}

std::optional<Error> Admission::check_member(const std::string& channel, const PresenceMember& member) const {
  const NamespaceSettings& space = config_.namespaces.for_channel(channel);
  if (!space.presence) {
    return Error{"presence_off", "Namespace '" + std::string(namespace_of(channel)) +
                                     "' keeps no presence: drop 'client' and 'name' (see [namespace.<name>])."};
  }
  if (space.identified) return std::nullopt;  // the member is the token's, signed by the application
  return check_presence_member(member, config_.limits.presence_name_bytes);
}

std::variant<std::shared_ptr<void>, Error> Admission::hold_member(const Client& client, const std::string& channel,
                                                                  const PresenceMember& member) const {
  if (auto refused = check_member(channel, member)) return *refused;
  if (presence_ == nullptr) return std::shared_ptr<void>();
  return presence_->hold(channel, member, client.address);
}

std::optional<Error> Admission::touch_member(const Client& client, const std::string& channel,
                                             const PresenceMember& member) const {
  if (auto refused = check_member(channel, member)) return refused;
  if (presence_ == nullptr) return std::nullopt;
  return presence_->touch(channel, member, client.address);
}

std::optional<Error> Admission::approve_logins(const Client& client) const {
  if (!client.bearer || (config_.publish_key.empty() && config_.publish_keys.empty())) {
    return Error{"unauthorized",
                 "Approving logins server-to-server needs 'Authorization: Bearer <key>' with publish_key or a "
                 "[[publish_keys]] entry for \"_login\"; no address is trusted for it."};
  }
  auto match = match_publish_key(config_, *client.bearer);
  if (!match || !match->covers(config_, "_login")) {
    return Error{"forbidden",
                 "This key may not approve logins: use publish_key or a [[publish_keys]] entry that "
                 "lists \"_login\"."};
  }
  return take(publish_rate_, match->global ? "key:*" : "key:" + std::to_string(match->index), "with this key");
}

std::optional<Error> Admission::administer(const Client& client, std::string_view space) const {
  if (!client.bearer || (config_.publish_key.empty() && config_.publish_keys.empty())) {
    return Error{"unauthorized",
                 "The server API needs 'Authorization: Bearer <publish key>' (publish_key or a [[publish_keys]] "
                 "entry); no address is trusted for it."};
  }
  auto match = match_publish_key(config_, *client.bearer);
  if (!match) return Error{"forbidden", "The publish key is not valid."};
  if (!match->covers(config_, space)) {
    return Error{"forbidden", space == "*" ? std::string("This acts on every namespace: use publish_key, or a "
                                                         "[[publish_keys]] entry for \"*\".")
                                           : "This publish key may not act on namespace '" + std::string(space) + "'."};
  }
  return std::nullopt;
}

std::optional<Error> Admission::read_metrics(const Client& client) const {
  if (config_.metrics.public_access) return std::nullopt;
  if (client.bearer) {
    auto match = match_publish_key(config_, *client.bearer);
    if (match && match->covers(config_, "*")) return std::nullopt;
    return Error{"forbidden", "This key may not read metrics: use publish_key, or a publish_keys entry for \"*\"."};
  }
  if (client.this_machine) return std::nullopt;
  return Error{"unauthorized",
               "Metrics are served to the server's own machine (not through a proxy), to anyone with [metrics] "
               "public = true, or with 'Authorization: Bearer <publish key>' (docs/metrics.md)."};
}

std::size_t Admission::payload_limit(const std::string& channel) const {
  return herald::payload_limit(config_.namespaces.for_channel(channel), config_.limits.max_payload_bytes);
}

}  // namespace herald
