// The login store contract (login/login_store.hpp), run against both stores: the memory store (with the
// memory broker its events go through) and the Redis store on a throwaway redis-server (with a Redis broker
// reading the same keys). "Two nodes" are two stores on one Redis; the memory store is one node, so both
// of its nodes are the same store. Calls come from the test thread (no event loop): every helper waits
// for its answer. The Redis kind needs redis-server (scripts/install-deps) and fails without it.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <set>
#include <thread>

#include "broker/memory_broker.hpp"
#include "broker/redis_broker.hpp"
#include "login/memory_login_store.hpp"
#include "login/passwords.hpp"
#include "login/redis_login_store.hpp"
#include "redis_cluster_server.hpp"
#include "redis_server.hpp"

namespace herald::login {
namespace {

using namespace std::chrono_literals;

constexpr auto patience = 10s;

HistoryLimits event_limits() { return {.max_messages = 20, .max_age = 600s}; }

NamespacePolicy policy() {
  NamespacePolicy policy;
  NamespaceSettings login_events;
  login_events.internal = true;
  login_events.history = event_limits();
  policy.by_namespace["_login"] = login_events;
  return policy;
}

// Each kind makes a broker (to read the events channels through) and stores that share their data.
struct MemoryKind {
  static constexpr bool redis = false;
  std::unique_ptr<Broker> broker = std::make_unique<MemoryBroker>(policy());
  std::unique_ptr<LoginStore> store;

  void make(const Settings& settings) {
    store = std::make_unique<MemoryLoginStore>(
        settings,
        [this](Event event) {
          broker->publish(PublishRequest{.channel = std::move(event.channel),
                                         .event = std::move(event.name),
                                         .data = std::move(event.data),
                                         .is_json = true},
                          [](const auto&) {});
        },
        ":memory:");
  }
  LoginStore& node(int) { return *store; }  // one node
};

struct RedisKind {
  static constexpr bool redis = true;
  static inline std::unique_ptr<test::RedisServer> server;
  static inline int made = 0;
  RedisOptions options;
  std::unique_ptr<Broker> broker;
  std::unique_ptr<RedisLoginStore> stores[2];

  void make(const Settings& settings) {
    if (!server) server = std::make_unique<test::RedisServer>();
    options.port = server->port();
    options.key_prefix = "login" + std::to_string(++made) + ":";  // each store pair its own keys
    broker = std::make_unique<RedisBroker>(options, policy(), [](const std::string&) { return false; });
    for (auto& store : stores) {
      store = std::make_unique<RedisLoginStore>(options, settings, event_limits());
      EXPECT_TRUE(store->wait_connected(patience));
    }
    auto* redis = static_cast<RedisBroker*>(broker.get());
    for (auto until = std::chrono::steady_clock::now() + patience;
         !redis->connected() && std::chrono::steady_clock::now() < until;) {
      std::this_thread::sleep_for(5ms);  // the broker has no wait: poll its state
    }
  }
  LoginStore& node(int i) { return *stores[i % 2]; }
};

// The same on a Redis Cluster: the login's keys and its event channels all in {login}'s slot.
struct RedisClusterKind : RedisKind {
  void make(const Settings& settings) {
    options.cluster = {{.host = "127.0.0.1", .port = test::shared_cluster().ports()[1]}};
    options.key_prefix = "clogin" + std::to_string(++made) + ":";
    broker = std::make_unique<RedisBroker>(options, policy(), [](const std::string&) { return false; });
    for (auto& store : stores) {
      store = std::make_unique<RedisLoginStore>(options, settings, event_limits());
      EXPECT_TRUE(store->wait_connected(patience));
    }
    auto* redis = static_cast<RedisBroker*>(broker.get());
    for (auto until = std::chrono::steady_clock::now() + patience;
         !redis->connected() && std::chrono::steady_clock::now() < until;) {
      std::this_thread::sleep_for(5ms);  // the broker has no wait: poll its state
    }
  }
};

// Waits for the store's answer to `call`.
template <typename T, typename Call>
Answer<T> ask(Call call) {
  std::promise<Answer<T>> answer;
  call([&answer](Answer<T> result) { answer.set_value(std::move(result)); });
  auto future = answer.get_future();
  if (future.wait_for(patience) != std::future_status::ready) {
    ADD_FAILURE() << "the store did not answer";
    return Refusal{"no_answer", {}, {}};
  }
  return future.get();
}

template <typename T>
T value(const Answer<T>& answer) {
  if (auto* refusal = std::get_if<Refusal>(&answer)) {
    ADD_FAILURE() << "refused " << refusal->code << ": " << refusal->message;
    return T{};
  }
  return std::get<T>(answer);
}

template <typename T>
std::string refused(const Answer<T>& answer) {
  auto* refusal = std::get_if<Refusal>(&answer);
  return refusal ? refusal->code : "(not refused)";
}

template <typename Kind>
struct LoginStoreConformance : ::testing::Test {
  void SetUp() override {
    if constexpr (Kind::redis) {
      ASSERT_TRUE(test::RedisServer::available()) << "redis-server is not installed (scripts/install-deps)";
    }
    make({});
  }
  void make(const Settings& settings) { kind.make(settings); }
  LoginStore& node(int i = 0) { return kind.node(i); }

