#include "auth/subscribe_token.hpp"

#include <sodium.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <optional>

namespace herald::auth {
namespace {

const Error bad_token{"bad_token", "The token is not valid."};
constexpr std::size_t max_subject_bytes = 256;
constexpr std::size_t max_info_bytes = 1024;

std::optional<std::string> from_base64url(std::string_view text) {
  std::string out(text.size(), '\0');
  std::size_t length = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(), text.size(), nullptr,
                        &length, nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0) {
    return std::nullopt;
  }
  out.resize(length);
  return out;
}

std::string to_base64url(std::string_view bytes) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(out.size() - 1);
  return out;
}

// HMAC-SHA256 with a key of any length (libsodium's streaming API takes arbitrary keys).
std::string hmac_sha256(std::string_view key, std::string_view message) {
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(message.data()), message.size());
  std::string tag(crypto_auth_hmacsha256_BYTES, '\0');
  crypto_auth_hmacsha256_final(&state, reinterpret_cast<unsigned char*>(tag.data()));
  return tag;
}

std::optional<boost::json::object> json_object(std::string_view text) {
  boost::system::error_code ec;
  auto value = boost::json::parse(text, ec);
  if (ec || !value.is_object()) return std::nullopt;
  return std::move(value.as_object());
}

// A JSON number of seconds that is a whole number in the int64 range.
std::optional<std::int64_t> seconds(const boost::json::value& value) {
  if (value.is_int64()) return value.as_int64();
  if (value.is_uint64() && value.as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(value.as_uint64());
  }
  if (value.is_double() && value.as_double() >= -9e18 && value.as_double() <= 9e18) {
    return static_cast<std::int64_t>(value.as_double());
  }
  return std::nullopt;
}

}  // namespace

namespace {

bool any_covers(const std::vector<std::string>& patterns, std::string_view channel) {
  for (const auto& entry : patterns) {
    if (entry == channel) return true;
    if (!entry.empty() && entry.back() == '*' &&
        channel.starts_with(std::string_view(entry).substr(0, entry.size() - 1))) {
      return true;
    }
  }
  return false;
}

}  // namespace

bool SubscribeGrant::covers(std::string_view channel) const { return any_covers(channels, channel); }
bool SubscribeGrant::covers_publish(std::string_view channel) const { return any_covers(publish, channel); }

std::variant<SubscribeGrant, Error> verify_subscribe_token(std::string_view token, std::string_view secret,
                                                           std::int64_t now_seconds) {
  if (sodium_init() < 0 || secret.empty()) return bad_token;
  auto first = token.find('.');
  auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) return bad_token;

  auto signature = from_base64url(token.substr(second + 1));
  std::string expected = hmac_sha256(secret, token.substr(0, second));
  if (!signature || signature->size() != expected.size() ||
      sodium_memcmp(signature->data(), expected.data(), expected.size()) != 0) {
    return bad_token;
  }
  // Only now, with the signature checked, is the content worth reading. The header must still say HS256:
  // a token is never verified by an algorithm it chose itself.
  auto header_text = from_base64url(token.substr(0, first));
  auto header = header_text ? json_object(*header_text) : std::nullopt;
  if (!header || !header->contains("alg") || !(*header)["alg"].is_string() || (*header)["alg"].as_string() != "HS256") {
    return bad_token;
  }
  auto claims_text = from_base64url(token.substr(first + 1, second - first - 1));
  auto claims = claims_text ? json_object(*claims_text) : std::nullopt;
  if (!claims) return bad_token;

  SubscribeGrant grant;
  auto exp = claims->if_contains("exp");
  auto expires = exp ? seconds(*exp) : std::nullopt;
  if (!expires) return bad_token;
  grant.expires_at = *expires;
  if (now_seconds >= grant.expires_at) return Error{"token_expired", "The token has expired."};
  if (auto nbf = claims->if_contains("nbf")) {
    auto not_before = seconds(*nbf);
    if (!not_before) return bad_token;
    if (now_seconds < *not_before) return Error{"token_expired", "The token is not valid yet."};
  }
  if (auto sub = claims->if_contains("sub")) {
    if (!sub->is_string() || sub->as_string().empty() || sub->as_string().size() > max_subject_bytes) {
      return bad_token;
    }
    grant.subject = std::string(sub->as_string());
  }
  if (auto info = claims->if_contains("info")) {
    grant.info = boost::json::serialize(*info);
    if (grant.info.size() > max_info_bytes) return bad_token;
  }
  // A subscribe token exists to name channels; a connection token (with `sub`) may name none.
  auto channels = claims->if_contains("channels");
  if (channels) {
    if (!channels->is_array()) return bad_token;
    for (const auto& entry : channels->as_array()) {
      if (!entry.is_string()) return bad_token;
      grant.channels.emplace_back(entry.as_string());
    }
  } else if (grant.subject.empty()) {
    return bad_token;
  }
  if (auto publish = claims->if_contains("publish")) {
    if (!publish->is_array()) return bad_token;
    for (const auto& entry : publish->as_array()) {
      if (!entry.is_string()) return bad_token;
      grant.publish.emplace_back(entry.as_string());
    }
  }
  if (auto client = claims->if_contains("client")) {
    if (!client->is_string()) return bad_token;
    grant.client = std::string(client->as_string());
  }
  return grant;
}

std::optional<Error> authorize_private(std::string_view token, std::string_view secret, std::string_view channel,
                                       std::string_view client_ip, std::int64_t now_seconds, Grant wanted) {
  if (token.empty()) {
    if (wanted == Grant::publish) {
      return Error{"token_required",
                   "This channel is private: publishing as a client needs a token whose 'publish' claim covers it "
                   "(?token= on POST /pub, or the frame's token on /ws)."};
    }
    return Error{"token_required", "This channel is private: subscribe with ?token= or Authorization: Bearer."};
  }
  auto verified = verify_subscribe_token(token, secret, now_seconds);
  if (auto* error = std::get_if<Error>(&verified)) return *error;
  return check_grant(std::get<SubscribeGrant>(verified), channel, client_ip, wanted);
}

std::optional<Error> check_grant(const SubscribeGrant& grant, std::string_view channel, std::string_view client_ip,
                                 Grant wanted) {
  if (wanted == Grant::publish && !grant.covers_publish(channel)) {
    return Error{"forbidden", "The token's 'publish' claim does not cover this channel."};
  }
  if (wanted == Grant::subscribe && !grant.covers(channel)) {
    return Error{"forbidden", "The subscribe token does not cover this channel."};
  }
  if (!grant.client.empty() && grant.client != client_ip) {
    return Error{"forbidden", "The subscribe token was issued to another client."};
  }
  return std::nullopt;
}

std::string sign_subscribe_token(std::string_view claims_json, std::string_view secret) {
  if (sodium_init() < 0) return {};
  std::string signing_input = to_base64url(R"({"alg":"HS256","typ":"JWT"})") + "." + to_base64url(claims_json);
  return signing_input + "." + to_base64url(hmac_sha256(secret, signing_input));
}

}  // namespace herald::auth
