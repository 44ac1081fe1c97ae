#pragma once
// Password hashes: Argon2id (libsodium crypto_pwhash_str, interactive limits). Both take tens of
// milliseconds on purpose, so servers run them off the event loops. The login stores keep only the hash.
#include <string>
#include <string_view>

namespace herald::login {

// Throws std::invalid_argument for an empty password, std::runtime_error when out of memory.
std::string hash_password(std::string_view password);
// True when `password` matches `stored`. An empty `stored` (no such account) is checked against a hash of
// nothing, so an unknown name costs what a wrong password does and timing does not reveal names.
bool verify_password(const std::string& stored, std::string_view password);

}  // namespace herald::login
