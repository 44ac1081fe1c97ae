#include "login/memory_login_store.hpp"

namespace herald::login {
namespace {

// A refusal, or the value.
template <typename T>
Answer<T> answer_of(std::variant<T, Refusal> outcome) {
  if (auto* refusal = std::get_if<Refusal>(&outcome)) return std::move(*refusal);
  return std::get<T>(std::move(outcome));
}

}  // namespace

MemoryLoginStore::MemoryLoginStore(const Settings& settings, EventSink sink, const std::string& database)
    : settings_(settings),
      requests_(settings, std::move(sink)),
      accounts_(database),
      starts_(settings.limits.starts),
      code_attempts_(settings.limits.code_attempts),
      prompts_(settings.limits.prompts),
      signins_(settings.limits.signins) {}

RateLimiter& MemoryLoginStore::limiter(Limit limit) {
  switch (limit) {
    case Limit::starts:
      return starts_;
    case Limit::code_attempts:
      return code_attempts_;
    case Limit::prompts:
      return prompts_;
    case Limit::signins:
      break;
  }
  return signins_;
}

std::int64_t MemoryLoginStore::ttl_of(TokenKind kind) const {
  return (kind == TokenKind::session ? settings_.session_ttl : settings_.access_token_ttl).count();
}

void MemoryLoginStore::start(Flow flow, Requester requester, std::string client_id, Reply<Started> done) {
  auto started = requests_.start(flow, std::move(requester), std::move(client_id));
  if (!started) return done(refusals::busy());
  done(std::move(*started));
}

void MemoryLoginStore::status(PollSecret poll_secret, Reply<Status> done) {
  auto found = requests_.status(poll_secret);
  if (!found) return done(refusals::unauthorized());
  done(std::move(*found));
}

void MemoryLoginStore::qr_secret(std::string screen_cookie, Reply<std::string> done) {
  auto secret = requests_.qr_secret(screen_cookie);
  if (!secret) return done(refusals::no_qr());
  done(std::move(*secret));
}

void MemoryLoginStore::scan(std::string qr_secret, std::string subject, Reply<Prompt> done) {
  std::optional<unsigned> wait;
  auto outcome = requests_.scan(qr_secret, subject, [&] {
    wait = prompts_.take("account:" + subject);
    return !wait;
  });
  if (wait) return done(refusals::too_many_prompts(*wait));
  done(answer_of(std::move(outcome)));
}

void MemoryLoginStore::enter_code(std::string user_code, std::string subject, Reply<Prompt> done) {
  std::optional<unsigned> wait;
  auto outcome = requests_.enter_code(user_code, subject, [&] {
    wait = prompts_.take("account:" + subject);
    return !wait;
  });
  if (wait) return done(refusals::too_many_prompts(*wait));
  done(answer_of(std::move(outcome)));
}

void MemoryLoginStore::decide(std::string id, std::string subject, bool approve, std::optional<int> number,
                              Reply<State> done) {
  done(answer_of(requests_.decide(id, subject, approve, number)));
}

void MemoryLoginStore::decide_for(Selector which, std::string subject, bool approve, Reply<State> done) {
  done(answer_of(requests_.decide_for(which, subject, approve)));
}

// The request is consumed under the requests' lock, then the session is written: both in this process,
// so neither can happen without the other short of the process dying between them.
void MemoryLoginStore::exchange(std::string screen_cookie, Reply<Grant> done) {
  auto outcome = requests_.exchange(screen_cookie);
  if (auto* refusal = std::get_if<Refusal>(&outcome)) return done(std::move(*refusal));
  std::string subject = std::get<std::string>(std::move(outcome));
  Issued issued = accounts_.issue(TokenKind::session, subject, ttl_of(TokenKind::session));
  done(Grant{std::move(subject), std::move(issued)});
}

void MemoryLoginStore::cancel(std::string screen_cookie, Reply<State> done) {
  done(answer_of(requests_.cancel(screen_cookie)));
}

void MemoryLoginStore::poll_token(std::string device_code, std::string client_id, Reply<Grant> done) {
  auto outcome = requests_.poll_token(device_code, client_id, LoginRequests::Clock::now());
  if (auto* code = std::get_if<std::string>(&outcome)) return done(Refusal{std::move(*code), {}, {}});
  std::string subject = std::get<TokenGrant>(std::move(outcome)).subject;
  Issued issued = accounts_.issue(TokenKind::access, subject, ttl_of(TokenKind::access));
  done(Grant{std::move(subject), std::move(issued)});
}

void MemoryLoginStore::tick() {
  requests_.tick(LoginRequests::Clock::now());
  // Now and then: forget idle rate-limit buckets and expired tokens.
  if (++ticks_ % 60 == 0) {
    for (RateLimiter* limiter : {&starts_, &code_attempts_, &prompts_, &signins_}) limiter->sweep();
    accounts_.purge_expired();
  }
}

void MemoryLoginStore::take(Limit limit, std::vector<std::string> keys, Reply<Done> done) {
  auto wait = limiter(limit).take_all(keys);
  if (wait) return done(refusals::rate_limited(*wait));
  done(Done{});
}

void MemoryLoginStore::add_user(std::string name, std::string password_hash, Reply<bool> done) {
  done(accounts_.add_user(name, password_hash));
}

void MemoryLoginStore::set_password(std::string name, std::string password_hash, Reply<bool> done) {
  done(accounts_.set_password(name, password_hash));
}

void MemoryLoginStore::remove_user(std::string name, Reply<bool> done) { done(accounts_.remove_user(name)); }

void MemoryLoginStore::users(Reply<std::vector<std::string>> done) { done(accounts_.users()); }

void MemoryLoginStore::password_hash(std::string name, Reply<std::string> done) { done(accounts_.password_hash(name)); }

void MemoryLoginStore::issue(TokenKind kind, std::string subject, Reply<Issued> done) {
  done(accounts_.issue(kind, subject, ttl_of(kind)));
}

void MemoryLoginStore::find(TokenKind kind, std::string token, Reply<SessionInfo> done) {
  auto found = accounts_.find(kind, token);
  if (!found) return done(refusals::unauthorized());
  done(std::move(*found));
}

void MemoryLoginStore::revoke(std::string token, Reply<Done> done) {
  accounts_.revoke(token);
  done(Done{});
}

}  // namespace herald::login
