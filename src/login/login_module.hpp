#pragma once
// Everything the login routes use, made once by the app: the login requests, the account store, the
// rate limits, and a way to run slow work (password hashing) away from the event loops.
#include <functional>

#include "config/config.hpp"
#include "core/rate_limiter.hpp"
#include "login/accounts.hpp"
#include "login/login_requests.hpp"

namespace herald::login {

struct LoginModule {
  LoginModule(const LoginConfig& settings, EventSink sink)
      : config(settings),
        requests(Settings{std::chrono::seconds(settings.request_ttl_seconds),
                          std::chrono::seconds(settings.poll_interval_seconds),
                          std::chrono::seconds(settings.qr_rotate_seconds), settings.max_number_attempts,
                          settings.max_requests},
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
  RateLimiter prompts;        // successful scans, per account (against push-bombing)
  RateLimiter signins;        // per IP and per name
  std::function<void(std::function<void()>)> run_blocking;
};

}  // namespace herald::login
