#pragma once
// The login requests of one node, in memory: the state machine of login_store.hpp,
//
//   pending -> scanned -> approved -> consumed        (scanned -> denied)
//   pending | scanned | approved -> expired | cancelled
//
// with every transition under one mutex, checking the state it starts from, so of two concurrent
// approvals or exchanges exactly one wins. Each transition the waiting screen should hear is published
// (through the EventSink, still under the mutex, so events keep transition order) on the request's
// channel; events carry the state and non-secret hints only.
//
// Secrets: the poll secret (the screen's cookie, or the device_code) and the user code are stored as
// SHA-256 digests. The QR secret is not stored at all: it is `<id>.<rotation>.<HMAC(key, id.rotation)>`,
// recomputed to render the QR code and to check a scan, and it changes with every rotation. It shares
// nothing with the poll secret, so a photographed QR code never opens the screen's events or session.
//
// MemoryLoginStore puts this class behind the LoginStore contract; RedisLoginStore keeps the same
// machine in Redis for several nodes.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>

#include "login/login_store.hpp"
#include "login/secrets.hpp"

namespace herald::login {

// One event for a waiting screen: published on `channel` with event name `name` and JSON `data`.
struct Event {
  std::string channel;
  std::string name;
  std::string data;
};
using EventSink = std::function<void(Event)>;

// Asked once a scanned or typed code is known good, just before the prompt is shown: false refuses
// the call (`rate_limited`) and binds nothing. Runs under the requests' lock; it must not call back.
using Admit = std::function<bool()>;

// RFC 8628 §3.5 outcomes of a token request: the subject to issue a token to, or an error code.
struct TokenGrant {
  std::string subject;
};
using TokenOutcome = std::variant<TokenGrant, std::string>;

class LoginRequests {
 public:
  using Clock = std::chrono::steady_clock;

  LoginRequests(Settings settings, EventSink sink);

  // nullopt when `max_requests` are already kept.
  std::optional<Started> start(Flow flow, Requester requester, std::string client_id = {});
  std::optional<Status> status(const PollSecret& poll_secret);
  // The QR secret to draw now, while the QR request of this screen cookie still waits for a scan.
  std::optional<std::string> qr_secret(const std::string& screen_cookie);

  // Approving side (`subject` is the signed-in account). `admit` (when given) may refuse the prompt.
  std::variant<Prompt, Refusal> scan(const std::string& qr_secret, const std::string& subject, const Admit& admit = {});
  std::variant<Prompt, Refusal> enter_code(const std::string& user_code, const std::string& subject,
                                           const Admit& admit = {});
  // One wrong number denies the request (reason wrong_number): with three numbers offered, tapping
  // through must not end in an approval.
  std::variant<State, Refusal> decide(const std::string& id, const std::string& subject, bool approve,
                                      std::optional<int> number);
  // A trusted application approves (or denies) for a user it has authenticated itself.
  std::variant<State, Refusal> decide_for(const Selector& which, const std::string& subject, bool approve);

  // Waiting side. exchange and cancel are the QR screen's (its cookie); a device has poll_token.
  std::variant<std::string, Refusal> exchange(const std::string& screen_cookie);  // the subject, once
  std::variant<State, Refusal> cancel(const std::string& screen_cookie);
  TokenOutcome poll_token(const std::string& device_code, const std::string& client_id, Clock::time_point now);

  // Expires requests, rotates QR secrets, forgets finished requests. Call about once a second.
  void tick(Clock::time_point now);

  std::size_t size();

  // For /metrics: requests started per flow, and how many moved into each state (a QR rotation, which
  // stays pending, moves nowhere).
  std::uint64_t started(Flow flow) const { return started_[flow == Flow::qr ? 0 : 1].load(std::memory_order_relaxed); }
  std::uint64_t entered(State state) const {
    return entered_[static_cast<std::size_t>(state)].load(std::memory_order_relaxed);
  }

 private:
  struct Entry {
    std::string id;
    Flow flow;
    State state = State::pending;
    Digest poll_digest;
    Digest user_code_digest;
    Requester requester;
    std::string client_id;
    Clock::time_point expires_at;
    // QR rotation
    std::uint64_t rotation = 0;
    Clock::time_point rotated_at;
    // Approval
    std::string subject;
    int match_number = 0;
    std::array<int, 3> numbers{};
    bool needs_number = false;
    std::string_view deny_reason;
    // RFC 8628 polling
    std::chrono::seconds interval{0};
    std::optional<Clock::time_point> last_token_poll;
  };

  Entry* current_locked(Entry* entry);
  Entry* by_poll_locked(const PollSecret& poll_secret);
  Entry* by_qr_locked(const std::string& qr_secret, Clock::time_point now);
  Entry* by_user_code_locked(const std::string& user_code);
  std::string qr_secret_locked(const Entry& entry, std::uint64_t rotation) const;
  std::variant<Prompt, Refusal> bind_locked(Entry& entry, const std::string& subject, bool needs_number,
                                            const Admit& admit);
  void deny_locked(Entry& entry, std::string_view reason);
  // Changes the state and tells the screen: event `event`, or the state's name.
  void move_locked(Entry& entry, State to, std::string_view hint = {}, std::string_view event = {});
  std::int64_t expires_in(const Entry& entry, Clock::time_point now) const;
  void count(State state) { entered_[static_cast<std::size_t>(state)].fetch_add(1, std::memory_order_relaxed); }

  Settings settings_;
  EventSink sink_;
  MacKey qr_key_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;  // by id
  std::unordered_map<std::string, std::string> by_poll_digest_;
  std::unordered_map<std::string, std::string> by_user_code_digest_;
  std::array<std::atomic<std::uint64_t>, 2> started_{};
  std::array<std::atomic<std::uint64_t>, 7> entered_{};  // by State
};

}  // namespace herald::login
