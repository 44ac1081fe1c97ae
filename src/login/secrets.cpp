#include "login/secrets.hpp"

#include <sodium.h>

#include <stdexcept>

namespace herald::login {
namespace {

constexpr std::string_view user_code_alphabet = "BCDFGHJKLMNPQRSTVWXZ";
constexpr std::size_t user_code_length = 8;

std::string to_base64url(const unsigned char* data, std::size_t size) {
  std::string out(sodium_base64_ENCODED_LEN(size, sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), data, size, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

}  // namespace

void init_secrets() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium could not be initialised");
}

std::string random_token(std::size_t bytes) {
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  return to_base64url(reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
}

std::uint32_t random_below(std::uint32_t upper) { return randombytes_uniform(upper); }

Digest sha256(std::string_view text) {
  Digest digest;
  crypto_hash_sha256(digest.data(), reinterpret_cast<const unsigned char*>(text.data()), text.size());
  return digest;
}

bool equal_in_constant_time(const Digest& a, const Digest& b) {
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool equal_in_constant_time(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

MacKey random_mac_key() {
  MacKey key;
  crypto_auth_hmacsha256_keygen(key.data());
  return key;
}

std::string mac_base64url(const MacKey& key, std::string_view text) {
  std::array<unsigned char, crypto_auth_hmacsha256_BYTES> tag;
  crypto_auth_hmacsha256(tag.data(), reinterpret_cast<const unsigned char*>(text.data()), text.size(), key.data());
  return to_base64url(tag.data(), tag.size());
}

std::string random_user_code() {
  std::string code;
  for (std::size_t i = 0; i < user_code_length; ++i) {
    code += user_code_alphabet[random_below(static_cast<std::uint32_t>(user_code_alphabet.size()))];
  }
  return code;
}

std::string format_user_code(std::string_view code) {
  return std::string(code.substr(0, 4)) + "-" + std::string(code.substr(4));
}

std::optional<std::string> normalize_user_code(std::string_view entered) {
  std::string code;
  for (char c : entered) {
    if (c == '-' || c == ' ') continue;
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (user_code_alphabet.find(c) == std::string_view::npos) return std::nullopt;
    code += c;
    if (code.size() > user_code_length) return std::nullopt;
  }
  if (code.size() != user_code_length) return std::nullopt;
  return code;
}

}  // namespace herald::login
