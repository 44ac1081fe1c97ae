#include "login/redis_login_store.hpp"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/string_view.hpp>
#include <charconv>

#include "broker/redis_reply.hpp"
#include "broker/redis_scripts.hpp"
#include "login/redis_login_scripts.hpp"

namespace herald::login {
namespace {

namespace asio = boost::asio;
namespace scripts = redis_login_scripts;
using redis_reply::on_calling_loop;

static_assert(finished_kept_for == std::chrono::seconds(60) && previous_qr_grace == std::chrono::seconds(15),
              "the Lua prelude in redis_login_scripts.hpp spells these out: change both");

constexpr std::chrono::milliseconds bucket_window{60000};  // RateLimiter's default window: a minute
constexpr std::size_t tick_batch = 1000;
constexpr int user_code_tries = 5;

// In the order of RedisLoginStore::Script.
std::vector<std::string> all_scripts(const RedisOptions& options) {
  std::vector<std::string> bodies;
  for (const char* body :
       {scripts::start,  scripts::status,        scripts::qr_secret, scripts::scan,         scripts::enter_code,
        scripts::decide, scripts::decide_for,    scripts::exchange,  scripts::cancel,       scripts::poll_token,
        scripts::tick,   scripts::take,          scripts::add_user,  scripts::set_password, scripts::remove_user,
        scripts::users,  scripts::password_hash, scripts::issue,     scripts::find,         scripts::revoke,
        scripts::qr_key}) {
    bodies.push_back(redis_scripts::prelude_for(options.clustered(), options.follows_failover()) + scripts::prelude +
                     body);
  }
  return bodies;
}

const char* limit_name(Limit limit) {
  switch (limit) {
    case Limit::starts:
      return "starts";
    case Limit::code_attempts:
      return "code_attempts";
    case Limit::prompts:
      return "prompts";
    case Limit::signins:
      return "signins";
  }
  return "unknown";
}

std::string hex(const Digest& digest) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(digest.size() * 2);
  for (unsigned char byte : digest) {
    out += digits[byte >> 4U];
    out += digits[byte & 0x0FU];
  }
  return out;
}

std::string digest_hex(std::string_view secret) { return hex(sha256(secret)); }

std::string ms(std::chrono::milliseconds duration) { return std::to_string(duration.count()); }

std::int64_t number(const std::string& text) {
  std::int64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

std::string quote(std::string_view text) { return boost::json::serialize(boost::json::string_view(text)); }

// Six random numbers of 10-99 for the numbers a phone is offered, and one of their six orders.
std::string draws() {
  std::string out;
  for (int i = 0; i < 6; ++i) out += std::to_string(10 + random_below(90)) + " ";
  return out;
}
std::string order() { return std::to_string(random_below(6)); }

// A QR secret `<id>.<rotation>.<mac>` taken apart (the MAC is checked against the key by the caller).
struct QrParts {
  std::string id, rotation;
};
std::optional<QrParts> qr_parts(const std::string& secret) {
  auto first = secret.find('.');
  auto second = first == std::string::npos ? first : secret.find('.', first + 1);
  if (second == std::string::npos) return std::nullopt;
  std::uint64_t rotation = 0;
  const char* begin = secret.data() + first + 1;
  const char* end = secret.data() + second;
  auto [stop, error] = std::from_chars(begin, end, rotation);
  if (error != std::errc() || stop != end || first == 0) return std::nullopt;
  return QrParts{secret.substr(0, first), std::to_string(rotation)};
}

// The refusal a script's tag stands for.
Refusal refusal_of(const std::vector<std::string>& fields) {
  const std::string& tag = fields.at(0);
  std::string value = fields.size() > 1 ? fields[1] : std::string();
  if (tag == "invalid_code") return refusals::invalid_code();
  if (tag == "unauthorized") return refusals::unauthorized();
  if (tag == "gone") return refusals::gone();
  if (tag == "not_approved") return refusals::not_approved(state_named(value).value_or(State::pending));
  if (tag == "access_denied") return refusals::access_denied(value);
  if (tag == "wrong_number") return refusals::wrong_number();
  if (tag == "number_required") return refusals::number_required();
  if (tag == "busy") return refusals::busy();
  if (tag == "rate_limited") return refusals::too_many_prompts(static_cast<unsigned>(number(value)));
  spdlog::error("redis (login): unexpected answer {}", tag);
  return login_unavailable();
}

template <typename T>
void answer(const Reply<T>& reply, const std::optional<std::vector<std::string>>& fields,
            const std::function<T(const std::vector<std::string>&)>& ok) {
  if (!fields || fields->empty()) return reply(login_unavailable());
  if ((*fields)[0] != "ok") return reply(refusal_of(*fields));
  reply(ok(*fields));
}

}  // namespace

RedisLoginStore::RedisLoginStore(RedisOptions options, const Settings& settings, HistoryLimits events,
                                 std::function<void(std::uint64_t)> published)
    : options_(options),
      settings_(settings),
      events_(events),
      published_(std::move(published)),
      link_(std::move(options), all_scripts(options_), "login", options_.key_prefix + "{login}") {
  init_secrets();
}

RedisLoginStore::~RedisLoginStore() { link_.stop(); }

void RedisLoginStore::post(std::function<void()> work) { asio::post(link_.io(), std::move(work)); }

std::string RedisLoginStore::bucket(Limit limit, const std::string& key) const {
  return options_.key_prefix + "{login}:rl:" + limit_name(limit) + ":" + key;
}

std::string RedisLoginStore::qr_secret_of(const QrKey& key, const std::string& id, std::string_view rotation) const {
  std::string body = id + "." + std::string(rotation);
  return body + "." + mac_base64url(key.key, "qr:" + body);
}

// --- calling Redis ----------------------------------------------------------------------------------

void RedisLoginStore::call(Script script, std::vector<std::string> args, Handler handler) {
  std::vector<std::string> argv{options_.key_prefix, std::to_string(new_history_id()),
                                std::to_string(events_.max_messages), std::to_string(events_.max_age.count())};
  argv.insert(argv.end(), std::make_move_iterator(args.begin()), std::make_move_iterator(args.end()));
  link_.run_script(static_cast<std::size_t>(script), std::move(argv),
                   [this, script, handler = std::move(handler)](redisReply* reply) {
                     if (reply == nullptr) return handler(std::nullopt);
                     if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) {
                       spdlog::error("redis (login): script {} answered {}", static_cast<int>(script),
                                     redis_reply::text(reply));
                       return handler(std::nullopt);
                     }
                     std::string_view entered = redis_reply::text(reply->element[0]);
                     while (!entered.empty()) {
                       auto comma = entered.find(',');
                       if (auto state = state_named(entered.substr(0, comma))) {
                         entered_[static_cast<std::size_t>(*state)].fetch_add(1, std::memory_order_relaxed);
                       }
                       entered = comma == std::string_view::npos ? std::string_view() : entered.substr(comma + 1);
                     }
                     if (auto events = redis_reply::number(reply->element[1]); events > 0 && published_) {
                       published_(events);
                     }
                     Fields fields;
                     for (std::size_t i = 2; i < reply->elements; ++i) {
                       const redisReply* element = reply->element[i];
                       fields.push_back(element->type == REDIS_REPLY_INTEGER ? std::to_string(element->integer)
                                                                             : std::string(redis_reply::text(element)));
                     }
                     handler(std::move(fields));
                   });
}

