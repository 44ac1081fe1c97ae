#pragma once
// The login store of several nodes on one Redis (login_store.hpp; the keys and scripts are in
// redis_login_scripts.hpp): used whenever broker = "redis", so any node can answer any step of a login.
//
// Each call is one Lua script. A request lives under one key with its expiry on Redis's clock; every
// transition checks the state it starts from and publishes the screen's event on the request's channel in
// the same script, through the broker's own `append` — the Pub/Sub notification every node's Redis broker
// listens for — so a screen listening on any node hears the events of a login approved on any other, in
// order. The QR key is made once in Redis and read by every node.
//
// Redis runs on a thread of the store's own (RedisLink): no call blocks an event loop, and answers go back
// to the loop that asked (contract point 8). When Redis is away every call answers login_unavailable.
#include <array>
#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "broker/redis_link.hpp"
#include "broker/redis_options.hpp"
#include "core/history.hpp"
#include "login/login_store.hpp"
#include "login/secrets.hpp"

namespace herald::login {

class RedisLoginStore final : public LoginStore {
 public:
  // `events`: the history limits of the _login namespace (the channels the events go to). `published` is
  // told how many events each call published (they are publishes this node made, for its metrics).
  RedisLoginStore(RedisOptions options, const Settings& settings, HistoryLimits events,
                  std::function<void(std::uint64_t)> published = {});
  ~RedisLoginStore() override;

  // Connected to Redis (readable from any thread); wait_connected() waits for it (for the command line).
  bool connected() const { return link_.connected(); }
  bool wait_connected(std::chrono::milliseconds timeout) { return link_.wait_connected(timeout); }
  // Closes the connection (pending calls answer login_unavailable) and joins the store's thread.
  void stop() { link_.stop(); }

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

  std::uint64_t started(Flow flow) const override {
    return started_[flow == Flow::qr ? 0 : 1].load(std::memory_order_relaxed);
  }
  std::uint64_t entered(State state) const override {
    return entered_[static_cast<std::size_t>(state)].load(std::memory_order_relaxed);
  }

  // In the order of redis_login_scripts (the RedisLink loads them by index).
  enum class Script {
    start,
    status,
    qr_secret,
    scan,
    enter_code,
    decide,
    decide_for,
    exchange,
    cancel,
    poll_token,
    tick,
    take,
    add_user,
    set_password,
    remove_user,
    users,
    password_hash,
    issue,
    find,
    revoke,
    qr_key,
  };

 private:
  // A script's answer after its `entered` list: the tag ("ok" or a refusal's code), then the values.
  // nullopt: no answer (Redis is away, or refused the script).
  using Fields = std::vector<std::string>;
  using Handler = std::function<void(const std::optional<Fields>&)>;
  struct QrKey {
    MacKey key{};
    std::string id;  // empty: not read from Redis yet
  };
  using KeyedArgs = std::function<std::vector<std::string>(const QrKey&)>;
  using KeyedHandler = std::function<void(const std::optional<Fields>&, const QrKey&)>;

  // On the store's thread: runs `script` with the common arguments and `args`.
  void call(Script script, std::vector<std::string> args, Handler handler);
  // The same for a script that uses the QR key: `args` is made with this node's copy of the key; when
  // the store's differs (Redis lost it, or it was never read), the key is read again and the call repeated.
  void call_keyed(Script script, KeyedArgs args, KeyedHandler handler, int tries = 0);
  void read_key(std::function<void(bool)> then);
  void start_with_codes(Flow flow, Requester requester, std::string client_id, Reply<Started> reply, int tries);
  // Runs `work` on the store's thread.
  void post(std::function<void()> work);
  std::string bucket(Limit limit, const std::string& key) const;
  std::string qr_secret_of(const QrKey& key, const std::string& id, std::string_view rotation) const;

  RedisOptions options_;
  Settings settings_;
  HistoryLimits events_;
  std::function<void(std::uint64_t)> published_;
  QrKey key_;  // the store thread's copy of the QR key
  std::array<std::atomic<std::uint64_t>, 2> started_{};
  std::array<std::atomic<std::uint64_t>, 7> entered_{};  // by State
  RedisLink link_;                                       // last: its thread stops before the rest goes
};

}  // namespace herald::login
