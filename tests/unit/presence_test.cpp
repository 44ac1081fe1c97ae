// A node's presence bookkeeping (presence/presence.hpp) over the memory broker: the join and leave
// events it publishes are read back from the channel's history, as a subscriber would hear them.
#include "presence/presence.hpp"

#include <gtest/gtest.h>

#include "broker/memory_broker.hpp"
#include "broker/memory_presence.hpp"

namespace herald {
namespace {

using namespace std::chrono_literals;

struct PresenceTest : ::testing::Test {
  // A streaming connection's hold on `member`, from one address.
  std::shared_ptr<void> hold(const PresenceMember& member, const std::string& address = "192.0.2.1") {
    auto held = presence.hold("room", member, address);
    EXPECT_TRUE(std::holds_alternative<std::shared_ptr<void>>(held));
    return std::get<std::shared_ptr<void>>(std::move(held));
  }

  // The join/leave events published so far, as "join:ann".
  std::vector<std::string> events() {
    std::vector<std::string> out;
    broker.read("room", {.last = 100}, 100, [&](std::variant<ReadResult, Error> result) {
      for (const auto& message : std::get<ReadResult>(result).messages) {
        auto data = message->data();
        auto at = data.find(R"("client":")") + 10;
        out.push_back(std::string(message->event()) + ":" + std::string(data.substr(at, data.find('"', at) - at)));
      }
    });
    return out;
  }

  MemoryBroker broker{NamespacePolicy{}};
  MemoryPresence store;
  Presence presence{store, broker, {.lease = 15s, .linger = 2s}, [](const std::string&) { return false; }};
  Presence::Clock::time_point now = Presence::Clock::now();
};

TEST_F(PresenceTest, AConnectionJoinsAndLeavesAfterTheLinger) {
  auto held = hold({"ann", "Ann"});
  EXPECT_EQ(events(), std::vector<std::string>{"join:ann"});
  held.reset();
  presence.tick(Presence::Clock::now());  // still lingering
  EXPECT_EQ(events().size(), 1U);
  presence.tick(Presence::Clock::now() + 3s);
  EXPECT_EQ(events(), (std::vector<std::string>{"join:ann", "leave:ann"}));
}

TEST_F(PresenceTest, TwoConnectionsOfOneMemberAreOneJoinAndOneLeave) {
  auto tab = hold({"ann", "Ann"});
  auto other = hold({"ann", "Ann"});
  tab.reset();
  presence.tick(Presence::Clock::now() + 3s);  // the other tab still holds her
  EXPECT_EQ(events(), std::vector<std::string>{"join:ann"});
  other.reset();
  presence.tick(Presence::Clock::now() + 3s);
  EXPECT_EQ(events(), (std::vector<std::string>{"join:ann", "leave:ann"}));
}

TEST_F(PresenceTest, AReconnectWithinTheLingerIsNoLeave) {
  auto first = hold({"ann", "Ann"});
  first.reset();
  auto second = hold({"ann", "Ann"});
  presence.tick(Presence::Clock::now() + 3s);
  EXPECT_EQ(events(), std::vector<std::string>{"join:ann"});
}

TEST_F(PresenceTest, AnIntervalPollerStaysForItsLease) {
  EXPECT_FALSE(presence.touch("room", {"bob", "Bob"}, "192.0.2.1"));
  EXPECT_FALSE(presence.touch("room", {"bob", "Bob"}, "192.0.2.1"));
  presence.tick(Presence::Clock::now() + 10s);
  EXPECT_EQ(events(), std::vector<std::string>{"join:bob"});
  presence.tick(Presence::Clock::now() + 16s);
  EXPECT_EQ(events(), (std::vector<std::string>{"join:bob", "leave:bob"}));
}

// A long poller's first request does not wait (an interval poll: a lease), the next ones are held. When
// the held one ends, the member lingers and leaves: the earlier lease does not keep it for 15 s.
TEST_F(PresenceTest, AConnectionAfterAPollLeavesAfterTheLingerNotTheLease) {
  EXPECT_FALSE(presence.touch("room", {"lp", "Lee"}, "192.0.2.1"));
  auto held = hold({"lp", "Lee"});
  held.reset();
  presence.tick(Presence::Clock::now() + 3s);
  EXPECT_EQ(events(), (std::vector<std::string>{"join:lp", "leave:lp"}));
}

// A flood of made-up client ids from one address would publish a join (and later a leave) each: members
// per address are capped, and each new member draws on the address's publish budget.
TEST_F(PresenceTest, OneAddressHoldsAtMostItsMembers) {
  Presence capped{store, broker, {.members_per_address = 2}, [](const std::string&) { return false; }};
  auto a = capped.hold("room", {"a", "A"}, "192.0.2.1");
  auto b = capped.hold("room", {"b", "B"}, "192.0.2.1");
  auto c = capped.hold("room", {"c", "C"}, "192.0.2.1");
  ASSERT_TRUE(std::holds_alternative<Error>(c));
  EXPECT_EQ(std::get<Error>(c).code, "too_many_members");
  EXPECT_TRUE(std::holds_alternative<std::shared_ptr<void>>(capped.hold("room", {"a", "A"}, "192.0.2.1")));  // known
  EXPECT_TRUE(std::holds_alternative<std::shared_ptr<void>>(capped.hold("room", {"c", "C"}, "192.0.2.2")));
  EXPECT_EQ(capped.touch("room", {"d", "D"}, "192.0.2.1")->code, "too_many_members");
  a = {};  // the member leaves after the linger: its place is free again
  capped.tick(Presence::Clock::now() + 10s);
  EXPECT_TRUE(std::holds_alternative<std::shared_ptr<void>>(capped.hold("room", {"e", "E"}, "192.0.2.1")));
}

TEST_F(PresenceTest, NewMembersDrawOnThePublishBudget) {
  RateLimiter rate(2, std::chrono::seconds(1));
  Presence limited{
      store, broker, {.members_per_address = 0, .join_rate = &rate}, [](const std::string&) { return false; }};
  EXPECT_FALSE(limited.touch("room", {"a", "A"}, "192.0.2.1"));
  EXPECT_FALSE(limited.touch("room", {"a", "A"}, "192.0.2.1"));  // not new: free
  EXPECT_FALSE(limited.touch("room", {"b", "B"}, "192.0.2.1"));
  EXPECT_EQ(limited.touch("room", {"c", "C"}, "192.0.2.1")->code, "rate_limited");
  EXPECT_FALSE(limited.touch("room", {"c", "C"}, "192.0.2.9"));  // another address has its own budget
}

TEST(PresenceMember, IdsAndNamesAreChecked) {
  EXPECT_FALSE(check_presence_member({"a-Z_9", "Ann"}, 64));
  EXPECT_FALSE(check_presence_member({"a", "Zoë 🙂"}, 64));
  EXPECT_TRUE(check_presence_member({"", "Ann"}, 64));
  EXPECT_TRUE(check_presence_member({"a b", "Ann"}, 64));
  EXPECT_TRUE(check_presence_member({std::string(65, 'a'), "Ann"}, 64));
  EXPECT_TRUE(check_presence_member({"a", ""}, 64));
  EXPECT_TRUE(check_presence_member({"a", "tab\there"}, 64));
  EXPECT_TRUE(check_presence_member({"a", "\xff\xfe"}, 64));
  EXPECT_TRUE(check_presence_member({"a", std::string(65, 'n')}, 64));
}

}  // namespace
}  // namespace herald
