#include "login/login_requests.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string_view.hpp>
#include <charconv>

namespace herald::login {
namespace {

std::string quote(std::string_view text) { return boost::json::serialize(boost::json::string_view(text)); }

using refusals::invalid_code;
using refusals::unauthorized;

std::array<int, 3> numbers_around(int match) {
  std::array<int, 3> numbers{match, match, match};
  for (std::size_t i = 1; i < numbers.size(); ++i) {
    int candidate;
    do {
      candidate = 10 + static_cast<int>(random_below(90));
    } while (candidate == numbers[0] || (i == 2 && candidate == numbers[1]));
    numbers[i] = candidate;
  }
  // Fisher-Yates, so the true number's position says nothing.
  for (std::size_t i = numbers.size() - 1; i > 0; --i) {
    std::swap(numbers[i], numbers[random_below(static_cast<std::uint32_t>(i + 1))]);
  }
  return numbers;
}

}  // namespace

LoginRequests::LoginRequests(Settings settings, EventSink sink)
    : settings_(settings), sink_(std::move(sink)), qr_key_((init_secrets(), random_mac_key())) {}

std::int64_t LoginRequests::expires_in(const Entry& entry, Clock::time_point now) const {
  auto left = std::chrono::duration_cast<std::chrono::seconds>(entry.expires_at - now).count();
  return std::max<std::int64_t>(left, 0);
}

std::optional<Started> LoginRequests::start(Flow flow, Requester requester, std::string client_id) {
  auto now = Clock::now();
  Entry entry;
  entry.id = random_token(16);
  entry.flow = flow;
  entry.requester = std::move(requester);
  entry.client_id = std::move(client_id);
  entry.expires_at = now + settings_.ttl;
  entry.rotated_at = now;
  entry.match_number = 10 + static_cast<int>(random_below(90));
  entry.interval = settings_.poll_interval;
  std::string poll_secret = random_token();
  entry.poll_digest = sha256(poll_secret);

  std::lock_guard lock(mutex_);
  if (entries_.size() >= settings_.max_requests) return std::nullopt;
  std::string user_code;
  do {
    user_code = random_user_code();
    entry.user_code_digest = sha256(user_code);
  } while (by_user_code_digest_.contains(digest_key(entry.user_code_digest)));
  by_poll_digest_.emplace(digest_key(entry.poll_digest), entry.id);
  by_user_code_digest_.emplace(digest_key(entry.user_code_digest), entry.id);
  Started started{
      entry.id,           poll_secret,           qr_secret_locked(entry, 0),     format_user_code(user_code),
      entry.match_number, settings_.ttl.count(), settings_.poll_interval.count()};
  started_[flow == Flow::qr ? 0 : 1].fetch_add(1, std::memory_order_relaxed);
  std::string id = entry.id;
  entries_.emplace(std::move(id), std::move(entry));
  return started;
}

LoginRequests::Entry* LoginRequests::by_poll_locked(const PollSecret& poll_secret) {
  if (poll_secret.value.empty()) return nullptr;
  Digest digest = sha256(poll_secret.value);
  auto it = by_poll_digest_.find(digest_key(digest));
  if (it == by_poll_digest_.end()) return nullptr;
  Entry& entry = entries_.at(it->second);
  if (entry.flow != poll_secret.flow) return nullptr;  // another flow's secret: as if unknown
  return equal_in_constant_time(entry.poll_digest, digest) ? current_locked(&entry) : nullptr;
}

// A request whose time is up is expired by whoever finds it first (the tick, or a call), so no call ever
// acts on it between its expiry and the next tick.
LoginRequests::Entry* LoginRequests::current_locked(Entry* entry) {
  if (entry != nullptr && !is_final(entry->state) && Clock::now() >= entry->expires_at) {
    move_locked(*entry, State::expired);
  }
  return entry;
}

std::string LoginRequests::qr_secret_locked(const Entry& entry, std::uint64_t rotation) const {
  std::string body = entry.id + "." + std::to_string(rotation);
  return body + "." + mac_base64url(qr_key_, "qr:" + body);
}

LoginRequests::Entry* LoginRequests::by_qr_locked(const std::string& qr_secret, Clock::time_point now) {
  auto first_dot = qr_secret.find('.');
  auto second_dot = first_dot == std::string::npos ? first_dot : qr_secret.find('.', first_dot + 1);
  if (second_dot == std::string::npos) return nullptr;
  std::uint64_t rotation = 0;
  const char* begin = qr_secret.data() + first_dot + 1;
  const char* end = qr_secret.data() + second_dot;
  auto [stop, error] = std::from_chars(begin, end, rotation);
  if (error != std::errc() || stop != end) return nullptr;
  auto it = entries_.find(qr_secret.substr(0, first_dot));
  if (it == entries_.end() || it->second.flow != Flow::qr) return nullptr;
  Entry& entry = it->second;
  bool current = rotation == entry.rotation;
  bool recent = rotation + 1 == entry.rotation && now - entry.rotated_at < previous_qr_grace;
  if (!current && !recent) return nullptr;
  return equal_in_constant_time(qr_secret, qr_secret_locked(entry, rotation)) ? current_locked(&entry) : nullptr;
}

LoginRequests::Entry* LoginRequests::by_user_code_locked(const std::string& user_code) {
  auto normalized = normalize_user_code(user_code);
  if (!normalized) return nullptr;
  Digest digest = sha256(*normalized);
  auto it = by_user_code_digest_.find(digest_key(digest));
  if (it == by_user_code_digest_.end()) return nullptr;
  Entry& entry = entries_.at(it->second);
  return equal_in_constant_time(entry.user_code_digest, digest) ? current_locked(&entry) : nullptr;
}

std::optional<Status> LoginRequests::status(const PollSecret& poll_secret) {
  std::lock_guard lock(mutex_);
  Entry* entry = by_poll_locked(poll_secret);
  if (!entry) return std::nullopt;
  return Status{entry->id, entry->state, entry->flow, expires_in(*entry, Clock::now()),
                std::string(entry->deny_reason)};
}

std::optional<std::string> LoginRequests::qr_secret(const std::string& screen_cookie) {
  std::lock_guard lock(mutex_);
  Entry* entry = by_poll_locked({Flow::qr, screen_cookie});
  if (!entry || entry->state != State::pending) return std::nullopt;
  return qr_secret_locked(*entry, entry->rotation);
}

void LoginRequests::move_locked(Entry& entry, State to, std::string_view hint, std::string_view event) {
  if (to != entry.state) count(to);
  entry.state = to;
  std::string data = R"({"state":")" + std::string(state_name(to)) + "\"" + std::string(hint) + "}";
  sink_(Event{events_channel(entry.id), std::string(event.empty() ? state_name(to) : event), std::move(data)});
}

