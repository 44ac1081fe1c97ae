#pragma once
// Everything the login routes use, made once by the app: the login store (login_store.hpp: requests, rate
// limits, accounts and tokens; in memory and SQLite on one node, in Redis with broker = "redis") and a way
// to run slow work (password hashing) away from the event loops.
#include <functional>
#include <memory>

#include "config/config.hpp"
#include "login/login_store.hpp"

namespace herald::login {

// Past `signins_per_minute` attempts on one name (from anywhere), each further attempt on that name waits
// this long at most before its password is checked: slowed, never refused, so nobody can lock an account's
// owner out by guessing from other addresses.
inline constexpr std::chrono::seconds max_signin_delay{5};

// The store's settings from [login].
inline Settings settings_of(const LoginConfig& config) {
  return Settings{.ttl = std::chrono::seconds(config.request_ttl_seconds),
                  .poll_interval = std::chrono::seconds(config.poll_interval_seconds),
                  .qr_rotate = std::chrono::seconds(config.qr_rotate_seconds),
                  .max_requests = config.max_requests,
                  .session_ttl = std::chrono::seconds(config.session_ttl_seconds),
                  .access_token_ttl = std::chrono::seconds(config.access_token_ttl_seconds),
                  .limits = {.starts = config.starts_per_minute,
                             .code_attempts = config.code_attempts_per_minute,
                             .prompts = config.prompts_per_minute,
                             .signins = config.signins_per_minute}};
}

struct LoginModule {
  const LoginConfig& config;
  std::unique_ptr<LoginStore> store;
  std::function<void(std::function<void()>)> run_blocking;
};

}  // namespace herald::login
