#pragma once
// Where the cross-device login keeps what it knows: login requests, the rate limits that guard them,
// accounts, and the sessions and access tokens it issues. Two stores keep this contract: MemoryLoginStore
// (one node: requests and limits in memory, accounts in SQLite) and RedisLoginStore (every node on one
// Redis, used with broker = "redis"), so a login works whichever node each of its requests reaches.
//
// The login request and its state machine, shared by QR login and the device authorization grant:
//
//   pending -> scanned -> approved -> consumed        (scanned -> denied)
//   pending | scanned | approved -> expired | cancelled
//
// Contract (every implementation, checked by the login store conformance tests):
//  1. Every transition checks the state it starts from and happens in one indivisible step for every
//     node sharing the store: of two concurrent approvals, decisions or exchanges of one request, on any
//     nodes, exactly one wins.
//  2. Each transition the waiting screen should hear is published (as JSON, event name = the state, or
//     "qr" for a rotation) on the request's channel, events_channel(id), in transition order and in the
//     same step as the transition: a read of the channel after a call answers finds its event. Events carry
//     the state and non-secret hints only (the approver masked, a denial's reason).
//  3. No secret is kept: the poll secret (the screen's cookie, or the device_code) and the user code as
//     SHA-256 digests; the QR secret not at all — it is `<id>.<rotation>.<HMAC(key, "qr:" id "." rotation)>`,
//     recomputed to draw the QR and to check a scan, with one key for every node of the store. The QR
//     secret shares nothing with the poll secret. Each poll secret opens only requests of its own flow.
//  4. A request expires `ttl` after it started, on the store's one clock; a call that finds it expired
//     treats it so at once (and the screen hears `expired`), and tick() — every node calls it about once a
//     second — pushes expiries and QR rotations (`qr_rotate`) nobody asked about. A scan of the previous
//     QR secret is still good for 15 s after a rotation.
//  5. Rate limits are token buckets of `count` a minute per key (Limits), counted once for all nodes:
//     take() takes one token from each key or, when any is empty, none, and refuses with `rate_limited`
//     and the whole seconds to wait. scan() and enter_code() take a prompt (`prompts`, per account) only
//     once the code is known good, and a refused prompt binds nothing.
//  6. Session and access tokens are random, given out once and kept as digests with their expiry (on the
//     store's clock). exchange() and poll_token() issue the token in the same step as the consuming
//     transition: no approval is consumed without its token, and no token exists without its approval.
//  7. Accounts hold a password hash made by login/passwords.hpp; the store never sees a password.
//     Removing an account or changing its password ends every session and access token of that name.
//  8. Callbacks run on the calling thread when it is an event loop (runtime/calling_loop.hpp), possibly
//     before the call returns. Called from any other thread (tests, the command line), they may run on a
//     thread of the store's own.
//  9. When the store cannot be reached, a call answers the refusal `login_unavailable` (HTTP 503). A call
//     whose answer was lost with the connection happened whole or not at all, never in part.
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace herald::login {

enum class State { pending, scanned, approved, denied, consumed, expired, cancelled };
std::string_view state_name(State state);
std::optional<State> state_named(std::string_view name);
inline bool is_final(State state) {
  return state == State::denied || state == State::consumed || state == State::expired || state == State::cancelled;
}

enum class Flow { qr, device };

struct Requester {
  std::string browser;  // "Chrome on Linux"
  std::string ip;
  std::int64_t time_ms = 0;
};

// The login rate limits, each `count` a minute per key.
enum class Limit {
  starts,         // login starts and device authorizations, per address
  code_attempts,  // QR secrets and user codes tried, right or wrong, per account and per address
  prompts,        // approval prompts (good codes only), per account: against push-bombing
  signins,        // "ip:" refuses past the limit, "name:" only delays (max_signin_delay)
};
struct Limits {
  unsigned starts = 20, code_attempts = 10, prompts = 5, signins = 10;
  unsigned of(Limit limit) const;
};

struct Settings {
  std::chrono::seconds ttl{300};
  std::chrono::seconds poll_interval{5};
  std::chrono::seconds qr_rotate{60};
  std::size_t max_requests = 100000;  // kept at once (finished ones included): bounds memory under a flood
  std::chrono::seconds session_ttl{604800};
  std::chrono::seconds access_token_ttl{3600};
  Limits limits;
};

// A finished or expired request is remembered this long past its expiry, so a late exchange or status hears
// "gone" rather than "no such request"; its events channel keeps history as long. Short, because every
// request started costs memory until then (a flood of starts levels off after ttl + this).
inline constexpr std::chrono::seconds finished_kept_for{60};
// A phone that scanned just before a rotation may still use the previous QR secret this long.
inline constexpr std::chrono::seconds previous_qr_grace{15};

// Why a call was refused; `code` is one of: unauthorized, invalid_code, not_approved, access_denied, gone,
// wrong_number, number_required, rate_limited, busy, login_unavailable, and for poll_token RFC 8628's
// authorization_pending, slow_down, expired_token, invalid_grant. `extra` is further JSON members
// (`"state":"pending"`) or empty; `retry_after` the seconds a rate_limited caller should wait.
struct Refusal {
  std::string code;
  std::string message;
  std::string extra;
  unsigned retry_after = 0;
};
Refusal login_unavailable();

// Every answer of a store: what was asked for, or why not.
template <typename T>
using Answer = std::variant<T, Refusal>;
template <typename T>
using Reply = std::function<void(Answer<T>)>;
using Done = std::monostate;

struct Started {
  std::string id;
  std::string poll_secret;  // the cookie, or the device_code
  std::string qr_secret;
  std::string user_code;  // formatted, XXXX-XXXX
  int match_number = 0;
  std::int64_t expires_in = 0;
  std::int64_t interval = 0;
};

// Why a request was denied: the approver said no (on the phone, or an app for them), or the phone
// picked a number the screen did not show — which a relayed (phished) QR code makes likely, so the
// screen tells the two apart.
inline constexpr std::string_view denied_by_user = "user";
inline constexpr std::string_view denied_wrong_number = "wrong_number";

struct Status {
  std::string id;
  State state;
  Flow flow;
  std::int64_t expires_in;
  std::string reason;  // when denied: denied_by_user or denied_wrong_number
};

// The waiting side's proof and the flow that issued it. A QR screen's cookie opens only QR requests
// and a device_code only device requests, so neither secret works at the other flow's endpoints (a
// device code exchanged for a browser session, a screen's cookie for an access token).
struct PollSecret {
  Flow flow;
  std::string value;
};

// What the approving device is shown.
struct Prompt {
  std::string id;
  Requester requester;
  std::optional<std::array<int, 3>> numbers;  // none when the user typed the code (no number to match)
  std::int64_t expires_in;
};

// Which request a server-to-server approval means.
struct Selector {
  std::string id, qr_secret, user_code;
};

enum class TokenKind { session, access };

struct Issued {
  std::string token;  // given to the client once, never stored
  std::string csrf;   // for cookie sessions: the value state-changing requests must echo
};

// An exchange or a token grant: whom the approval was for, and the token issued to the waiting side.
struct Grant {
  std::string subject;
  Issued issued;
};

struct SessionInfo {
  std::string subject;  // the account name, or an external user id approved server-to-server
  std::string csrf;
};

std::string events_channel(std::string_view id);

class LoginStore {
 public:
  virtual ~LoginStore() = default;

  // --- Login requests ---------------------------------------------------------------------------
  // Refused `busy` when `max_requests` are already kept.
  virtual void start(Flow flow, Requester requester, std::string client_id, Reply<Started> done) = 0;
  // Refused `unauthorized` when the secret opens no request (of its flow).
  virtual void status(PollSecret poll_secret, Reply<Status> done) = 0;
  // The QR secret to draw now, while the QR request of this screen cookie still waits for a scan
  // (else refused `gone`).
  virtual void qr_secret(std::string screen_cookie, Reply<std::string> done) = 0;

  // Approving side (`subject` is the signed-in account). Unknown, expired, used, or bound to another
  // account: `invalid_code`, one answer for all. The prompt limit (point 5) may refuse `rate_limited`.
  virtual void scan(std::string qr_secret, std::string subject, Reply<Prompt> done) = 0;
  virtual void enter_code(std::string user_code, std::string subject, Reply<Prompt> done) = 0;
  // One wrong number denies the request (reason wrong_number, refused `wrong_number`): with three numbers
  // offered, tapping through must not end in an approval.
  virtual void decide(std::string id, std::string subject, bool approve, std::optional<int> number,
                      Reply<State> done) = 0;
  // A trusted application approves (or denies) for a user it has authenticated itself.
  virtual void decide_for(Selector which, std::string subject, bool approve, Reply<State> done) = 0;

  // Waiting side. exchange and cancel are the QR screen's (its cookie): an exchange yields a new session.
  // A device polls with poll_token (RFC 8628 §3.5: its refusals are the RFC's error codes) for an access
  // token.
  virtual void exchange(std::string screen_cookie, Reply<Grant> done) = 0;
  virtual void cancel(std::string screen_cookie, Reply<State> done) = 0;
  virtual void poll_token(std::string device_code, std::string client_id, Reply<Grant> done) = 0;

  // Pushes expiries and QR rotations (point 4) and forgets what is over. Call about once a second.
  virtual void tick() = 0;

  // --- Rate limits (point 5) --------------------------------------------------------------------
  virtual void take(Limit limit, std::vector<std::string> keys, Reply<Done> done) = 0;

  // --- Accounts and tokens (points 6 and 7) -----------------------------------------------------
  // false: the name is taken.
  virtual void add_user(std::string name, std::string password_hash, Reply<bool> done) = 0;
  // false: no such account.
  virtual void set_password(std::string name, std::string password_hash, Reply<bool> done) = 0;
  virtual void remove_user(std::string name, Reply<bool> done) = 0;
  virtual void users(Reply<std::vector<std::string>> done) = 0;  // sorted
  // The account's password hash, or "" when there is no such account.
  virtual void password_hash(std::string name, Reply<std::string> done) = 0;
  virtual void issue(TokenKind kind, std::string subject, Reply<Issued> done) = 0;
  // Refused `unauthorized` when the token is unknown, expired, or of another kind.
  virtual void find(TokenKind kind, std::string token, Reply<SessionInfo> done) = 0;
  virtual void revoke(std::string token, Reply<Done> done) = 0;

  // For /metrics: requests this node started per flow, and how many of this node's calls moved a request
  // into each state (a QR rotation, which stays pending, moves nowhere). Readable from any thread.
  virtual std::uint64_t started(Flow flow) const = 0;
  virtual std::uint64_t entered(State state) const = 0;
};

// The refusals both stores give, word for word (a client cannot tell the stores apart).
namespace refusals {
Refusal invalid_code();  // unknown, expired, used, or bound to another account: one answer for all
Refusal unauthorized();  // no request for this poll secret
Refusal gone();          // the request is over
Refusal no_qr();         // no QR code to show now
Refusal not_approved(State state);
Refusal access_denied(std::string_view reason);
Refusal wrong_number();
Refusal number_required();
Refusal too_many_prompts(unsigned retry_after);
Refusal busy();
Refusal rate_limited(unsigned retry_after);
}  // namespace refusals

// "alice" -> "a***": enough for the screen's owner to recognise the account, not to learn it.
std::string mask_subject(std::string_view subject);
// "Mozilla/5.0 (X11; Linux x86_64) ... Chrome/120 ..." -> "Chrome on Linux".
std::string describe_user_agent(std::string_view user_agent);

}  // namespace herald::login