void LoginRequests::deny_locked(Entry& entry, std::string_view reason) {
  entry.deny_reason = reason;
  move_locked(entry, State::denied, R"(,"reason":)" + quote(reason));
}

std::variant<Prompt, Refusal> LoginRequests::bind_locked(Entry& entry, const std::string& subject, bool needs_number,
                                                         const Admit& admit) {
  if (admit && !admit()) return refusals::too_many_prompts(0);
  if (entry.state == State::pending) {
    entry.subject = subject;
    entry.numbers = numbers_around(entry.match_number);
    entry.needs_number = needs_number;
    move_locked(entry, State::scanned, R"(,"approver":)" + quote(mask_subject(subject)));
  } else if (!needs_number) {
    entry.needs_number = false;  // the same user typed the code: that proves they see the screen
  }
  Prompt prompt{entry.id, entry.requester, std::nullopt, expires_in(entry, Clock::now())};
  if (entry.needs_number) prompt.numbers = entry.numbers;
  return prompt;
}

std::variant<Prompt, Refusal> LoginRequests::scan(const std::string& qr_secret, const std::string& subject,
                                                  const Admit& admit) {
  std::lock_guard lock(mutex_);
  Entry* entry = by_qr_locked(qr_secret, Clock::now());
  // Unknown, expired, used, or already bound to someone else: one answer for all.
  if (!entry || !(entry->state == State::pending || (entry->state == State::scanned && entry->subject == subject))) {
    return invalid_code();
  }
  return bind_locked(*entry, subject, true, admit);
}

std::variant<Prompt, Refusal> LoginRequests::enter_code(const std::string& user_code, const std::string& subject,
                                                        const Admit& admit) {
  std::lock_guard lock(mutex_);
  Entry* entry = by_user_code_locked(user_code);
  if (!entry || !(entry->state == State::pending || (entry->state == State::scanned && entry->subject == subject))) {
    return invalid_code();
  }
  return bind_locked(*entry, subject, false, admit);
}

