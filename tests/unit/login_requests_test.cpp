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
  LoginRequests requests{Settings{std::chrono::seconds(300), std::chrono::seconds(5), std::chrono::seconds(60), 3},
                         [this](Event event) {
                           std::lock_guard lock(mutex);
                           events.push_back(std::move(event));
                         }};
  std::mutex mutex;
  std::vector<Event> events;

  Requester someone() { return {"Chrome on Linux", "203.0.113.7", 1}; }
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
  EXPECT_EQ(requests.status(started.poll_secret)->state, State::pending);

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

TEST_F(LoginRequestsTest, ThreeWrongNumbersDeny) {
  Started started = *requests.start(Flow::qr, someone());
  auto prompt = std::get<Prompt>(requests.scan(started.qr_secret, "alice"));
  int wrong = 0;
  for (int n : *prompt.numbers) {
    if (n != started.match_number) wrong = n;
  }
  EXPECT_EQ(std::get<Refusal>(requests.decide(started.id, "alice", true, wrong)).code, "wrong_number");
  EXPECT_EQ(std::get<Refusal>(requests.decide(started.id, "alice", true, wrong)).code, "wrong_number");
  EXPECT_EQ(std::get<Refusal>(requests.decide(started.id, "alice", true, wrong)).code, "access_denied");
  EXPECT_EQ(requests.status(started.poll_secret)->state, State::denied);
  EXPECT_EQ(std::get<Refusal>(requests.exchange(started.poll_secret)).code, "access_denied");
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
