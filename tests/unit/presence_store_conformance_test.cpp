// The presence store contract (broker/presence_store.hpp), run against every store: the memory store and
// the Redis broker's, on a throwaway redis-server and on a throwaway Redis Cluster. Calls are made from the test
// thread, so callbacks may arrive on the store's own thread: every helper waits for its answer.
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "broker/memory_presence.hpp"
#include "redis_stores.hpp"

namespace herald {
namespace {

using namespace std::chrono_literals;

constexpr auto patience = 10s;

struct MemoryKind {
  static constexpr bool redis = false;
  static std::unique_ptr<PresenceStore> make() { return std::make_unique<MemoryPresence>(); }
};

struct RedisKind {
  static constexpr bool redis = true;
  static std::unique_ptr<PresenceStore> make() { return test::connected_redis_broker(test::OneRedis::next(), {}); }
};

struct RedisClusterKind {
  static constexpr bool redis = true;
  static std::unique_ptr<PresenceStore> make() { return test::connected_redis_broker(test::ClusterRedis::next(), {}); }
};

template <typename Kind>
struct PresenceStoreConformance : ::testing::Test {
  void SetUp() override {
    if constexpr (Kind::redis) {
      if (!test::RedisServer::available())
        GTEST_FAIL() << "redis-server is not installed: scripts/install-deps test installs it";
    }
    store = Kind::make();
  }

  bool hold(const std::string& channel, const std::string& client, std::chrono::milliseconds lease = 10s) {
    std::promise<std::variant<bool, Error>> answer;
    store->presence_hold(channel, {client, "name of " + client}, lease,
                         [&](auto result) { answer.set_value(std::move(result)); });
    return std::get<bool>(answer.get_future().get());
  }
  bool drop(const std::string& channel, const std::string& client) {
    std::promise<std::variant<bool, Error>> answer;
    store->presence_drop(channel, client, [&](auto result) { answer.set_value(std::move(result)); });
    return std::get<bool>(answer.get_future().get());
  }
  PresenceList list(const std::string& channel, std::size_t limit = 100) {
    std::promise<std::variant<PresenceList, Error>> answer;
    store->presence_list(channel, limit, [&](auto result) { answer.set_value(std::move(result)); });
    return std::get<PresenceList>(answer.get_future().get());
  }
  std::vector<PresenceMember> reap(const std::string& channel) {
    std::promise<std::vector<PresenceMember>> answer;
    store->presence_reap(channel, [&](auto result) { answer.set_value(std::move(result)); });
    return answer.get_future().get();
  }

  std::unique_ptr<PresenceStore> store;
};

using Stores = ::testing::Types<MemoryKind, RedisKind, RedisClusterKind>;
struct StoreNames {
  template <typename T>
  static std::string GetName(int) {
    if constexpr (std::is_same_v<T, RedisClusterKind>) return "RedisCluster";
    return T::redis ? "Redis" : "Memory";
  }
};
TYPED_TEST_SUITE(PresenceStoreConformance, Stores, StoreNames);

TYPED_TEST(PresenceStoreConformance, JoinsOnceAndLeavesOnce) {
  EXPECT_TRUE(this->hold("room", "ann"));
  EXPECT_FALSE(this->hold("room", "ann"));  // a refresh, not a second join
  auto here = this->list("room");
  ASSERT_EQ(here.count, 1U);
  ASSERT_EQ(here.members.size(), 1U);
  EXPECT_EQ(here.members[0].client, "ann");
  EXPECT_EQ(here.members[0].name, "name of ann");
  EXPECT_TRUE(this->drop("room", "ann"));
  EXPECT_FALSE(this->drop("room", "ann"));
  EXPECT_EQ(this->list("room").count, 0U);
  EXPECT_TRUE(this->hold("room", "ann"));  // back again: a join again
}

TYPED_TEST(PresenceStoreConformance, ListCountsAllAndNamesUpToTheLimit) {
  for (const char* client : {"a", "b", "c", "d", "e"}) EXPECT_TRUE(this->hold("crowd", client));
  auto some = this->list("crowd", 2);
  EXPECT_EQ(some.count, 5U);
  EXPECT_EQ(some.members.size(), 2U);
  EXPECT_EQ(this->list("elsewhere").count, 0U);
}

TYPED_TEST(PresenceStoreConformance, ReapsAMemberWhoseLeaseRanOutOnce) {
  EXPECT_TRUE(this->hold("lapse", "gone", 150ms));
  EXPECT_TRUE(this->hold("lapse", "stays", 10s));
  std::vector<PresenceMember> reaped;
  for (auto until = std::chrono::steady_clock::now() + patience;
       reaped.empty() && std::chrono::steady_clock::now() < until;) {
    reaped = this->reap("lapse");
    if (reaped.empty()) std::this_thread::sleep_for(20ms);  // the lease is the store's clock: poll it
  }
  ASSERT_EQ(reaped.size(), 1U);
  EXPECT_EQ(reaped[0].client, "gone");
  EXPECT_EQ(reaped[0].name, "name of gone");
  EXPECT_TRUE(this->reap("lapse").empty());
  auto here = this->list("lapse");
  ASSERT_EQ(here.count, 1U);
  EXPECT_EQ(here.members[0].client, "stays");
}

}  // namespace
}  // namespace herald
