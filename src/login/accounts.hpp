#pragma once
// Accounts and sessions of one node, kept in SQLite so they survive a restart (MemoryLoginStore's; with
// Redis they live in Redis, redis_login_store.hpp).
//
// Passwords arrive as Argon2id hashes (login/passwords.hpp): nothing here sees a password. Session and
// access tokens are 256-bit random strings; only their SHA-256 digests are stored.
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "login/login_store.hpp"

struct sqlite3;

namespace herald::login {

class Accounts {
 public:
  // Opens (creating if needed) the database at `path`. Throws std::runtime_error naming the file.
  explicit Accounts(const std::string& path);
  ~Accounts();
  Accounts(const Accounts&) = delete;
  Accounts& operator=(const Accounts&) = delete;

  // False when the name is taken. Throws std::invalid_argument for an empty name or hash.
  bool add_user(const std::string& name, const std::string& password_hash);
  // False when there is no such account. Ends the account's sessions and access tokens.
  bool set_password(const std::string& name, const std::string& password_hash);
  // False when there is no such account. Ends the account's sessions and access tokens.
  bool remove_user(const std::string& name);
  std::vector<std::string> users();
  // "" when there is no such account.
  std::string password_hash(const std::string& name);

  Issued issue(TokenKind kind, const std::string& subject, std::int64_t ttl_seconds);
  std::optional<SessionInfo> find(TokenKind kind, const std::string& token);
  void revoke(const std::string& token);
  void purge_expired();

 private:
  void exec(const char* sql);
  void revoke_subject_locked(const std::string& subject);

  std::mutex mutex_;  // one connection, shared by every event loop
  sqlite3* db_ = nullptr;
  std::string path_;
};

}  // namespace herald::login
