// Channel admission (access/admission.hpp): the one rule every way in asks. Each case here is a decision
// the HTTP routes and the WebSocket frames both rely on.
#include "access/admission.hpp"

#include <gtest/gtest.h>

#include "auth/subscribe_token.hpp"
#include "broker/memory_broker.hpp"
#include "broker/memory_presence.hpp"
#include "presence/presence.hpp"

namespace herald {
namespace {

constexpr const char* secret = "the application secret";

struct AdmissionTest : ::testing::Test {
  AdmissionTest() {
    config.token_secret = secret;
    NamespaceSettings chat;
    chat.client_publish = true;
    chat.presence = true;
    config.namespaces.by_namespace["chat"] = chat;
    NamespaceSettings team = chat;
    team.private_channels = true;
    config.namespaces.by_namespace["team"] = team;
    NamespaceSettings own;
    own.internal = true;
    config.namespaces.by_namespace["_login"] = own;
  }

  static std::string token(const std::string& claims) { return auth::sign_subscribe_token(claims, secret); }
  static std::string in_an_hour() { return std::to_string(unix_seconds() + 3600); }
  static std::string code(const std::optional<Error>& error) { return error ? error->code : "ok"; }
  template <class T>
  static std::string code(const std::variant<T, Error>& outcome) {
    const auto* error = std::get_if<Error>(&outcome);
    return error ? error->code : "ok";
  }

