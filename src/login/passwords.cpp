#include "login/passwords.hpp"

#include <sodium.h>

#include <stdexcept>

#include "login/secrets.hpp"

namespace herald::login {
namespace {

std::string argon2id(std::string_view password) {
  char hash[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(hash, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    throw std::runtime_error("out of memory while hashing a password");
  }
  return hash;
}

}  // namespace

std::string hash_password(std::string_view password) {
  if (password.empty()) throw std::invalid_argument("a password must not be empty");
  init_secrets();
  return argon2id(password);
}

bool verify_password(const std::string& stored, std::string_view password) {
  init_secrets();
  if (stored.empty()) {
    static const std::string decoy = argon2id("");
    [[maybe_unused]] int ignored = crypto_pwhash_str_verify(decoy.c_str(), password.data(), password.size());
    return false;
  }
  return crypto_pwhash_str_verify(stored.c_str(), password.data(), password.size()) == 0;
}

}  // namespace herald::login
