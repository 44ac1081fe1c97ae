#pragma once
// Accounts and sessions, kept in SQLite so they survive a restart.
//
// Passwords are Argon2id hashes (libsodium crypto_pwhash_str, interactive limits): checking one takes
// tens of milliseconds on purpose, so callers run check_password() off the event loops. Session and
// access tokens are 256-bit random strings; only their SHA-256 digests are stored.
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace herald::login {

enum class TokenKind { session, access };

struct Issued {
  std::string token;  // given to the client once, never stored
  std::string csrf;   // for cookie sessions: the value state-changing requests must echo
};

struct SessionInfo {
  std::string subject;  // the account name, or an external user id approved server-to-server
  std::string csrf;
};

class Accounts {
 public:
  // Opens (creating if needed) the database at `path`. Throws std::runtime_error naming the file.
  explicit Accounts(const std::string& path);
  ~Accounts();
  Accounts(const Accounts&) = delete;
  Accounts& operator=(const Accounts&) = delete;

  // False when the name is taken. Throws std::invalid_argument for an empty name or password.
  bool add_user(const std::string& name, const std::string& password);
  std::vector<std::string> users();
  // The same work whether or not the account exists, so timing does not reveal names.
  bool check_password(const std::string& name, const std::string& password);

  Issued issue(TokenKind kind, const std::string& subject, std::int64_t ttl_seconds);
  std::optional<SessionInfo> find(TokenKind kind, const std::string& token);
  void revoke(const std::string& token);
  void purge_expired();

 private:
  void exec(const char* sql);

  std::mutex mutex_;  // one connection, shared by every event loop
  sqlite3* db_ = nullptr;
  std::string path_;
};

}  // namespace herald::login