void RedisLoginStore::read_key(std::function<void(bool)> then) {
  MacKey fresh = random_mac_key();
  call(Script::qr_key, {std::string(fresh.begin(), fresh.end()), random_token(12)},
       [this, then = std::move(then)](const std::optional<Fields>& fields) {
         if (!fields || fields->size() != 3 || (*fields)[0] != "ok" || (*fields)[1].size() != key_.key.size()) {
           return then(false);
         }
         std::copy((*fields)[1].begin(), (*fields)[1].end(), key_.key.begin());
         key_.id = (*fields)[2];
         then(true);
       });
}

void RedisLoginStore::call_keyed(Script script, KeyedArgs args, KeyedHandler handler, int tries) {
  // Reading the key and calling again settles it unless the key changes again meanwhile: give up then.
  if (tries > 3) return handler(std::nullopt, key_);
  if (key_.id.empty()) {
    return read_key([this, script, args = std::move(args), handler = std::move(handler), tries](bool read) mutable {
      if (!read) return handler(std::nullopt, key_);
      call_keyed(script, std::move(args), std::move(handler), tries + 1);
    });
  }
  QrKey used = key_;
  call(script, args(used),
       [this, script, args, handler = std::move(handler), used, tries](const std::optional<Fields>& fields) mutable {
         if (fields && !fields->empty() && (*fields)[0] == "rekey") {
           key_.id.clear();
           return call_keyed(script, std::move(args), std::move(handler), tries + 1);
         }
         handler(fields, used);
       });
}

