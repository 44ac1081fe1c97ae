// A node's presence bookkeeping (presence/presence.hpp) over the memory broker: the join and leave
// events it publishes are read back from the channel's history, as a subscriber would hear them.
#include "presence/presence.hpp"

#include <gtest/gtest.h>

#include "broker/memory_broker.hpp"

namespace herald {
namespace {

using namespace std::chrono_literals;

struct PresenceTest : ::testing::Test {
  PresenceTest() {
    broker.read("room", {}, 10, [](auto) {});
  }  // the channel exists before any event

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
  Presence presence{broker, {.lease = 15s, .linger = 2s}, [](const std::string&) { return false; }};
  Presence::Clock::time_point now = Presence::Clock::now();
};

TEST_F(PresenceTest, AConnectionJoinsAndLeavesAfterTheLinger) {
  auto hold = presence.hold("room", {"ann", "Ann"});
  EXPECT_EQ(events(), std::vector<std::string>{"join:ann"});
  hold.reset();
  presence.tick(Presence::Clock::now());  // still lingering
  EXPECT_EQ(events().size(), 1U);
  presence.tick(Presence::Clock::now() + 3s);
  EXPECT_EQ(events(), (std::vector<std::string>{"join:ann", "leave:ann"}));
}

TEST_F(PresenceTest, TwoConnectionsOfOneMemberAreOneJoinAndOneLeave) {
  auto tab = presence.hold("room", {"ann", "Ann"});
  auto other = presence.hold("room", {"ann", "Ann"});
  tab.reset();
  presence.tick(Presence::Clock::now() + 3s);  // the other tab still holds her
  EXPECT_EQ(events(), std::vector<std::string>{"join:ann"});
  other.reset();
  presence.tick(Presence::Clock::now() + 3s);
  EXPECT_EQ(events(), (std::vector<std::string>{"join:ann", "leave:ann"}));
}

TEST_F(PresenceTest, AReconnectWithinTheLingerIsNoLeave) {
  auto first = presence.hold("room", {"ann", "Ann"});
  first.reset();
  auto second = presence.hold("room", {"ann", "Ann"});
  presence.tick(Presence::Clock::now() + 3s);
  EXPECT_EQ(events(), std::vector<std::string>{"join:ann"});
}

TEST_F(PresenceTest, AnIntervalPollerStaysForItsLease) {
  presence.touch("room", {"bob", "Bob"});
  presence.touch("room", {"bob", "Bob"});
  presence.tick(Presence::Clock::now() + 10s);
  EXPECT_EQ(events(), std::vector<std::string>{"join:bob"});
  presence.tick(Presence::Clock::now() + 16s);
  EXPECT_EQ(events(), (std::vector<std::string>{"join:bob", "leave:bob"}));
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
