#pragma once
// The login flow's secrets: random tokens from the OS CSPRNG (libsodium), their SHA-256 digests (only
// digests are stored), constant-time comparison, keyed MACs, and RFC 8628 user codes.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace herald::login {

using Digest = std::array<unsigned char, 32>;

// Call once before any other function here (initialises libsodium; safe to call again).
void init_secrets();

// `bytes` random bytes as unpadded base64url (32 bytes: 256 bits, 43 characters).
std::string random_token(std::size_t bytes = 32);
// A uniformly random integer in [0, upper).
std::uint32_t random_below(std::uint32_t upper);

Digest sha256(std::string_view text);
// The digest as a map key (32 raw bytes).
inline std::string digest_key(const Digest& digest) { return {digest.begin(), digest.end()}; }
bool equal_in_constant_time(const Digest& a, const Digest& b);

// HMAC-SHA256 keys and tags, for secrets that are recomputed rather than stored.
using MacKey = std::array<unsigned char, 32>;
MacKey random_mac_key();
std::string mac_base64url(const MacKey& key, std::string_view text);
bool equal_in_constant_time(std::string_view a, std::string_view b);

// RFC 8628 §6.1: 8 characters of the base-20 alphabet BCDFGHJKLMNPQRSTVWXZ (no vowels, no look-alikes).
std::string random_user_code();  // normalised, no dash
// "BCDFGHJK" -> "BCDF-GHJK".
std::string format_user_code(std::string_view code);
// Upper-cases and drops dashes and spaces; nullopt unless 8 characters of the alphabet remain.
std::optional<std::string> normalize_user_code(std::string_view entered);

}  // namespace herald::login