// --- login requests ---------------------------------------------------------------------------------

void RedisLoginStore::start(Flow flow, Requester requester, std::string client_id, Reply<Started> done) {
  auto reply = on_calling_loop(std::move(done));
  post([this, flow, requester = std::move(requester), client_id = std::move(client_id),
        reply = std::move(reply)]() mutable {
    start_with_codes(flow, std::move(requester), std::move(client_id), std::move(reply), 0);
  });
}

void RedisLoginStore::start_with_codes(Flow flow, Requester requester, std::string client_id, Reply<Started> reply,
                                       int tries) {
  Started started;
  started.id = random_token(16);
  started.poll_secret = random_token();
  std::string user_code = random_user_code();
  started.user_code = format_user_code(user_code);
  started.match_number = 10 + static_cast<int>(random_below(90));
  started.expires_in = settings_.ttl.count();
  started.interval = settings_.poll_interval.count();
  std::vector<std::string> args{started.id,
                                flow == Flow::qr ? "qr" : "device",
                                digest_hex(started.poll_secret),
                                digest_hex(user_code),
                                requester.browser,
                                requester.ip,
                                std::to_string(requester.time_ms),
                                client_id,
                                ms(settings_.ttl),
                                ms(settings_.qr_rotate),
                                std::to_string(started.match_number),
                                std::to_string(settings_.poll_interval.count()),
                                std::to_string(settings_.max_requests)};
  call_keyed(
      Script::start,
      [args](const QrKey& key) {
        auto with_key = args;
        with_key.push_back(key.id);
        return with_key;
      },
      [this, flow, requester = std::move(requester), client_id = std::move(client_id), reply,
       started = std::move(started), tries](const std::optional<Fields>& fields, const QrKey& key) mutable {
        if (fields && !fields->empty() && (*fields)[0] == "again" && tries + 1 < user_code_tries) {
          return start_with_codes(flow, std::move(requester), std::move(client_id), std::move(reply), tries + 1);
        }
        answer<Started>(reply, fields, [&](const Fields&) {
          started.qr_secret = qr_secret_of(key, started.id, "0");
          started_[flow == Flow::qr ? 0 : 1].fetch_add(1, std::memory_order_relaxed);
          return std::move(started);
        });
      });
}

void RedisLoginStore::status(PollSecret poll_secret, Reply<Status> done) {
  auto reply = on_calling_loop(std::move(done));
  if (poll_secret.value.empty()) return reply(refusals::unauthorized());
  Flow flow = poll_secret.flow;
  std::vector<std::string> args{digest_hex(poll_secret.value), flow == Flow::qr ? "qr" : "device"};
  post([this, args = std::move(args), flow, reply = std::move(reply)]() mutable {
    call(Script::status, std::move(args), [flow, reply](const std::optional<Fields>& fields) {
      answer<Status>(reply, fields, [&](const Fields& f) {
        return Status{f.at(1), state_named(f.at(2)).value_or(State::expired), flow, number(f.at(3)), f.at(4)};
      });
    });
  });
}

void RedisLoginStore::qr_secret(std::string screen_cookie, Reply<std::string> done) {
  auto reply = on_calling_loop(std::move(done));
  if (screen_cookie.empty()) return reply(refusals::no_qr());
  post([this, poll = digest_hex(screen_cookie), reply = std::move(reply)]() mutable {
    call_keyed(
        Script::qr_secret,
        [poll](const QrKey& key) {
          return std::vector<std::string>{poll, key.id};
        },
        [this, reply](const std::optional<Fields>& fields, const QrKey& key) {
          if (fields && !fields->empty() && (*fields)[0] == "gone") return reply(refusals::no_qr());
          answer<std::string>(reply, fields, [&](const Fields& f) { return qr_secret_of(key, f.at(1), f.at(2)); });
        });
  });
}

