#include "login/accounts.hpp"

#include <sqlite3.h>

#include <chrono>
#include <stdexcept>

#include "login/secrets.hpp"

namespace herald::login {
namespace {

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

const char* kind_name(TokenKind kind) { return kind == TokenKind::session ? "session" : "access"; }

// A prepared statement that finalises itself.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &statement_, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string("database: ") + sqlite3_errmsg(db));
    }
  }
  ~Statement() { sqlite3_finalize(statement_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, const std::string& text) {
    sqlite3_bind_text(statement_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int index, const Digest& digest) {
    sqlite3_bind_blob(statement_, index, digest.data(), static_cast<int>(digest.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int index, std::int64_t value) {
    sqlite3_bind_int64(statement_, index, value);
    return *this;
  }
  // True while a row is available.
  bool step() {
    int result = sqlite3_step(statement_);
    if (result == SQLITE_ROW) return true;
    if (result == SQLITE_DONE) return false;
    throw std::runtime_error(std::string("database: ") + sqlite3_errmsg(db_));
  }
  std::string text(int column) {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(statement_, column));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(statement_, column))) : std::string();
  }
  int changes() const { return sqlite3_changes(db_); }

 private:
  sqlite3* db_;
  sqlite3_stmt* statement_ = nullptr;
};

}  // namespace

Accounts::Accounts(const std::string& path) : path_(path) {
  init_secrets();
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw std::runtime_error("cannot open the login database " + path + ": " + why);
  }
  sqlite3_busy_timeout(db_, 2000);  // `herald users add` may write while the server runs
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=NORMAL");
  exec(
      "CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, created INTEGER NOT "
      "NULL)");
  exec(
      "CREATE TABLE IF NOT EXISTS tokens (digest BLOB PRIMARY KEY, kind TEXT NOT NULL, subject TEXT NOT NULL, "
      "csrf TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL)");
}

Accounts::~Accounts() { sqlite3_close(db_); }

void Accounts::exec(const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string why = error ? error : "unknown error";
    sqlite3_free(error);
    throw std::runtime_error("login database " + path_ + ": " + why);
  }
}

bool Accounts::add_user(const std::string& name, const std::string& password_hash) {
  if (name.empty() || password_hash.empty()) throw std::invalid_argument("a user needs a name and a password");
  std::lock_guard lock(mutex_);
  Statement insert(db_, "INSERT OR IGNORE INTO users (name, password_hash, created) VALUES (?, ?, ?)");
  insert.bind(1, name).bind(2, password_hash).bind(3, now_seconds()).step();
  return insert.changes() == 1;
}

bool Accounts::set_password(const std::string& name, const std::string& password_hash) {
  if (password_hash.empty()) throw std::invalid_argument("a user needs a password");
  std::lock_guard lock(mutex_);
  Statement update(db_, "UPDATE users SET password_hash = ? WHERE name = ?");
  update.bind(1, password_hash).bind(2, name).step();
  if (update.changes() != 1) return false;
  revoke_subject_locked(name);
  return true;
}

bool Accounts::remove_user(const std::string& name) {
  std::lock_guard lock(mutex_);
  Statement remove(db_, "DELETE FROM users WHERE name = ?");
  remove.bind(1, name).step();
  if (remove.changes() != 1) return false;
  revoke_subject_locked(name);
  return true;
}

void Accounts::revoke_subject_locked(const std::string& subject) {
  Statement remove(db_, "DELETE FROM tokens WHERE subject = ?");
  remove.bind(1, subject).step();
}

std::vector<std::string> Accounts::users() {
  std::lock_guard lock(mutex_);
  Statement select(db_, "SELECT name FROM users ORDER BY name");
  std::vector<std::string> names;
  while (select.step()) names.push_back(select.text(0));
  return names;
}

std::string Accounts::password_hash(const std::string& name) {
  std::lock_guard lock(mutex_);
  Statement select(db_, "SELECT password_hash FROM users WHERE name = ?");
  select.bind(1, name);
  return select.step() ? select.text(0) : std::string();
}

Issued Accounts::issue(TokenKind kind, const std::string& subject, std::int64_t ttl_seconds) {
  Issued issued{random_token(), kind == TokenKind::session ? random_token() : std::string()};
  std::int64_t now = now_seconds();
  std::lock_guard lock(mutex_);
  Statement insert(db_, "INSERT INTO tokens (digest, kind, subject, csrf, created, expires) VALUES (?, ?, ?, ?, ?, ?)");
  insert.bind(1, sha256(issued.token))
      .bind(2, std::string(kind_name(kind)))
      .bind(3, subject)
      .bind(4, issued.csrf)
      .bind(5, now)
      .bind(6, now + ttl_seconds)
      .step();
  return issued;
}

std::optional<SessionInfo> Accounts::find(TokenKind kind, const std::string& token) {
  if (token.empty()) return std::nullopt;
  std::lock_guard lock(mutex_);
  // Looked up by digest: an index probe on a hash reveals nothing usable about the token itself.
  Statement select(db_, "SELECT subject, csrf FROM tokens WHERE digest = ? AND kind = ? AND expires > ?");
  select.bind(1, sha256(token)).bind(2, std::string(kind_name(kind))).bind(3, now_seconds());
  if (!select.step()) return std::nullopt;
  return SessionInfo{select.text(0), select.text(1)};
}

void Accounts::revoke(const std::string& token) {
  std::lock_guard lock(mutex_);
  Statement remove(db_, "DELETE FROM tokens WHERE digest = ?");
  remove.bind(1, sha256(token)).step();
}

void Accounts::purge_expired() {
  std::lock_guard lock(mutex_);
  Statement remove(db_, "DELETE FROM tokens WHERE expires <= ?");
  remove.bind(1, now_seconds()).step();
}

}  // namespace herald::login