  Client browser{.address = "192.0.2.1", .this_machine = false, .origin_ok = true};
  Client machine{.address = "127.0.0.1", .this_machine = true, .origin_ok = true};
  Config config;
};

TEST_F(AdmissionTest, ReadingChecksNamesHeraldsOwnNamespacesAndTokens) {
  Admission admission(config, nullptr, nullptr, nullptr);
  EXPECT_EQ(code(admission.read(browser, "news", "")), "ok");
  EXPECT_EQ(code(admission.read(browser, "bad name", "")), "bad_channel");
  EXPECT_EQ(code(admission.read(machine, "_login:abc", "")), "forbidden");
  EXPECT_EQ(code(admission.inspect("_login:abc")), "forbidden");
  EXPECT_EQ(code(admission.read(browser, "team:1", "")), "token_required");
  EXPECT_EQ(code(admission.read(browser, "team:1", token(R"({"channels":["team:1"],"exp":)" + in_an_hour() + "}"))),
            "ok");
  EXPECT_EQ(code(admission.read(browser, "team:2", token(R"({"channels":["team:1"],"exp":)" + in_an_hour() + "}"))),
            "forbidden");
}

TEST_F(AdmissionTest, AConnectionTokenIdentifiesAndCoversItsChannelsUntilItEnds) {
  NamespaceSettings identified;
  identified.identified = true;
  identified.presence = true;
  config.namespaces.by_namespace["room"] = identified;
  Admission admission(config, nullptr, nullptr, nullptr);
  const std::string exp = in_an_hour();
  // No token, a subscribe token, a non-JWT bearer: nobody.
  EXPECT_FALSE(std::get<Identity>(admission.identify(browser, "")));
  EXPECT_FALSE(std::get<Identity>(admission.identify(browser, token(R"({"channels":["x"],"exp":)" + exp + "}"))));
  EXPECT_FALSE(std::get<Identity>(admission.identify(browser, "a-publish-key")));
  // A JWT presented must be valid.
  EXPECT_EQ(code(admission.identify(browser, auth::sign_subscribe_token(R"({"sub":"a","exp":)" + exp + "}", "other"))),
            "bad_token");
  EXPECT_EQ(code(admission.identify(browser, token(R"({"sub":"a","exp":1})"))), "token_expired");
  EXPECT_EQ(code(admission.identify(browser, token(R"({"sub":"a","exp":)" + exp + R"(,"client":"192.0.2.9"})"))),
            "forbidden");

  Identity alice = std::get<Identity>(
      admission.identify(browser, token(R"({"sub":"alice","info":{"n":1},"channels":["team:a*"],"exp":)" + exp + "}")));
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->subject, "alice");
  EXPECT_EQ(alice->info, R"({"n":1})");
  // An identified namespace needs an identity; a private channel is covered by the connection token's
  // channels (relying on no other token), or by a subscribe token whose end it then answers.
  EXPECT_EQ(code(admission.read(browser, "room:1", "")), "identity_required");
  EXPECT_EQ(code(admission.read(browser, "room:1", "", alice)), "ok");
  EXPECT_EQ(std::get<ReadGrant>(admission.read(browser, "team:ab", "", alice)).token_expires_at, 0);
  EXPECT_EQ(code(admission.read(browser, "team:b", "", alice)), "forbidden");
  const std::string other = token(R"({"channels":["team:b"],"exp":)" + exp + "}");
  EXPECT_EQ(std::get<ReadGrant>(admission.read(browser, "team:b", other, alice)).token_expires_at, std::stoll(exp));
  // Presence in an identified namespace is the token's user, whatever was asserted.
  auto member = admission.member_for("room:1", alice, PresenceMember{"x", "Mallory"});
  ASSERT_TRUE(member);
  EXPECT_EQ(member->client, "alice");
  EXPECT_EQ(member->name, R"({"n":1})");
  EXPECT_EQ(admission.member_for("chat:1", alice, PresenceMember{"x", "Ann"})->name, "Ann");
}

TEST_F(AdmissionTest, WithoutAKeyOnlyTheOperatorsSettingLetsThisMachinePublish) {
  Admission admission(config, nullptr, nullptr, nullptr);
  EXPECT_EQ(code(admission.publish(machine, "news", "", "")), "forbidden");
  config.trust.loopback_publish = true;
  EXPECT_EQ(code(admission.publish(machine, "news", "", "")), "ok");
  EXPECT_EQ(code(admission.publish(browser, "news", "", "")), "forbidden");  // not this machine
}

TEST_F(AdmissionTest, KeysCoverTheirNamespacesAndOnlyNamedOnesCoverTheLogin) {
  config.publish_key = "global";
  config.publish_keys.push_back({.key = "chat-only", .namespaces = {"chat"}});
  config.publish_keys.push_back({.key = "anywhere", .namespaces = {"*"}});
  config.publish_keys.push_back({.key = "logins", .namespaces = {"_login"}});
  config.trust.loopback_publish = true;  // irrelevant once keys exist
  Admission admission(config, nullptr, nullptr, nullptr);
  auto with = [&](const char* key) {
    Client client = machine;
    client.bearer = key;
    return client;
  };
  EXPECT_EQ(code(admission.publish(machine, "news", "", "")), "unauthorized");
  EXPECT_EQ(code(admission.publish(with("global"), "news", "", "")), "ok");
  EXPECT_EQ(code(admission.publish(with("chat-only"), "news", "", "")), "forbidden");
  EXPECT_EQ(code(admission.publish(with("anywhere"), "news", "", "")), "ok");
  EXPECT_EQ(code(admission.publish(with("wrong"), "news", "", "")), "forbidden");
  EXPECT_EQ(code(admission.approve_logins(machine)), "unauthorized");  // never by address
  EXPECT_EQ(code(admission.approve_logins(with("anywhere"))), "forbidden");
  EXPECT_EQ(code(admission.approve_logins(with("logins"))), "ok");
  EXPECT_EQ(code(admission.approve_logins(with("global"))), "ok");
  EXPECT_EQ(code(admission.read_metrics(with("anywhere"))), "ok");
  EXPECT_EQ(code(admission.read_metrics(with("chat-only"))), "forbidden");
}

TEST_F(AdmissionTest, ClientsPublishWhereANamespaceSaysFromAcceptableOriginsWithinTheirRate) {
  RateLimiter client_rate(2, std::chrono::seconds(60));
  Admission admission(config, nullptr, &client_rate, nullptr);
  EXPECT_EQ(code(admission.publish(browser, "news", "", "")), "forbidden");  // not a client namespace
  Client foreign = browser;
  foreign.origin_ok = false;
  EXPECT_EQ(code(admission.publish(foreign, "chat:1", "", "")), "forbidden");
  EXPECT_EQ(code(admission.publish(browser, "chat:1", "join", "")), "bad_event");  // presence's own
  EXPECT_EQ(code(admission.publish(browser, "chat:1", "", "")), "ok");
  EXPECT_EQ(code(admission.publish(browser, "chat:1", "", "")), "ok");
  EXPECT_EQ(code(admission.publish(browser, "chat:1", "", "")), "rate_limited");
}

TEST_F(AdmissionTest, InAPrivateNamespaceOnlyAPublishClaimGrantsPublishing) {
  Admission admission(config, nullptr, nullptr, nullptr);
  auto listening = token(R"({"channels":["team:1"],"exp":)" + in_an_hour() + "}");
  auto writing = token(R"({"channels":[],"publish":["team:*"],"exp":)" + in_an_hour() + "}");
  EXPECT_EQ(code(admission.publish(browser, "team:1", "", "")), "token_required");
  EXPECT_EQ(code(admission.publish(browser, "team:1", "", listening)), "forbidden");
  EXPECT_EQ(code(admission.publish(browser, "team:1", "", writing)), "ok");
  EXPECT_EQ(code(admission.read(browser, "team:1", writing)), "forbidden");  // and publishing never grants reading
}

TEST_F(AdmissionTest, MembersAreCheckedAndBudgeted) {
  MemoryBroker broker{config.namespaces};
  MemoryPresence store;
  RateLimiter joins(100, std::chrono::seconds(1));
  Presence presence{
      store, broker, {.members_per_address = 1, .join_rate = &joins}, [](const std::string&) { return false; }};
  Admission admission(config, nullptr, &joins, &presence);
  EXPECT_EQ(code(admission.touch_member(browser, "news", {"a", "A"})), "presence_off");
  EXPECT_EQ(code(admission.touch_member(browser, "chat:1", {"a b", "A"})), "bad_presence");
  EXPECT_EQ(code(admission.touch_member(browser, "chat:1", {"a", "A"})), "ok");
  EXPECT_EQ(code(admission.touch_member(browser, "chat:1", {"b", "B"})), "too_many_members");
  auto held = admission.hold_member(browser, "chat:2", {"c", "C"});
  ASSERT_TRUE(std::holds_alternative<Error>(held));
  EXPECT_EQ(std::get<Error>(held).code, "too_many_members");
}

}  // namespace
}  // namespace herald