namespace {

Prompt prompt_of(const std::vector<std::string>& f) {
  Prompt prompt{f.at(1), Requester{f.at(2), f.at(3), number(f.at(4))}, std::nullopt, number(f.at(6))};
  const std::string& numbers = f.at(5);
  if (!numbers.empty()) {
    std::array<int, 3> three{};
    std::size_t at = 0;
    for (int& n : three) {
      auto comma = numbers.find(',', at);
      n = static_cast<int>(number(numbers.substr(at, comma - at)));
      at = comma == std::string::npos ? numbers.size() : comma + 1;
    }
    prompt.numbers = three;
  }
  return prompt;
}

}  // namespace

void RedisLoginStore::scan(std::string qr_secret, std::string subject, Reply<Prompt> done) {
  auto reply = on_calling_loop(std::move(done));
  auto parts = qr_parts(qr_secret);
  if (!parts) return reply(refusals::invalid_code());
  post([this, qr_secret = std::move(qr_secret), parts = std::move(*parts), subject = std::move(subject),
        reply = std::move(reply)]() mutable {
    call_keyed(
        Script::scan,
        [this, qr_secret, parts, subject](const QrKey& key) {
          bool good = equal_in_constant_time(qr_secret, qr_secret_of(key, parts.id, parts.rotation));
          return std::vector<std::string>{parts.id,
                                          parts.rotation,
                                          good ? "1" : "0",
                                          key.id,
                                          subject,
                                          R"(,"approver":)" + quote(mask_subject(subject)),
                                          bucket(Limit::prompts, "account:" + subject),
                                          std::to_string(settings_.limits.prompts),
                                          draws(),
                                          order()};
        },
        [reply](const std::optional<Fields>& fields, const QrKey&) { answer<Prompt>(reply, fields, prompt_of); });
  });
}

void RedisLoginStore::enter_code(std::string user_code, std::string subject, Reply<Prompt> done) {
  auto reply = on_calling_loop(std::move(done));
  auto normalized = normalize_user_code(user_code);
  if (!normalized) return reply(refusals::invalid_code());
  std::vector<std::string> args{digest_hex(*normalized),
                                subject,
                                R"(,"approver":)" + quote(mask_subject(subject)),
                                bucket(Limit::prompts, "account:" + subject),
                                std::to_string(settings_.limits.prompts),
                                draws(),
                                order()};
  post([this, args = std::move(args), reply = std::move(reply)]() mutable {
    call(Script::enter_code, std::move(args),
         [reply](const std::optional<Fields>& fields) { answer<Prompt>(reply, fields, prompt_of); });
  });
}

namespace {

State state_of(const std::vector<std::string>& f) { return state_named(f.at(1)).value_or(State::pending); }

}  // namespace

void RedisLoginStore::decide(std::string id, std::string subject, bool approve, std::optional<int> number,
                             Reply<State> done) {
  auto reply = on_calling_loop(std::move(done));
  std::vector<std::string> args{std::move(id), std::move(subject), approve ? "1" : "0",
                                number ? std::to_string(*number) : ""};
  post([this, args = std::move(args), reply = std::move(reply)]() mutable {
    call(Script::decide, std::move(args),
         [reply](const std::optional<Fields>& fields) { answer<State>(reply, fields, state_of); });
  });
}

