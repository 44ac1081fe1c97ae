#include "login/login_requests.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string_view.hpp>
#include <charconv>

namespace herald::login {
namespace {

// A phone that scanned just before a rotation may still use the previous QR secret this long.
constexpr auto previous_qr_grace = std::chrono::seconds(15);

bool is_final(State state) {
  return state == State::denied || state == State::consumed || state == State::expired || state == State::cancelled;
}

std::string quote(std::string_view text) { return boost::json::serialize(boost::json::string_view(text)); }

Refusal invalid_code() { return {"invalid_code", "This code is not valid or has expired.", {}}; }
Refusal unauthorized() { return {"unauthorized", "This login request is unknown: start a new one.", {}}; }

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

std::string_view state_name(State state) {
  switch (state) {
    case State::pending:
      return "pending";
    case State::scanned:
      return "scanned";
    case State::approved:
      return "approved";
    case State::denied:
      return "denied";
    case State::consumed:
      return "consumed";
    case State::expired:
      return "expired";
    case State::cancelled:
      return "cancelled";
  }
  return "unknown";
}

std::string events_channel(std::string_view id) { return "_login:" + std::string(id); }

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
  return equal_in_constant_time(entry.poll_digest, digest) ? &entry : nullptr;
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
  return equal_in_constant_time(qr_secret, qr_secret_locked(entry, rotation)) ? &entry : nullptr;
}

LoginRequests::Entry* LoginRequests::by_user_code_locked(const std::string& user_code) {
  auto normalized = normalize_user_code(user_code);
  if (!normalized) return nullptr;
  Digest digest = sha256(*normalized);
  auto it = by_user_code_digest_.find(digest_key(digest));
  if (it == by_user_code_digest_.end()) return nullptr;
  Entry& entry = entries_.at(it->second);
  return equal_in_constant_time(entry.user_code_digest, digest) ? &entry : nullptr;
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
  if (admit && !admit()) return Refusal{"rate_limited", "Too many approval prompts for this account.", {}};
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
  if (it == entries_.end() || it->second.state != State::scanned || it->second.subject != subject) {
    return invalid_code();
  }
  Entry& entry = it->second;
  if (!approve) {
    deny_locked(entry, denied_by_user);
    return State::denied;
  }
  if (entry.needs_number) {
    if (!number) return Refusal{"number_required", "Pick the number shown on the screen that is signing in.", {}};
    if (*number != entry.match_number) {
      deny_locked(entry, denied_wrong_number);
      return Refusal{"wrong_number",
                     "That is not the number the other screen shows, so this sign-in was denied. Start again on "
                     "that screen. If you did not start it yourself, someone may be trying to trick you.",
                     R"("state":"denied")"};
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
    entry = it == entries_.end() ? nullptr : &it->second;
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
      return Refusal{"not_approved", "The login has not been approved yet.",
                     R"("state":")" + std::string(state_name(entry->state)) + "\""};
    case State::denied:
      return Refusal{"access_denied", "The login was denied.", R"("reason":)" + quote(entry->deny_reason)};
    default:
      return Refusal{"gone", "This login request is over: start a new one.", {}};
  }
}

std::variant<State, Refusal> LoginRequests::cancel(const std::string& screen_cookie) {
  std::lock_guard lock(mutex_);
  Entry* entry = by_poll_locked({Flow::qr, screen_cookie});
  if (!entry) return unauthorized();
  if (is_final(entry->state)) return Refusal{"gone", "This login request is over: start a new one.", {}};
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

std::string mask_subject(std::string_view subject) {
  if (subject.empty()) return "***";
  // Keep the first UTF-8 character whole.
  std::size_t length = 1;
  while (length < subject.size() && (static_cast<unsigned char>(subject[length]) & 0xC0) == 0x80) ++length;
  return std::string(subject.substr(0, length)) + "***";
}

std::string describe_user_agent(std::string_view ua) {
  auto has = [&](std::string_view needle) { return ua.find(needle) != std::string_view::npos; };
  std::string browser = has("Edg/")        ? "Edge"
                        : has("OPR/")      ? "Opera"
                        : has("Firefox/")  ? "Firefox"
                        : has("Chrome/")   ? "Chrome"
                        : has("Chromium/") ? "Chromium"
                        : has("Safari/")   ? "Safari"
                        : has("curl/")     ? "curl"
                                           : "";
  std::string system = has("Android")                 ? "Android"
                       : has("iPhone") || has("iPad") ? "iOS"
                       : has("Windows")               ? "Windows"
                       : has("Mac OS X")              ? "macOS"
                       : has("CrOS")                  ? "ChromeOS"
                       : has("Linux")                 ? "Linux"
                                                      : "";
  if (browser.empty()) return system.empty() ? "an unknown client" : "a browser on " + system;
  return system.empty() ? browser : browser + " on " + system;
}

}  // namespace herald::login
