// The login state machine: transitions, one winner under concurrency, secrets, events.
#include "login/login_requests.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace herald::login {
namespace {

class LoginRequestsTest : public ::testing::Test {
 protected:
  LoginRequests requests{Settings{std::chrono::seconds(300), std::chrono::seconds(5), std::chrono::seconds(60)},
                         [this](Event event) {
                           std::lock_guard lock(mutex);
                           events.push_back(std::move(event));
                         }};
  std::mutex mutex;
  std::vector<Event> events;

  Requester someone() { return {"Chrome on Linux", "203.0.113.7", 1}; }
  std::vector<std::string> event_data() {
    std::lock_guard lock(mutex);
    std::vector<std::string> data;
    for (const auto& e : events) data.push_back(e.data);
    return data;
  }
  static int a_wrong_number(const Prompt& prompt, int match) {
    for (int n : *prompt.numbers) {
      if (n != match) return n;
    }
    return 0;
  }
  std::vector<std::string> event_names() {
    std::lock_guard lock(mutex);
    std::vector<std::string> names;
    for (const auto& e : events) names.push_back(e.name);
    return names;
  }
};

TEST_F(LoginRequestsTest, QrLoginRunsPendingScannedApprovedConsumed) {
  Started started = *requests.start(Flow::qr, someone());
  EXPECT_EQ(started.user_code.size(), 9u);
  EXPECT_EQ(requests.status({Flow::qr, started.poll_secret})->state, State::pending);

  auto prompt = std::get<Prompt>(requests.scan(started.qr_secret, "alice"));
  ASSERT_TRUE(prompt.numbers);
  EXPECT_NE(std::find(prompt.numbers->begin(), prompt.numbers->end(), started.match_number), prompt.numbers->end());
  EXPECT_EQ(std::get<State>(requests.decide(started.id, "alice", true, started.match_number)), State::approved);
  EXPECT_EQ(std::get<std::string>(requests.exchange(started.poll_secret)), "alice");
  EXPECT_EQ(std::get<Refusal>(requests.exchange(started.poll_secret)).code, "gone");
  EXPECT_EQ(event_names(), (std::vector<std::string>{"scanned", "approved"}));
  EXPECT_EQ(events[0].channel, events_channel(started.id));
  EXPECT_NE(events[0].data.find(R"("approver":"a***")"), std::string::npos);
}

TEST_F(LoginRequestsTest, EventsNeverCarrySecrets) {
  Started started = *requests.start(Flow::qr, someone());
  requests.scan(started.qr_secret, "alice");
  requests.decide(started.id, "alice", true, started.match_number);
  for (const auto& e : events) {
    EXPECT_EQ(e.data.find(started.poll_secret), std::string::npos);
    EXPECT_EQ(e.data.find(started.qr_secret), std::string::npos);
    EXPECT_EQ(e.data.find("alice"), std::string::npos);
  }
}

TEST_F(LoginRequestsTest, ExchangeBeforeApprovalIsRefusedWithTheState) {
  Started started = *requests.start(Flow::qr, someone());
  auto refusal = std::get<Refusal>(requests.exchange(started.poll_secret));
  EXPECT_EQ(refusal.code, "not_approved");
  EXPECT_EQ(refusal.extra, R"("state":"pending")");
  EXPECT_EQ(std::get<Refusal>(requests.exchange("made-up")).code, "unauthorized");
}

// Three numbers are offered: if a wrong one only cost an attempt, tapping through all three would always
// approve. One wrong pick ends the request, and the screen hears why.
TEST_F(LoginRequestsTest, OneWrongNumberDeniesAndTheScreenHearsWhy) {
  Started started = *requests.start(Flow::qr, someone());
  auto prompt = std::get<Prompt>(requests.scan(started.qr_secret, "alice"));
  auto refusal =
      std::get<Refusal>(requests.decide(started.id, "alice", true, a_wrong_number(prompt, started.match_number)));
  EXPECT_EQ(refusal.code, "wrong_number");
  EXPECT_EQ(refusal.extra, R"("state":"denied")");
  auto status = requests.status({Flow::qr, started.poll_secret});
  EXPECT_EQ(status->state, State::denied);
  EXPECT_EQ(status->reason, "wrong_number");
  EXPECT_EQ(event_names(), (std::vector<std::string>{"scanned", "denied"}));
  EXPECT_EQ(event_data().back(), R"({"state":"denied","reason":"wrong_number"})");
  // The right number afterwards changes nothing.
  EXPECT_EQ(std::get<Refusal>(requests.decide(started.id, "alice", true, started.match_number)).code, "invalid_code");
  auto exchange = std::get<Refusal>(requests.exchange(started.poll_secret));
  EXPECT_EQ(exchange.code, "access_denied");
  EXPECT_EQ(exchange.extra, R"("reason":"wrong_number")");
}

TEST_F(LoginRequestsTest, ADenialByTheUserIsToldApartFromAWrongNumber) {
  Started by_phone = *requests.start(Flow::qr, someone());
  requests.scan(by_phone.qr_secret, "alice");
  EXPECT_EQ(std::get<State>(requests.decide(by_phone.id, "alice", false, std::nullopt)), State::denied);
  EXPECT_EQ(event_data().back(), R"({"state":"denied","reason":"user"})");
  EXPECT_EQ(requests.status({Flow::qr, by_phone.poll_secret})->reason, "user");
  Started by_app = *requests.start(Flow::qr, someone());
  EXPECT_EQ(std::get<State>(requests.decide_for({.id = by_app.id}, "ext-1", false)), State::denied);
  EXPECT_EQ(event_data().back(), R"({"state":"denied","reason":"user"})");
  EXPECT_EQ(requests.status({Flow::qr, by_app.poll_secret})->reason, "user");
  EXPECT_EQ(requests.status({Flow::qr, requests.start(Flow::qr, someone())->poll_secret})->reason, "");
}

// A device_code must not buy a browser session at /login/exchange, nor a screen's cookie an access token.
TEST_F(LoginRequestsTest, EachFlowsSecretOpensOnlyItsOwnRequests) {
  Started screen = *requests.start(Flow::qr, someone());
  Started device = *requests.start(Flow::device, someone(), "tv");
  requests.decide_for({.id = screen.id}, "alice", true);
  requests.decide_for({.id = device.id}, "alice", true);

  EXPECT_FALSE(requests.status({Flow::qr, device.poll_secret}));
  EXPECT_FALSE(requests.status({Flow::device, screen.poll_secret}));
  EXPECT_FALSE(requests.qr_secret(device.poll_secret));
  EXPECT_EQ(std::get<Refusal>(requests.exchange(device.poll_secret)).code, "unauthorized");
  EXPECT_EQ(std::get<Refusal>(requests.cancel(device.poll_secret)).code, "unauthorized");
  EXPECT_EQ(std::get<std::string>(requests.poll_token(screen.poll_secret, "tv", std::chrono::steady_clock::now())),
            "invalid_grant");

  // Each still works where it belongs, untouched by the refused tries.
  EXPECT_EQ(requests.status({Flow::device, device.poll_secret})->state, State::approved);
  EXPECT_EQ(
      std::get<TokenGrant>(requests.poll_token(device.poll_secret, "tv", std::chrono::steady_clock::now())).subject,
      "alice");
  EXPECT_EQ(std::get<std::string>(requests.exchange(screen.poll_secret)), "alice");
}

// The prompt limit counts prompts, not guesses: it is asked only once a code is known good, and a refusal
// binds nothing.
TEST_F(LoginRequestsTest, ARefusedPromptBindsNothingAndBadCodesAreNotPrompts) {
  Started started = *requests.start(Flow::qr, someone());
  int asked = 0;
  auto refuse = [&] {
    ++asked;
    return false;
  };
  EXPECT_EQ(std::get<Refusal>(requests.scan("nothing.0.x", "alice", refuse)).code, "invalid_code");
  EXPECT_EQ(std::get<Refusal>(requests.enter_code("BCDF-GHJK", "alice", refuse)).code, "invalid_code");
  EXPECT_EQ(asked, 0);
  EXPECT_EQ(std::get<Refusal>(requests.scan(started.qr_secret, "alice", refuse)).code, "rate_limited");
  EXPECT_EQ(std::get<Refusal>(requests.enter_code(started.user_code, "alice", refuse)).code, "rate_limited");
  EXPECT_EQ(asked, 2);
  EXPECT_EQ(requests.status({Flow::qr, started.poll_secret})->state, State::pending);
  EXPECT_TRUE(event_names().empty());
  EXPECT_TRUE(std::holds_alternative<Prompt>(requests.scan(started.qr_secret, "alice", [] { return true; })));
}

TEST_F(LoginRequestsTest, ABoundRequestAnswersOtherAccountsLikeAnUnknownCode) {
  Started started = *requests.start(Flow::qr, someone());
  requests.scan(started.qr_secret, "alice");
  auto stranger = std::get<Refusal>(requests.scan(started.qr_secret, "mallory"));
  auto unknown = std::get<Refusal>(requests.scan("nothing.0.x", "mallory"));
  EXPECT_EQ(stranger.code, "invalid_code");
  EXPECT_EQ(stranger.message, unknown.message);
  EXPECT_EQ(std::get<Refusal>(requests.decide(started.id, "mallory", true, started.match_number)).code, "invalid_code");
}

TEST_F(LoginRequestsTest, ATamperedQrSecretIsRefused) {
  Started started = *requests.start(Flow::qr, someone());
  std::string tampered = started.qr_secret;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(std::get<Refusal>(requests.scan(tampered, "alice")).code, "invalid_code");
  EXPECT_EQ(
      std::get<Refusal>(requests.scan(started.id + ".1." + started.qr_secret.substr(started.id.size() + 3), "alice"))
          .code,
      "invalid_code");
}

TEST_F(LoginRequestsTest, QrSecretsRotateAndTheScreenHearsIt) {
  Started started = *requests.start(Flow::qr, someone());
  requests.tick(std::chrono::steady_clock::now() + std::chrono::seconds(61));
  auto rotated = requests.qr_secret(started.poll_secret);
  ASSERT_TRUE(rotated);
  EXPECT_NE(*rotated, started.qr_secret);
  EXPECT_EQ(event_names(), (std::vector<std::string>{"qr"}));
  EXPECT_NE(events[0].data.find(R"("rotated":true)"), std::string::npos);
  EXPECT_TRUE(std::holds_alternative<Prompt>(requests.scan(*rotated, "alice")));
}

TEST_F(LoginRequestsTest, ExpiryIsPushedOnceAndFinal) {
  Started started = *requests.start(Flow::qr, someone());
  auto later = std::chrono::steady_clock::now() + std::chrono::seconds(301);
  requests.tick(later);
  requests.tick(later);
  EXPECT_EQ(event_names(), (std::vector<std::string>{"expired"}));
  EXPECT_EQ(std::get<Refusal>(requests.exchange(started.poll_secret)).code, "gone");
  EXPECT_EQ(std::get<Refusal>(requests.scan(started.qr_secret, "alice")).code, "invalid_code");
}

TEST_F(LoginRequestsTest, ConcurrentExchangesHaveExactlyOneWinner) {
  Started started = *requests.start(Flow::qr, someone());
  requests.scan(started.qr_secret, "alice");
  requests.decide(started.id, "alice", true, started.match_number);
  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (std::holds_alternative<std::string>(requests.exchange(started.poll_secret))) ++winners;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(winners.load(), 1);
}

TEST_F(LoginRequestsTest, DeviceGrantFollowsRfc8628) {
  auto now = std::chrono::steady_clock::now();
  Started started = *requests.start(Flow::device, someone(), "tv");
  EXPECT_EQ(std::get<std::string>(requests.poll_token(started.poll_secret, "tv", now)), "authorization_pending");
  EXPECT_EQ(std::get<std::string>(requests.poll_token(started.poll_secret, "tv", now + std::chrono::seconds(1))),
            "slow_down");
  // The interval grew by 5 s: 6 s after the last poll is still too soon, 10 s is not.
  EXPECT_EQ(std::get<std::string>(requests.poll_token(started.poll_secret, "tv", now + std::chrono::seconds(7))),
            "slow_down");
  EXPECT_EQ(std::get<std::string>(requests.poll_token(started.poll_secret, "tv", now + std::chrono::seconds(23))),
            "authorization_pending");
  EXPECT_EQ(std::get<std::string>(requests.poll_token(started.poll_secret, "other", now)), "invalid_grant");

  auto prompt = std::get<Prompt>(
      requests.enter_code("  " + started.user_code.substr(0, 4) + " " + started.user_code.substr(5), "alice"));
  EXPECT_FALSE(prompt.numbers);  // typing the code proves the user sees the screen
  EXPECT_EQ(std::get<State>(requests.decide(started.id, "alice", true, std::nullopt)), State::approved);
  auto grant = requests.poll_token(started.poll_secret, "tv", now + std::chrono::seconds(60));
  EXPECT_EQ(std::get<TokenGrant>(grant).subject, "alice");
  EXPECT_EQ(std::get<std::string>(requests.poll_token(started.poll_secret, "tv", now + std::chrono::seconds(90))),
            "invalid_grant");
}

TEST_F(LoginRequestsTest, DeniedAndExpiredDeviceCodes) {
  auto now = std::chrono::steady_clock::now();
  Started denied = *requests.start(Flow::device, someone(), "tv");
  requests.decide_for({.user_code = denied.user_code}, "alice", false);
  EXPECT_EQ(std::get<std::string>(requests.poll_token(denied.poll_secret, "tv", now)), "access_denied");
  Started expired = *requests.start(Flow::device, someone(), "tv");
  requests.tick(now + std::chrono::seconds(301));
  EXPECT_EQ(std::get<std::string>(requests.poll_token(expired.poll_secret, "tv", now)), "expired_token");
}

TEST(LoginRequestsLimit, StartsAreRefusedPastTheCap) {
  LoginRequests requests{Settings{.max_requests = 2}, [](Event) {}};
  EXPECT_TRUE(requests.start(Flow::qr, {}));
  EXPECT_TRUE(requests.start(Flow::device, {}, "tv"));
  EXPECT_FALSE(requests.start(Flow::qr, {}));
}

TEST(UserCodes, UseTheBase20AlphabetAndIgnoreDashesAndCase) {
  std::string code = random_user_code();
  EXPECT_EQ(code.size(), 8u);
  EXPECT_EQ(code.find_first_not_of("BCDFGHJKLMNPQRSTVWXZ"), std::string::npos);
  EXPECT_EQ(normalize_user_code("bcdf-ghjk"), "BCDFGHJK");
  EXPECT_EQ(normalize_user_code("BCDF GHJK"), "BCDFGHJK");
  EXPECT_FALSE(normalize_user_code("BCDF-GHJA"));  // a vowel is never issued
  EXPECT_FALSE(normalize_user_code("BCDF-GHJ"));
  EXPECT_FALSE(normalize_user_code("BCDF-GHJKL"));
  EXPECT_EQ(format_user_code("BCDFGHJK"), "BCDF-GHJK");
}

TEST(Hints, MaskAndDescribe) {
  EXPECT_EQ(mask_subject("alice"), "a***");
  EXPECT_EQ(mask_subject("élise"), "é***");
  EXPECT_EQ(describe_user_agent("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"),
            "Chrome on Linux");
  EXPECT_EQ(describe_user_agent("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1"),
            "Safari on iOS");
  EXPECT_EQ(describe_user_agent("curl/7.88.1"), "curl");
}

}  // namespace
}  // namespace herald::login
