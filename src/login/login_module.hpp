#pragma once
// Everything the login routes use, made once by the app: the login requests, the account store, the
// rate limits, and a way to run slow work (password hashing) away from the event loops.
#include <functional>

#include "config/config.hpp"
#include "core/rate_limiter.hpp"
#include "login/accounts.hpp"
#include "login/login_requests.hpp"

namespace herald::login {

// Past `signins_per_minute` attempts on one name (from anywhere), each further attempt on that name waits
// this long at most before its password is checked: slowed, never refused, so nobody can lock an account's
// owner out by guessing from other addresses.
inline constexpr std::chrono::seconds max_signin_delay{5};

struct LoginModule {
  LoginModule(const LoginConfig& settings, EventSink sink)
      : config(settings),
        requests(Settings{std::chrono::seconds(settings.request_ttl_seconds),
                          std::chrono::seconds(settings.poll_interval_seconds),
                          std::chrono::seconds(settings.qr_rotate_seconds), settings.max_requests},
                 std::move(sink)),
        accounts(settings.database),
        starts(settings.starts_per_minute),
        code_attempts(settings.code_attempts_per_minute),
        prompts(settings.prompts_per_minute),
        signins(settings.signins_per_minute) {}

  const LoginConfig& config;
  LoginRequests requests;
  Accounts accounts;
  RateLimiter starts;         // login starts and device authorizations, per IP
  RateLimiter code_attempts;  // QR secrets and user codes tried, per account and per IP
  RateLimiter prompts;        // approval prompts (good codes only), per account (against push-bombing)
  RateLimiter signins;        // "ip:" refuses past the limit, "name:" only delays (max_signin_delay)
  std::function<void(std::function<void()>)> run_blocking;
};

}  // namespace herald::login