void RedisLoginStore::decide_for(Selector which, std::string subject, bool approve, Reply<State> done) {
  auto reply = on_calling_loop(std::move(done));
  std::vector<std::string> args;
  std::optional<QrParts> parts;
  if (!which.id.empty()) {
    args = {"id", which.id, "0", "0", ""};
  } else if (!which.qr_secret.empty()) {
    parts = qr_parts(which.qr_secret);
    if (!parts) return reply(refusals::invalid_code());
  } else if (auto normalized = normalize_user_code(which.user_code)) {
    args = {"code", digest_hex(*normalized), "0", "0", ""};
  } else {
    return reply(refusals::invalid_code());
  }
  post([this, args = std::move(args), parts = std::move(parts), qr_secret = std::move(which.qr_secret),
        subject = std::move(subject), approve, reply = std::move(reply)]() mutable {
    auto handler = [reply](const std::optional<Fields>& fields) { answer<State>(reply, fields, state_of); };
    if (!parts) {
      args.push_back(subject);
      args.push_back(approve ? "1" : "0");
      return call(Script::decide_for, std::move(args), handler);
    }
    call_keyed(
        Script::decide_for,
        [this, parts = *parts, qr_secret, subject, approve](const QrKey& key) {
          bool good = equal_in_constant_time(qr_secret, qr_secret_of(key, parts.id, parts.rotation));
          return std::vector<std::string>{"qr",   parts.id, parts.rotation,     good ? "1" : "0",
                                          key.id, subject,  approve ? "1" : "0"};
        },
        [handler](const std::optional<Fields>& fields, const QrKey&) { handler(fields); });
  });
}

void RedisLoginStore::exchange(std::string screen_cookie, Reply<Grant> done) {
  auto reply = on_calling_loop(std::move(done));
  if (screen_cookie.empty()) return reply(refusals::unauthorized());
  Issued issued{random_token(), random_token()};
  std::vector<std::string> args{digest_hex(screen_cookie), digest_hex(issued.token), issued.csrf,
                                ms(settings_.session_ttl)};
  post([this, args = std::move(args), issued = std::move(issued), reply = std::move(reply)]() mutable {
    call(Script::exchange, std::move(args), [issued, reply](const std::optional<Fields>& fields) {
      answer<Grant>(reply, fields, [&](const Fields& f) { return Grant{f.at(1), issued}; });
    });
  });
}

void RedisLoginStore::cancel(std::string screen_cookie, Reply<State> done) {
  auto reply = on_calling_loop(std::move(done));
  if (screen_cookie.empty()) return reply(refusals::unauthorized());
  post([this, poll = digest_hex(screen_cookie), reply = std::move(reply)]() mutable {
    call(Script::cancel, {std::move(poll)},
         [reply](const std::optional<Fields>& fields) { answer<State>(reply, fields, state_of); });
  });
}

void RedisLoginStore::poll_token(std::string device_code, std::string client_id, Reply<Grant> done) {
  auto reply = on_calling_loop(std::move(done));
  if (device_code.empty()) return reply(Refusal{"invalid_grant", {}, {}});
  Issued issued{random_token(), {}};
  std::vector<std::string> args{digest_hex(device_code), std::move(client_id), digest_hex(issued.token),
                                ms(settings_.access_token_ttl)};
  post([this, args = std::move(args), issued = std::move(issued), reply = std::move(reply)]() mutable {
    call(Script::poll_token, std::move(args), [issued, reply](const std::optional<Fields>& fields) {
      if (!fields || fields->empty()) return reply(login_unavailable());
      if ((*fields)[0] != "ok") return reply(Refusal{(*fields)[0], {}, {}});  // RFC 8628's codes as they are
      reply(Grant{fields->at(1), issued});
    });
  });
}

void RedisLoginStore::tick() {
  post([this] {
    if (!link_.connected()) return;  // nothing to push while Redis is away; the first tick after does it
    call(Script::tick, {ms(settings_.qr_rotate), std::to_string(tick_batch)}, [](const std::optional<Fields>&) {});
  });
}

// --- rate limits ------------------------------------------------------------------------------------

void RedisLoginStore::take(Limit limit, std::vector<std::string> keys, Reply<Done> done) {
  auto reply = on_calling_loop(std::move(done));
  std::vector<std::string> args{std::to_string(settings_.limits.of(limit)), ms(bucket_window)};
  for (const auto& key : keys) args.push_back(bucket(limit, key));
  post([this, args = std::move(args), reply = std::move(reply)]() mutable {
    call(Script::take, std::move(args), [reply](const std::optional<Fields>& fields) {
      if (!fields || fields->size() != 2 || (*fields)[0] != "ok") return reply(login_unavailable());
      auto wait = static_cast<unsigned>(number((*fields)[1]));
      if (wait > 0) return reply(refusals::rate_limited(wait));
      reply(Done{});
    });
  });
}