std::variant<State, Refusal> LoginRequests::decide(const std::string& id, const std::string& subject, bool approve,
                                                   std::optional<int> number) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(id);
  Entry* found = current_locked(it == entries_.end() ? nullptr : &it->second);
  if (found == nullptr || found->state != State::scanned || found->subject != subject) return invalid_code();
  Entry& entry = *found;
  if (!approve) {
    deny_locked(entry, denied_by_user);
    return State::denied;
  }
  if (entry.needs_number) {
    if (!number) return refusals::number_required();
    if (*number != entry.match_number) {
      deny_locked(entry, denied_wrong_number);
      return refusals::wrong_number();
    }
  }
  move_locked(entry, State::approved);
  return State::approved;
}

std::variant<State, Refusal> LoginRequests::decide_for(const Selector& which, const std::string& subject,
                                                       bool approve) {
  std::lock_guard lock(mutex_);
  Entry* entry = nullptr;
  if (!which.id.empty()) {
    auto it = entries_.find(which.id);
    entry = current_locked(it == entries_.end() ? nullptr : &it->second);
  } else if (!which.qr_secret.empty()) {
    entry = by_qr_locked(which.qr_secret, Clock::now());
  } else if (!which.user_code.empty()) {
    entry = by_user_code_locked(which.user_code);
  }
  if (!entry || !(entry->state == State::pending || (entry->state == State::scanned && entry->subject == subject))) {
    return invalid_code();
  }
  entry->subject = subject;
  if (approve) {
    move_locked(*entry, State::approved);
  } else {
    deny_locked(*entry, denied_by_user);
  }
  return entry->state;
}

std::variant<std::string, Refusal> LoginRequests::exchange(const std::string& screen_cookie) {
  std::lock_guard lock(mutex_);
  Entry* entry = by_poll_locked({Flow::qr, screen_cookie});
  if (!entry) return unauthorized();
  switch (entry->state) {
    case State::approved:
      entry->state = State::consumed;  // the screen itself asked: nobody else needs to hear it
      count(State::consumed);
      return entry->subject;
    case State::pending:
    case State::scanned:
      return refusals::not_approved(entry->state);
    case State::denied:
      return refusals::access_denied(entry->deny_reason);
    default:
      return refusals::gone();
  }
}

std::variant<State, Refusal> LoginRequests::cancel(const std::string& screen_cookie) {
  std::lock_guard lock(mutex_);
  Entry* entry = by_poll_locked({Flow::qr, screen_cookie});
  if (!entry) return unauthorized();
  if (is_final(entry->state)) return refusals::gone();
  move_locked(*entry, State::cancelled);
  return State::cancelled;
}

TokenOutcome LoginRequests::poll_token(const std::string& device_code, const std::string& client_id,
                                       Clock::time_point now) {
  std::lock_guard lock(mutex_);
  Entry* entry = by_poll_locked({Flow::device, device_code});
  if (!entry || entry->client_id != client_id) return "invalid_grant";
  auto previous = entry->last_token_poll;
  entry->last_token_poll = now;
  switch (entry->state) {
    case State::pending:
    case State::scanned:
      // RFC 8628 §3.5: polling faster than the interval earns slow_down and 5 more seconds of interval.
      if (previous && now - *previous < entry->interval) {
        entry->interval += std::chrono::seconds(5);
        return "slow_down";
      }
      return "authorization_pending";
    case State::approved:
      entry->state = State::consumed;
      count(State::consumed);
      return TokenGrant{entry->subject};
    case State::denied:
      return "access_denied";
    case State::expired:
    case State::cancelled:
      return "expired_token";
    case State::consumed:
      return "invalid_grant";
  }
  return "invalid_grant";
}

void LoginRequests::tick(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    Entry& entry = it->second;
    if (!is_final(entry.state) && now >= entry.expires_at) {
      move_locked(entry, State::expired);
    } else if (entry.flow == Flow::qr && entry.state == State::pending &&
               now - entry.rotated_at >= settings_.qr_rotate) {
      ++entry.rotation;
      entry.rotated_at = now;
      move_locked(entry, State::pending, R"(,"rotated":true)", "qr");
    }
    if (is_final(entry.state) && now >= entry.expires_at + finished_kept_for) {
      by_poll_digest_.erase(digest_key(entry.poll_digest));
      by_user_code_digest_.erase(digest_key(entry.user_code_digest));
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

std::size_t LoginRequests::size() {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace herald::login
