// Accounts and sessions in SQLite, password hashes, and the rate limiter.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core/rate_limiter.hpp"
#include "login/accounts.hpp"
#include "login/passwords.hpp"

namespace herald::login {
namespace {

std::string temp_database() {
  auto path = std::filesystem::temp_directory_path() /
              ("herald-accounts-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()) + ".db");
  return path.string();
}

TEST(Accounts, PasswordsAndSessionsSurviveReopening) {
  std::string path = temp_database();
  std::string token;
  {
    Accounts accounts(path);
    EXPECT_TRUE(accounts.add_user("alice", hash_password("correct horse")));
    EXPECT_FALSE(accounts.add_user("alice", hash_password("again")));
    EXPECT_TRUE(verify_password(accounts.password_hash("alice"), "correct horse"));
    EXPECT_FALSE(verify_password(accounts.password_hash("alice"), "wrong"));
    EXPECT_FALSE(verify_password(accounts.password_hash("nobody"), "correct horse"));
    Issued issued = accounts.issue(TokenKind::session, "alice", 60);
    EXPECT_FALSE(issued.csrf.empty());
    token = issued.token;
  }
  Accounts reopened(path);
  EXPECT_EQ(reopened.users(), std::vector<std::string>{"alice"});
  auto found = reopened.find(TokenKind::session, token);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->subject, "alice");
  EXPECT_FALSE(reopened.find(TokenKind::access, token));  // a session cookie is not a bearer token
  reopened.revoke(token);
  EXPECT_FALSE(reopened.find(TokenKind::session, token));
  std::filesystem::remove(path);
}

TEST(Accounts, ExpiredTokensAreNotFound) {
  std::string path = temp_database();
  Accounts accounts(path);
  Issued issued = accounts.issue(TokenKind::access, "tv-user", 0);
  EXPECT_FALSE(accounts.find(TokenKind::access, issued.token));
  EXPECT_FALSE(accounts.find(TokenKind::access, "planted-by-an-attacker"));
  std::filesystem::remove(path);
}

// The stored hash is Argon2id, never the password; an unknown name (no hash) costs a check and fails.
TEST(Passwords, HashesAreArgon2idAndAnEmptyHashNeverMatches) {
  std::string hash = hash_password("correct horse");
  EXPECT_TRUE(hash.starts_with("$argon2id$"));
  EXPECT_EQ(hash.find("correct horse"), std::string::npos);
  EXPECT_NE(hash_password("correct horse"), hash);  // salted
  EXPECT_TRUE(verify_password(hash, "correct horse"));
  EXPECT_FALSE(verify_password(hash, "correct horse "));
  EXPECT_FALSE(verify_password("", ""));
  EXPECT_THROW(hash_password(""), std::invalid_argument);
}

}  // namespace
}  // namespace herald::login

namespace herald {
namespace {

TEST(RateLimiter, RefusesPastTheBudgetAndRefills) {
  RateLimiter limiter(3);
  auto now = RateLimiter::Clock::now();
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(limiter.take("ip:1", now));
  auto wait = limiter.take("ip:1", now);
  ASSERT_TRUE(wait);
  EXPECT_EQ(*wait, 20u);                    // one token comes back every 20 s
  EXPECT_FALSE(limiter.take("ip:2", now));  // other keys are not affected
  EXPECT_FALSE(limiter.take("ip:1", now + std::chrono::seconds(20)));
}

TEST(RateLimiter, TakeAllTakesNothingWhenOneKeyIsEmpty) {
  RateLimiter limiter(1);
  auto now = RateLimiter::Clock::now();
  EXPECT_FALSE(limiter.take("account:a", now));
  EXPECT_TRUE(limiter.take_all(std::vector<std::string>{"ip:1", "account:a"}, now));
  EXPECT_FALSE(limiter.take("ip:1", now));  // untouched by the refused take_all
}

}  // namespace
}  // namespace herald