// --- accounts and tokens ----------------------------------------------------------------------------

void RedisLoginStore::add_user(std::string name, std::string password_hash, Reply<bool> done) {
  auto reply = on_calling_loop(std::move(done));
  post([this, args = std::vector<std::string>{std::move(name), std::move(password_hash)},
        reply = std::move(reply)]() mutable {
    call(Script::add_user, std::move(args), [reply](const std::optional<Fields>& fields) {
      answer<bool>(reply, fields, [](const Fields& f) { return f.at(1) == "1"; });
    });
  });
}

void RedisLoginStore::set_password(std::string name, std::string password_hash, Reply<bool> done) {
  auto reply = on_calling_loop(std::move(done));
  post([this, args = std::vector<std::string>{std::move(name), std::move(password_hash)},
        reply = std::move(reply)]() mutable {
    call(Script::set_password, std::move(args), [reply](const std::optional<Fields>& fields) {
      answer<bool>(reply, fields, [](const Fields& f) { return f.at(1) == "1"; });
    });
  });
}

void RedisLoginStore::remove_user(std::string name, Reply<bool> done) {
  auto reply = on_calling_loop(std::move(done));
  post([this, name = std::move(name), reply = std::move(reply)]() mutable {
    call(Script::remove_user, {std::move(name)}, [reply](const std::optional<Fields>& fields) {
      answer<bool>(reply, fields, [](const Fields& f) { return f.at(1) == "1"; });
    });
  });
}

void RedisLoginStore::users(Reply<std::vector<std::string>> done) {
  auto reply = on_calling_loop(std::move(done));
  post([this, reply = std::move(reply)]() mutable {
    call(Script::users, {}, [reply](const std::optional<Fields>& fields) {
      answer<std::vector<std::string>>(reply, fields, [](const Fields& f) {
        std::vector<std::string> names(f.begin() + 1, f.end());
        std::sort(names.begin(), names.end());
        return names;
      });
    });
  });
}

void RedisLoginStore::password_hash(std::string name, Reply<std::string> done) {
  auto reply = on_calling_loop(std::move(done));
  post([this, name = std::move(name), reply = std::move(reply)]() mutable {
    call(Script::password_hash, {std::move(name)}, [reply](const std::optional<Fields>& fields) {
      answer<std::string>(reply, fields, [](const Fields& f) { return f.at(1); });
    });
  });
}

void RedisLoginStore::issue(TokenKind kind, std::string subject, Reply<Issued> done) {
  auto reply = on_calling_loop(std::move(done));
  bool session = kind == TokenKind::session;
  Issued issued{random_token(), session ? random_token() : std::string()};
  std::vector<std::string> args{digest_hex(issued.token), session ? "session" : "access", std::move(subject),
                                issued.csrf, ms(session ? settings_.session_ttl : settings_.access_token_ttl)};
  post([this, args = std::move(args), issued = std::move(issued), reply = std::move(reply)]() mutable {
    call(Script::issue, std::move(args), [issued, reply](const std::optional<Fields>& fields) {
      answer<Issued>(reply, fields, [&](const Fields&) { return issued; });
    });
  });
}

void RedisLoginStore::find(TokenKind kind, std::string token, Reply<SessionInfo> done) {
  auto reply = on_calling_loop(std::move(done));
  if (token.empty()) return reply(refusals::unauthorized());
  std::vector<std::string> args{digest_hex(token), kind == TokenKind::session ? "session" : "access"};
  post([this, args = std::move(args), reply = std::move(reply)]() mutable {
    call(Script::find, std::move(args), [reply](const std::optional<Fields>& fields) {
      answer<SessionInfo>(reply, fields, [](const Fields& f) { return SessionInfo{f.at(1), f.at(2)}; });
    });
  });
}

void RedisLoginStore::revoke(std::string token, Reply<Done> done) {
  auto reply = on_calling_loop(std::move(done));
  post([this, token = digest_hex(token), reply = std::move(reply)]() mutable {
    call(Script::revoke, {std::move(token)}, [reply](const std::optional<Fields>& fields) {
      answer<Done>(reply, fields, [](const Fields&) { return Done{}; });
    });
  });
}

}  // namespace herald::login
