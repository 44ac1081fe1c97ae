#pragma once
// The login store of one node (login_store.hpp): login requests in memory (LoginRequests, which publishes
// its events through the sink, so the memory broker appends them in transition order), the rate limits
// in memory, accounts and tokens in SQLite. Every call answers at once, on the calling thread.
#include <string>

#include "core/rate_limiter.hpp"
#include "login/accounts.hpp"
#include "login/login_requests.hpp"
#include "login/login_store.hpp"

namespace herald::login {

class MemoryLoginStore final : public LoginStore {
 public:
  // Opens (creating if needed) the SQLite database at `database`; throws std::runtime_error naming it.
  MemoryLoginStore(const Settings& settings, EventSink sink, const std::string& database);

  void start(Flow flow, Requester requester, std::string client_id, Reply<Started> done) override;
  void status(PollSecret poll_secret, Reply<Status> done) override;
  void qr_secret(std::string screen_cookie, Reply<std::string> done) override;
  void scan(std::string qr_secret, std::string subject, Reply<Prompt> done) override;
  void enter_code(std::string user_code, std::string subject, Reply<Prompt> done) override;
  void decide(std::string id, std::string subject, bool approve, std::optional<int> number, Reply<State> done) override;
  void decide_for(Selector which, std::string subject, bool approve, Reply<State> done) override;
  void exchange(std::string screen_cookie, Reply<Grant> done) override;
  void cancel(std::string screen_cookie, Reply<State> done) override;
  void poll_token(std::string device_code, std::string client_id, Reply<Grant> done) override;
  void tick() override;

  void take(Limit limit, std::vector<std::string> keys, Reply<Done> done) override;

  void add_user(std::string name, std::string password_hash, Reply<bool> done) override;
  void set_password(std::string name, std::string password_hash, Reply<bool> done) override;
  void remove_user(std::string name, Reply<bool> done) override;
  void users(Reply<std::vector<std::string>> done) override;
  void password_hash(std::string name, Reply<std::string> done) override;
  void issue(TokenKind kind, std::string subject, Reply<Issued> done) override;
  void find(TokenKind kind, std::string token, Reply<SessionInfo> done) override;
  void revoke(std::string token, Reply<Done> done) override;

  std::uint64_t started(Flow flow) const override { return requests_.started(flow); }
  std::uint64_t entered(State state) const override { return requests_.entered(state); }

 private:
  RateLimiter& limiter(Limit limit);
  std::int64_t ttl_of(TokenKind kind) const;

  Settings settings_;
  LoginRequests requests_;
  Accounts accounts_;
  RateLimiter starts_, code_attempts_, prompts_, signins_;
  unsigned ticks_ = 0;
};

}  // namespace herald::login
