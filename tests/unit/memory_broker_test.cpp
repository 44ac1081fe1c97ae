// The broker contract (broker/broker.hpp), checked against the memory broker. The Redis broker will run
// the same suite.
#include "broker/memory_broker.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace herald {
namespace {

struct MemoryBrokerTest : ::testing::Test {
  MemoryBrokerTest() {
    policy.defaults.history.max_messages = 100;
    NamespaceSettings small;
    small.history.max_messages = 3;
    policy.by_namespace["small"] = small;
    broker = std::make_unique<MemoryBroker>(policy);
    broker->set_sink([this](const MessagePtr& m) { sunk.push_back(m); });
  }

  MessagePtr publish(const std::string& channel, const std::string& data) {
    MessagePtr out;
    broker->publish(PublishRequest{channel, "", data, false}, [&](auto result) { out = std::get<MessagePtr>(result); });
    return out;
  }
  ReadResult read(const std::string& channel, ReadFrom from, std::size_t limit = 100) {
    ReadResult out;
    broker->read(channel, from, limit, [&](auto result) { out = std::get<ReadResult>(result); });
    return out;
  }

  NamespacePolicy policy;
  std::unique_ptr<MemoryBroker> broker;
  std::vector<MessagePtr> sunk;
};

TEST_F(MemoryBrokerTest, PublishAppendsAndTellsTheSinkInOrder) {
  auto a = publish("ch", "a");
  auto b = publish("ch", "b");
  ASSERT_EQ(sunk.size(), 2U);
  EXPECT_EQ(sunk[0], a);
  EXPECT_EQ(sunk[1], b);
  EXPECT_EQ(b->cursor().seq, a->cursor().seq + 1);
  EXPECT_EQ(read("ch", {.since = a->cursor()}).messages.at(0), b);
}

TEST_F(MemoryBrokerTest, ACursorFromNowResumesWithoutAGap) {
  Cursor start = read("fresh", {}).cursor;
  auto m = publish("fresh", "x");
  auto result = read("fresh", {.since = start});
  EXPECT_FALSE(result.gap);
  ASSERT_EQ(result.messages.size(), 1U);
  EXPECT_EQ(result.messages[0], m);
}

TEST_F(MemoryBrokerTest, NamespacesBoundHistory) {
  auto first = publish("small:x", "0");
  for (int i = 1; i < 10; ++i) publish("small:x", std::to_string(i));
  auto result = read("small:x", {.since = first->cursor()});
  EXPECT_TRUE(result.gap);
  EXPECT_EQ(result.messages.size(), 3U);
  EXPECT_EQ(broker->info("small:x").kept, 3U);
}

TEST_F(MemoryBrokerTest, ChannelsHaveTheirOwnHistories) {
  auto a = publish("one", "a");
  auto b = publish("two", "b");
  EXPECT_NE(a->cursor().history, b->cursor().history);
  EXPECT_TRUE(read("two", {.since = a->cursor()}).gap);
}

TEST_F(MemoryBrokerTest, InfoOfAnUnknownChannelIsEmpty) {
  auto info = broker->info("nobody");
  EXPECT_FALSE(info.last_id);
  EXPECT_EQ(info.kept, 0U);
}

TEST_F(MemoryBrokerTest, SweepKeepsChannelsWithHistoryOrListeners) {
  publish("kept", "x");
  read("listened", {});
  broker->sweep([](const std::string& channel) { return channel == "listened"; });
  EXPECT_TRUE(broker->info("kept").last_id);
}

TEST_F(MemoryBrokerTest, ConcurrentPublishersGetDistinctIncreasingCursors) {
  broker->set_sink({});
  constexpr int per_thread = 2000;
  std::vector<std::vector<std::uint64_t>> seen(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        broker->publish(PublishRequest{"busy", "", "x", false},
                        [&](auto result) { seen[t].push_back(std::get<MessagePtr>(result)->cursor().seq); });
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::vector<std::uint64_t> all;
  for (auto& s : seen) {
    EXPECT_TRUE(std::is_sorted(s.begin(), s.end()));
    all.insert(all.end(), s.begin(), s.end());
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());
  EXPECT_EQ(all.back(), 4U * per_thread);
}

}  // namespace
}  // namespace herald