  Requester someone() { return {"Chrome on Linux", "203.0.113.7", 1}; }

  Started start(Flow flow = Flow::qr, int on = 0, std::string client = {}) {
    return value(
        ask<Started>([&](auto done) { node(on).start(flow, someone(), flow == Flow::device ? "tv" : client, done); }));
  }
  Answer<Status> status(const PollSecret& secret, int on = 0) {
    return ask<Status>([&](auto done) { node(on).status(secret, done); });
  }
  Answer<std::string> qr(const std::string& cookie, int on = 0) {
    return ask<std::string>([&](auto done) { node(on).qr_secret(cookie, done); });
  }
  Answer<Prompt> scan(const std::string& qr_secret, const std::string& subject, int on = 0) {
    return ask<Prompt>([&](auto done) { node(on).scan(qr_secret, subject, done); });
  }
  Answer<Prompt> enter(const std::string& code, const std::string& subject, int on = 0) {
    return ask<Prompt>([&](auto done) { node(on).enter_code(code, subject, done); });
  }
  Answer<State> decide(const std::string& id, const std::string& subject, bool approve, std::optional<int> number,
                       int on = 0) {
    return ask<State>([&](auto done) { node(on).decide(id, subject, approve, number, done); });
  }
  Answer<State> decide_for(const Selector& which, const std::string& subject, bool approve, int on = 0) {
    return ask<State>([&](auto done) { node(on).decide_for(which, subject, approve, done); });
  }
  Answer<Grant> exchange(const std::string& cookie, int on = 0) {
    return ask<Grant>([&](auto done) { node(on).exchange(cookie, done); });
  }
  Answer<State> cancel(const std::string& cookie, int on = 0) {
    return ask<State>([&](auto done) { node(on).cancel(cookie, done); });
  }
  Answer<Grant> poll_token(const std::string& code, const std::string& client, int on = 0) {
    return ask<Grant>([&](auto done) { node(on).poll_token(code, client, done); });
  }
  Answer<Done> take(Limit limit, std::vector<std::string> keys, int on = 0) {
    return ask<Done>([&](auto done) { node(on).take(limit, keys, done); });
  }
  Answer<SessionInfo> find(TokenKind kind, const std::string& token, int on = 0) {
    return ask<SessionInfo>([&](auto done) { node(on).find(kind, token, done); });
  }
  Answer<Issued> issue(TokenKind kind, const std::string& subject, int on = 0) {
    return ask<Issued>([&](auto done) { node(on).issue(kind, subject, done); });
  }
  bool add_user(const std::string& name, const std::string& hash, int on = 0) {
    return value(ask<bool>([&](auto done) { node(on).add_user(name, hash, done); }));
  }
  std::string hash_of(const std::string& name, int on = 0) {
    return value(ask<std::string>([&](auto done) { node(on).password_hash(name, done); }));
  }
  // Ticks every node until `done()` holds (the store's clock decides when: poll it).
  template <typename Check>
  bool tick_until(Check done) {
    for (auto until = std::chrono::steady_clock::now() + patience; std::chrono::steady_clock::now() < until;) {
      node(0).tick();
      node(1).tick();
      if (done()) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  // What the request's screen heard so far: {event name, data}, oldest first.
  std::vector<std::pair<std::string, std::string>> heard(const std::string& id) {
    std::promise<std::variant<ReadResult, Error>> answer;
    kind.broker->read(events_channel(id), {.last = 20}, 20, [&](auto result) { answer.set_value(std::move(result)); });
    auto result = answer.get_future().get();
    std::vector<std::pair<std::string, std::string>> events;
    if (auto* read = std::get_if<ReadResult>(&result)) {
      for (const auto& m : read->messages) events.emplace_back(m->event(), m->data());
    } else {
      ADD_FAILURE() << std::get<Error>(result).message;
    }
    return events;
  }
  std::vector<std::string> heard_names(const std::string& id) {
    std::vector<std::string> names;
    for (const auto& [name, data] : heard(id)) names.push_back(name);
    return names;
  }

  static int a_wrong_number(const Prompt& prompt, int match) {
    for (int n : *prompt.numbers) {
      if (n != match) return n;
    }
    return 0;
  }

  Kind kind;
};

using Stores = ::testing::Types<MemoryKind, RedisKind, RedisClusterKind>;
struct StoreNames {
  template <typename T>
  static std::string GetName(int) {
    if constexpr (std::is_same_v<T, RedisClusterKind>) return "RedisCluster";
    return T::redis ? "Redis" : "Memory";
  }
};
TYPED_TEST_SUITE(LoginStoreConformance, Stores, StoreNames);

// Points 1-3: a QR login from start to session, each step on another node, and what its screen heard.
TYPED_TEST(LoginStoreConformance, QrLoginRunsPendingScannedApprovedConsumedAcrossNodes) {
  Started started = this->start(Flow::qr, 0);
  EXPECT_EQ(started.user_code.size(), 9U);
  EXPECT_EQ(started.expires_in, 300);
  EXPECT_EQ(value(this->status({Flow::qr, started.poll_secret}, 1)).state, State::pending);
  EXPECT_EQ(value(this->qr(started.poll_secret, 1)), started.qr_secret);  // one QR key for every node

  Prompt prompt = value(this->scan(started.qr_secret, "alice", 1));
  EXPECT_EQ(prompt.id, started.id);
  EXPECT_EQ(prompt.requester.browser, "Chrome on Linux");
  EXPECT_EQ(prompt.requester.ip, "203.0.113.7");
  ASSERT_TRUE(prompt.numbers);
  EXPECT_NE(std::find(prompt.numbers->begin(), prompt.numbers->end(), started.match_number), prompt.numbers->end());
  EXPECT_EQ(std::set<int>(prompt.numbers->begin(), prompt.numbers->end()).size(), 3U);
  EXPECT_EQ(value(this->decide(started.id, "alice", true, started.match_number, 0)), State::approved);
  Grant grant = value(this->exchange(started.poll_secret, 1));
  EXPECT_EQ(grant.subject, "alice");
  EXPECT_EQ(refused(this->exchange(started.poll_secret, 0)), "gone");

  // The session the exchange issued, on every node.
  auto session = value(this->find(TokenKind::session, grant.issued.token, 0));
  EXPECT_EQ(session.subject, "alice");
  EXPECT_EQ(session.csrf, grant.issued.csrf);
  EXPECT_EQ(refused(this->find(TokenKind::access, grant.issued.token, 1)), "unauthorized");

  auto events = this->heard(started.id);
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(events[0].first, "scanned");
  EXPECT_EQ(events[0].second, R"({"state":"scanned","approver":"a***"})");
  EXPECT_EQ(events[1].first, "approved");
  EXPECT_EQ(events[1].second, R"({"state":"approved"})");
}

TYPED_TEST(LoginStoreConformance, EventsNeverCarrySecrets) {
  Started started = this->start();
  this->scan(started.qr_secret, "alice", 1);
  this->decide(started.id, "alice", true, started.match_number, 0);
  auto events = this->heard(started.id);
  ASSERT_FALSE(events.empty());
  for (const auto& [name, data] : events) {
    EXPECT_EQ(data.find(started.poll_secret), std::string::npos);
    EXPECT_EQ(data.find(started.qr_secret), std::string::npos);
    EXPECT_EQ(data.find(started.user_code), std::string::npos);
    EXPECT_EQ(data.find("alice"), std::string::npos);
  }
}

TYPED_TEST(LoginStoreConformance, ExchangeBeforeApprovalIsRefusedWithTheState) {
  Started started = this->start();
  auto refusal = std::get<Refusal>(this->exchange(started.poll_secret, 1));
  EXPECT_EQ(refusal.code, "not_approved");
  EXPECT_EQ(refusal.extra, R"("state":"pending")");
  EXPECT_EQ(refused(this->exchange("made-up")), "unauthorized");
  EXPECT_EQ(refused(this->exchange("")), "unauthorized");
  EXPECT_EQ(refused(this->status({Flow::qr, "made-up"})), "unauthorized");
}

TYPED_TEST(LoginStoreConformance, OneWrongNumberDeniesAndTheScreenHearsWhy) {
  Started started = this->start();
  Prompt prompt = value(this->scan(started.qr_secret, "alice", 1));
  auto refusal =
      std::get<Refusal>(this->decide(started.id, "alice", true, this->a_wrong_number(prompt, started.match_number), 0));
  EXPECT_EQ(refusal.code, "wrong_number");
  EXPECT_EQ(refusal.extra, R"("state":"denied")");
  auto status = value(this->status({Flow::qr, started.poll_secret}, 1));
  EXPECT_EQ(status.state, State::denied);
  EXPECT_EQ(status.reason, "wrong_number");
  EXPECT_EQ(this->heard_names(started.id), (std::vector<std::string>{"scanned", "denied"}));
  EXPECT_EQ(this->heard(started.id).back().second, R"({"state":"denied","reason":"wrong_number"})");
  EXPECT_EQ(refused(this->decide(started.id, "alice", true, started.match_number, 1)), "invalid_code");
  auto exchange = std::get<Refusal>(this->exchange(started.poll_secret, 0));
  EXPECT_EQ(exchange.code, "access_denied");
  EXPECT_EQ(exchange.extra, R"("reason":"wrong_number")");
}

TYPED_TEST(LoginStoreConformance, ANumberIsRequiredAfterAScanAndADenialByTheUserIsToldApart) {
  Started started = this->start();
  this->scan(started.qr_secret, "alice");
  EXPECT_EQ(refused(this->decide(started.id, "alice", true, std::nullopt, 1)), "number_required");
  EXPECT_EQ(value(this->decide(started.id, "alice", false, std::nullopt, 1)), State::denied);
  EXPECT_EQ(this->heard(started.id).back().second, R"({"state":"denied","reason":"user"})");
  EXPECT_EQ(value(this->status({Flow::qr, started.poll_secret})).reason, "user");
  Started by_app = this->start();
  EXPECT_EQ(value(this->decide_for({.id = by_app.id}, "ext-1", false, 1)), State::denied);
  EXPECT_EQ(this->heard(by_app.id).back().second, R"({"state":"denied","reason":"user"})");
  EXPECT_EQ(value(this->status({Flow::qr, this->start().poll_secret})).reason, "");
}

TYPED_TEST(LoginStoreConformance, EachFlowsSecretOpensOnlyItsOwnRequests) {
  Started screen = this->start(Flow::qr);
  Started device = this->start(Flow::device);
  this->decide_for({.id = screen.id}, "alice", true, 1);
  this->decide_for({.user_code = device.user_code}, "alice", true, 0);

  EXPECT_EQ(refused(this->status({Flow::qr, device.poll_secret})), "unauthorized");
  EXPECT_EQ(refused(this->status({Flow::device, screen.poll_secret})), "unauthorized");
  EXPECT_EQ(refused(this->qr(device.poll_secret)), "gone");
  EXPECT_EQ(refused(this->exchange(device.poll_secret)), "unauthorized");
  EXPECT_EQ(refused(this->cancel(device.poll_secret)), "unauthorized");
  EXPECT_EQ(refused(this->poll_token(screen.poll_secret, "tv")), "invalid_grant");

  EXPECT_EQ(value(this->status({Flow::device, device.poll_secret}, 1)).state, State::approved);
  Grant token = value(this->poll_token(device.poll_secret, "tv", 1));
  EXPECT_EQ(token.subject, "alice");
  EXPECT_EQ(value(this->find(TokenKind::access, token.issued.token)).subject, "alice");
  EXPECT_EQ(refused(this->find(TokenKind::session, token.issued.token)), "unauthorized");
  EXPECT_EQ(value(this->exchange(screen.poll_secret, 1)).subject, "alice");
}

// Point 5: a prompt is counted only for a good code, and a refused one binds nothing.
TYPED_TEST(LoginStoreConformance, ARefusedPromptBindsNothingAndBadCodesAreNotPrompts) {
  Settings settings;
  settings.limits.prompts = 1;
  this->make(settings);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(refused(this->scan("nothing.0.x", "alice", i)), "invalid_code");
    EXPECT_EQ(refused(this->enter("BCDF-GHJK", "alice", i)), "invalid_code");
  }
  Started first = this->start();
  EXPECT_TRUE(std::holds_alternative<Prompt>(this->scan(first.qr_secret, "alice", 1)));
  Started second = this->start();
  for (int on : {0, 1}) {
    auto refusal = std::get<Refusal>(this->scan(second.qr_secret, "alice", on));
    EXPECT_EQ(refusal.code, "rate_limited");
    EXPECT_GE(refusal.retry_after, 1U);
    EXPECT_LE(refusal.retry_after, 60U);
    EXPECT_EQ(refused(this->enter(second.user_code, "alice", on)), "rate_limited");
  }
  EXPECT_EQ(value(this->status({Flow::qr, second.poll_secret})).state, State::pending);
  EXPECT_TRUE(this->heard(second.id).empty());
  EXPECT_TRUE(std::holds_alternative<Prompt>(this->scan(second.qr_secret, "bob")));  // per account
}

TYPED_TEST(LoginStoreConformance, ABoundRequestAnswersOtherAccountsLikeAnUnknownCode) {
  Started started = this->start();
  this->scan(started.qr_secret, "alice", 0);
  auto stranger = std::get<Refusal>(this->scan(started.qr_secret, "mallory", 1));
  auto unknown = std::get<Refusal>(this->scan("nothing.0.x", "mallory", 1));
  EXPECT_EQ(stranger.code, "invalid_code");
  EXPECT_EQ(stranger.message, unknown.message);
  EXPECT_EQ(refused(this->enter(started.user_code, "mallory", 0)), "invalid_code");
  EXPECT_EQ(refused(this->decide(started.id, "mallory", true, started.match_number, 1)), "invalid_code");
  // The same account scanning again is shown the same prompt; typing the code drops the number.
  Prompt again = value(this->scan(started.qr_secret, "alice", 1));
  EXPECT_TRUE(again.numbers);
  Prompt typed = value(this->enter(started.user_code, "alice", 0));
  EXPECT_FALSE(typed.numbers);
  EXPECT_EQ(value(this->decide(started.id, "alice", true, std::nullopt, 1)), State::approved);
}

TYPED_TEST(LoginStoreConformance, ATamperedQrSecretIsRefused) {
  Started started = this->start();
  std::string tampered = started.qr_secret;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(refused(this->scan(tampered, "alice", 1)), "invalid_code");
  std::string mac = started.qr_secret.substr(started.id.size() + 3);
  EXPECT_EQ(refused(this->scan(started.id + ".1." + mac, "alice", 1)), "invalid_code");
  EXPECT_EQ(refused(this->decide_for({.qr_secret = tampered}, "ext", true, 0)), "invalid_code");
  EXPECT_EQ(value(this->status({Flow::qr, started.poll_secret})).state, State::pending);
}

// Point 4: rotation is pushed as `qr`, any node draws the new QR, and the previous one is still good for a
// while.
TYPED_TEST(LoginStoreConformance, QrSecretsRotateAndTheScreenHearsIt) {
  Settings settings;
  settings.qr_rotate = 1s;
  this->make(settings);
  Started started = this->start();
  ASSERT_TRUE(this->tick_until([&] { return this->heard_names(started.id).size() >= 1; }));
  EXPECT_EQ(this->heard(started.id)[0],
            (std::pair<std::string, std::string>{"qr", R"({"state":"pending","rotated":true})"}));
  std::string rotated = value(this->qr(started.poll_secret, 1));
  EXPECT_NE(rotated, started.qr_secret);
  EXPECT_EQ(value(this->qr(started.poll_secret, 0)), rotated);
  EXPECT_EQ(value(this->status({Flow::qr, started.poll_secret})).state, State::pending);
  EXPECT_TRUE(std::holds_alternative<Prompt>(this->scan(started.qr_secret, "alice", 1)));  // the previous: grace
  EXPECT_TRUE(std::holds_alternative<Prompt>(this->scan(rotated, "alice", 0)));
}

TYPED_TEST(LoginStoreConformance, ExpiryIsPushedOnceAndFinal) {
  Settings settings;
  settings.ttl = 1s;
  this->make(settings);
  Started started = this->start();
  ASSERT_TRUE(this->tick_until([&] { return !this->heard(started.id).empty(); }));
  this->node(0).tick();
  this->node(1).tick();
  EXPECT_EQ(this->heard_names(started.id), (std::vector<std::string>{"expired"}));
  EXPECT_EQ(value(this->status({Flow::qr, started.poll_secret}, 1)).state, State::expired);
  EXPECT_EQ(refused(this->exchange(started.poll_secret)), "gone");
  EXPECT_EQ(refused(this->scan(started.qr_secret, "alice", 1)), "invalid_code");
  EXPECT_EQ(refused(this->cancel(started.poll_secret, 1)), "gone");
}

// A request found after its time is expired by whoever finds it, without waiting for a tick.
TYPED_TEST(LoginStoreConformance, ARequestPastItsTimeIsExpiredByTheCallThatFindsIt) {
  Settings settings;
  settings.ttl = 1s;
  this->make(settings);
  Started started = this->start();
  Started device = this->start(Flow::device);
  std::this_thread::sleep_for(1100ms);  // the ttl passing is what is tested; no tick runs in this test
  EXPECT_EQ(refused(this->decide_for({.id = started.id}, "ext", true, 1)), "invalid_code");
  EXPECT_EQ(value(this->status({Flow::qr, started.poll_secret})).state, State::expired);
  EXPECT_EQ(this->heard_names(started.id), (std::vector<std::string>{"expired"}));
  EXPECT_EQ(refused(this->poll_token(device.poll_secret, "tv", 1)), "expired_token");
  EXPECT_EQ(this->heard_names(device.id), (std::vector<std::string>{"expired"}));
}

TYPED_TEST(LoginStoreConformance, CancelEndsTheRequestAndTheScreenHearsIt) {
  Started started = this->start();
  EXPECT_EQ(value(this->cancel(started.poll_secret, 1)), State::cancelled);
  EXPECT_EQ(refused(this->cancel(started.poll_secret, 0)), "gone");
  EXPECT_EQ(this->heard_names(started.id), (std::vector<std::string>{"cancelled"}));
  EXPECT_EQ(refused(this->scan(started.qr_secret, "alice")), "invalid_code");
}

// Point 1: ten exchanges racing on two nodes, one winner and one session.
TYPED_TEST(LoginStoreConformance, ConcurrentExchangesHaveExactlyOneWinner) {
  Started started = this->start();
  this->scan(started.qr_secret, "alice", 1);
  this->decide(started.id, "alice", true, started.match_number, 0);
  std::atomic<int> winners{0}, gone{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 10; ++i) {
    threads.emplace_back([&, i] {
      auto outcome = this->exchange(started.poll_secret, i);
      if (std::holds_alternative<Grant>(outcome)) ++winners;
      if (refused(outcome) == "gone") ++gone;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(winners.load(), 1);
  EXPECT_EQ(gone.load(), 9);
}

TYPED_TEST(LoginStoreConformance, ConcurrentDecisionsHaveExactlyOneWinner) {
  for (int round = 0; round < 5; ++round) {
    Started started = this->start();
    this->scan(started.qr_secret, "alice", 1);
    std::promise<void> go;
    auto ready = go.get_future().share();
    auto approve = std::async(std::launch::async, [&] {
      ready.wait();
      return this->decide(started.id, "alice", true, started.match_number, 0);
    });
    auto deny = std::async(std::launch::async, [&] {
      ready.wait();
      return this->decide(started.id, "alice", false, std::nullopt, 1);
    });
    go.set_value();
    auto a = approve.get();
    auto d = deny.get();
    EXPECT_EQ(std::holds_alternative<State>(a) + std::holds_alternative<State>(d), 1);
    State final_state = value(this->status({Flow::qr, started.poll_secret})).state;
    EXPECT_EQ(final_state, std::holds_alternative<State>(a) ? State::approved : State::denied);
    EXPECT_EQ(this->heard(started.id).size(), 2U);  // scanned, then one decision
  }
}

TYPED_TEST(LoginStoreConformance, DeviceGrantFollowsRfc8628) {
  Started started = this->start(Flow::device);
  EXPECT_EQ(refused(this->poll_token(started.poll_secret, "tv", 0)), "authorization_pending");
  EXPECT_EQ(refused(this->poll_token(started.poll_secret, "tv", 1)), "slow_down");  // sooner than the interval
  EXPECT_EQ(refused(this->poll_token(started.poll_secret, "other", 0)), "invalid_grant");
  EXPECT_EQ(refused(this->poll_token("made-up", "tv", 0)), "invalid_grant");

  std::string spaced = "  " + started.user_code.substr(0, 4) + " " + started.user_code.substr(5);
  Prompt prompt = value(this->enter(spaced, "alice", 1));
  EXPECT_FALSE(prompt.numbers);  // typing the code proves the user sees the screen
  EXPECT_EQ(this->heard_names(started.id), (std::vector<std::string>{"scanned"}));
  EXPECT_EQ(value(this->decide(started.id, "alice", true, std::nullopt, 0)), State::approved);
  Grant grant = value(this->poll_token(started.poll_secret, "tv", 1));
  EXPECT_EQ(grant.subject, "alice");
  EXPECT_EQ(refused(this->poll_token(started.poll_secret, "tv", 0)), "invalid_grant");
}

TYPED_TEST(LoginStoreConformance, DeniedDeviceCodes) {
  Started denied = this->start(Flow::device);
  EXPECT_EQ(value(this->decide_for({.user_code = denied.user_code}, "alice", false, 1)), State::denied);
  EXPECT_EQ(refused(this->poll_token(denied.poll_secret, "tv", 0)), "access_denied");
}

TYPED_TEST(LoginStoreConformance, StartsAreRefusedPastTheCap) {
  Settings settings;
  settings.max_requests = 2;
  this->make(settings);
  this->start(Flow::qr, 0);
  this->start(Flow::device, 1);
  auto refusal = ask<Started>([&](auto done) { this->node(0).start(Flow::qr, {}, {}, done); });
  EXPECT_EQ(refused(refusal), "busy");
}

// Point 5: buckets counted once across nodes; take() takes from every key or from none.
TYPED_TEST(LoginStoreConformance, RateLimitsCountEveryNodeTogether) {
  Settings settings;
  settings.limits.starts = 3;
  settings.limits.signins = 2;
  this->make(settings);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(std::holds_alternative<Done>(this->take(Limit::starts, {"ip:a"}, i)));
  auto refusal = std::get<Refusal>(this->take(Limit::starts, {"ip:a"}, 1));
  EXPECT_EQ(refusal.code, "rate_limited");
  EXPECT_GE(refusal.retry_after, 1U);
  EXPECT_LE(refusal.retry_after, 20U);  // a token comes back every 20 s at 3 a minute
  EXPECT_TRUE(std::holds_alternative<Done>(this->take(Limit::starts, {"ip:b"}, 0)));
  EXPECT_TRUE(std::holds_alternative<Done>(this->take(Limit::signins, {"ip:a"}, 0)));  // limits apart

  // Two keys: refused when either is empty, and then neither is taken from.
  EXPECT_TRUE(std::holds_alternative<Done>(this->take(Limit::signins, {"name:x"}, 0)));
  EXPECT_TRUE(std::holds_alternative<Done>(this->take(Limit::signins, {"name:x"}, 1)));
  EXPECT_EQ(refused(this->take(Limit::signins, {"name:y", "name:x"}, 0)), "rate_limited");
  EXPECT_TRUE(std::holds_alternative<Done>(this->take(Limit::signins, {"name:y"}, 1)));
  EXPECT_TRUE(std::holds_alternative<Done>(this->take(Limit::signins, {"name:y"}, 0)));
  EXPECT_EQ(refused(this->take(Limit::signins, {"name:y"}, 1)), "rate_limited");
}

TYPED_TEST(LoginStoreConformance, ALimitOfZeroRefusesEverything) {
  Settings settings;
  settings.limits.code_attempts = 0;
  this->make(settings);
  EXPECT_EQ(std::get<Refusal>(this->take(Limit::code_attempts, {"ip:a"})).retry_after, 60U);
}

// Point 7: accounts are one set for every node; a removed account or a new password ends its sessions.
TYPED_TEST(LoginStoreConformance, AccountsAndTheirSessions) {
  std::string hash = hash_password("correct horse");
  EXPECT_TRUE(this->add_user("bob", hash, 0));
  EXPECT_TRUE(this->add_user("alice", hash, 1));
  EXPECT_FALSE(this->add_user("alice", "another", 0));
  auto names = value(ask<std::vector<std::string>>([&](auto done) { this->node(1).users(done); }));
  EXPECT_EQ(names, (std::vector<std::string>{"alice", "bob"}));
  EXPECT_EQ(this->hash_of("alice", 0), hash);
  EXPECT_TRUE(verify_password(this->hash_of("alice", 1), "correct horse"));
  EXPECT_EQ(this->hash_of("nobody"), "");
  EXPECT_FALSE(verify_password(this->hash_of("nobody"), "correct horse"));

  Issued alice = value(this->issue(TokenKind::session, "alice", 0));
  Issued alice_cli = value(this->issue(TokenKind::access, "alice", 1));
  Issued bob = value(this->issue(TokenKind::session, "bob", 1));
  EXPECT_EQ(value(this->find(TokenKind::session, alice.token, 1)).subject, "alice");
  EXPECT_TRUE(value(this->find(TokenKind::access, alice_cli.token, 0)).csrf.empty());

  std::string changed = hash_password("battery staple");
  EXPECT_TRUE(value(ask<bool>([&](auto done) { this->node(1).set_password("alice", changed, done); })));
  EXPECT_FALSE(value(ask<bool>([&](auto done) { this->node(1).set_password("nobody", changed, done); })));
  EXPECT_EQ(this->hash_of("alice", 0), changed);
  EXPECT_EQ(refused(this->find(TokenKind::session, alice.token, 0)), "unauthorized");
  EXPECT_EQ(refused(this->find(TokenKind::access, alice_cli.token, 1)), "unauthorized");
  EXPECT_EQ(value(this->find(TokenKind::session, bob.token, 0)).subject, "bob");

  EXPECT_TRUE(value(ask<bool>([&](auto done) { this->node(0).remove_user("bob", done); })));
  EXPECT_FALSE(value(ask<bool>([&](auto done) { this->node(1).remove_user("bob", done); })));
  EXPECT_EQ(refused(this->find(TokenKind::session, bob.token, 1)), "unauthorized");
  EXPECT_EQ(this->hash_of("bob"), "");
}

TYPED_TEST(LoginStoreConformance, TokensAreRevokedAndExpire) {
  Settings settings;
  settings.session_ttl = 1s;
  this->make(settings);
  Issued revoked = value(this->issue(TokenKind::session, "alice", 0));
  EXPECT_TRUE(std::holds_alternative<Done>(ask<Done>([&](auto done) { this->node(1).revoke(revoked.token, done); })));
  EXPECT_EQ(refused(this->find(TokenKind::session, revoked.token, 0)), "unauthorized");
  EXPECT_EQ(refused(this->find(TokenKind::session, "")), "unauthorized");

  Issued brief = value(this->issue(TokenKind::session, "alice", 1));
  EXPECT_EQ(value(this->find(TokenKind::session, brief.token, 0)).subject, "alice");
  EXPECT_TRUE(
      this->tick_until([&] { return refused(this->find(TokenKind::session, brief.token, 1)) == "unauthorized"; }));
}

// --- the Redis store alone ----------------------------------------------------------------------------

TEST(RedisLoginStore, AnswersLoginUnavailableWhileRedisIsAwayAndRecoversItsKey) {
  ASSERT_TRUE(test::RedisServer::available()) << "redis-server is not installed (scripts/install-deps)";
  test::RedisServer server;
  RedisOptions options;
  options.port = server.port();
  options.key_prefix = "away:";
  RedisLoginStore store(options, Settings{}, event_limits());
  ASSERT_TRUE(store.wait_connected(patience));
  auto before = value(ask<Started>([&](auto done) { store.start(Flow::qr, {}, {}, done); }));

  server.stop();
  auto away = ask<Started>([&](auto done) { store.start(Flow::qr, {}, {}, done); });
  EXPECT_EQ(refused(away), "login_unavailable");
  EXPECT_EQ(refused(ask<Done>([&](auto done) { store.take(Limit::starts, {"ip:a"}, done); })), "login_unavailable");
  EXPECT_EQ(refused(ask<Status>([&](auto done) {
              store.status({Flow::qr, before.poll_secret}, done);
            })),
            "login_unavailable");

  // Back, but empty (no persistence): the old request is gone, and a new QR key is made and used.
  server.start();
  ASSERT_TRUE(store.wait_connected(patience));
  EXPECT_EQ(refused(ask<Status>([&](auto done) {
              store.status({Flow::qr, before.poll_secret}, done);
            })),
            "unauthorized");
  auto after = value(ask<Started>([&](auto done) { store.start(Flow::qr, {}, {}, done); }));
  EXPECT_TRUE(
      std::holds_alternative<Prompt>(ask<Prompt>([&](auto done) { store.scan(after.qr_secret, "alice", done); })));
  EXPECT_EQ(refused(ask<Prompt>([&](auto done) { store.scan(before.qr_secret, "alice", done); })), "invalid_code");
}

}  // namespace
}  // namespace herald::login
