#pragma once
// Subscribe tokens for private namespaces: JWTs signed with HMAC-SHA256 ("HS256", what application
// back-ends already know how to mint) by the application, which shares `token_secret` with herald.
//
//   header  {"alg":"HS256","typ":"JWT"}            any other alg (notably "none") is refused
//   claims  {"channels":["private:alice","team:*"], "exp":1764090000, "nbf":…optional, "client":…optional,
//            "publish":["team:42"]…optional}
//
// A channel is covered by an exact entry or by an entry ending in '*' that is a prefix of it. `channels`
// grants listening; `publish` (the same patterns) grants publishing as a client where the private
// namespace lets clients publish — listening alone never does. `exp`
// (seconds since the Unix epoch) is required: a token without an end is refused. `client`, when
// present, must equal the client's IP address, so a token leaked from one client is useless elsewhere.
//
// A connection token is the same JWT with `sub` (the user id, 1-256 bytes) and optionally `info` (any
// JSON, at most 1024 bytes once serialized, shown in presence); its `channels` are then optional. A
// connection that presents one is that user's until `exp` (docs/security.md, "Tokens on live connections").
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/error.hpp"

namespace herald {

inline std::int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

namespace auth {

struct SubscribeGrant {
  std::vector<std::string> channels;
  std::vector<std::string> publish;
  std::int64_t expires_at = 0;
  std::string client;
  std::string subject;  // `sub`: set for a connection token (who the connection is)
  std::string info;     // `info`, serialized JSON; empty when absent

  bool identifies() const { return !subject.empty(); }
  bool covers(std::string_view channel) const;
  bool covers_publish(std::string_view channel) const;
};

// What a token is presented for.
enum class Grant { subscribe, publish };

// Checks the signature and the time window. Errors: "bad_token" (malformed, wrong algorithm or
// signature), "token_expired" (past exp, or before nbf).
std::variant<SubscribeGrant, Error> verify_subscribe_token(std::string_view token, std::string_view secret,
                                                           std::int64_t now_seconds);

// Whether `grant` lets this client listen on (or publish to) `channel`: forbidden (403) when not.
std::optional<Error> check_grant(const SubscribeGrant& grant, std::string_view channel, std::string_view client_ip,
                                 Grant wanted = Grant::subscribe);

// Everything a subscription must pass on a private channel: a token at all, valid, for this channel,
// and for this client. Errors: token_required, bad_token, token_expired (401), forbidden (403).
std::optional<Error> authorize_private(std::string_view token, std::string_view secret, std::string_view channel,
                                       std::string_view client_ip, std::int64_t now_seconds,
                                       Grant wanted = Grant::subscribe);

// For tests and tools: an HS256 token with these claims (a JSON object's text).
std::string sign_subscribe_token(std::string_view claims_json, std::string_view secret);

}  // namespace auth
}  // namespace herald
