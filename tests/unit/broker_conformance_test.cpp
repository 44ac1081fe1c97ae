// The broker contract (broker/broker.hpp), run against every broker: the memory broker, the Redis broker
// on a throwaway redis-server, and the Redis broker on a throwaway Redis Cluster (3 primaries, 3 replicas). Calls are
// made from the test thread (no event loop), so callbacks may arrive on the broker's own thread: every helper waits for
// its answer.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <thread>

#include "broker/memory_broker.hpp"
#include "redis_stores.hpp"

namespace herald {
namespace {

using namespace std::chrono_literals;

constexpr auto patience = 10s;

// make() is a test's node on a store of its own; peer() another node on the same store (none for the
// memory broker: one node is all there is).
struct MemoryKind {
  static constexpr bool redis = false;
  static std::unique_ptr<Broker> make(const NamespacePolicy& policy) { return std::make_unique<MemoryBroker>(policy); }
  static std::unique_ptr<Broker> peer(const NamespacePolicy&) { return nullptr; }
};

struct RedisKind {
  static constexpr bool redis = true;
  static std::unique_ptr<Broker> make(const NamespacePolicy& policy) {
    return test::connected_redis_broker(test::OneRedis::next(), policy);
  }
  static std::unique_ptr<Broker> peer(const NamespacePolicy& policy) {
    return test::connected_redis_broker(test::OneRedis::options(), policy);
  }
};

struct RedisClusterKind {
  static constexpr bool redis = true;
  static std::unique_ptr<Broker> make(const NamespacePolicy& policy) {
    return test::connected_redis_broker(test::ClusterRedis::next(), policy);
  }
  static std::unique_ptr<Broker> peer(const NamespacePolicy& policy) {
    return test::connected_redis_broker(test::ClusterRedis::peer(), policy);
  }
};

template <typename Kind>
struct BrokerConformance : ::testing::Test {
  void SetUp() override {
    if constexpr (Kind::redis) {
      if (!test::RedisServer::available())
        GTEST_FAIL() << "redis-server is not installed: scripts/install-deps test installs it";
    }
    policy.defaults.history.max_messages = 100;
    NamespaceSettings small;
    small.history.max_messages = 3;
    policy.by_namespace["small"] = small;
    NamespaceSettings brief;
    brief.history.max_age = 300ms;
    policy.by_namespace["brief"] = brief;
    broker = Kind::make(policy);
    broker->set_sink([this](const MessagePtr& m) {
      std::lock_guard lock(mutex);
      sunk.push_back(m);
      changed.notify_all();
    });
  }

  MessagePtr publish(const std::string& channel, const std::string& data) {
    std::promise<std::variant<MessagePtr, Replayed, Error>> answer;
    broker->publish(PublishRequest{.channel = channel, .data = data},
                    [&](auto result) { answer.set_value(std::move(result)); });
    auto result = answer.get_future().get();
    if (auto* error = std::get_if<Error>(&result)) ADD_FAILURE() << error->code << ": " << error->message;
    return std::get<MessagePtr>(result);
  }
  // A publish with an idempotency key (point 10): the message, or the first publish's cursor.
  std::variant<MessagePtr, Replayed> publish_once(const std::string& channel, const std::string& data,
                                                  const std::string& key,
                                                  std::chrono::milliseconds window = std::chrono::seconds(60)) {
    std::promise<std::variant<MessagePtr, Replayed, Error>> answer;
    broker->publish(
        PublishRequest{.channel = channel, .data = data, .idempotency_key = key, .idempotency_window = window},
        [&](auto result) { answer.set_value(std::move(result)); });
    auto result = answer.get_future().get();
    if (auto* error = std::get_if<Error>(&result)) {
      ADD_FAILURE() << error->code << ": " << error->message;
      return Replayed{};
    }
    if (auto* replayed = std::get_if<Replayed>(&result)) return *replayed;
    return std::get<MessagePtr>(result);
  }
  ReadResult read(const std::string& channel, ReadFrom from, std::size_t limit = 100) {
    std::promise<std::variant<ReadResult, Error>> answer;
    broker->read(channel, from, limit, [&](auto result) { answer.set_value(std::move(result)); });
    auto result = answer.get_future().get();
    if (auto* error = std::get_if<Error>(&result)) ADD_FAILURE() << error->code << ": " << error->message;
    return std::get<ReadResult>(result);
  }
  ChannelInfo info(const std::string& channel) {
    std::promise<std::variant<ChannelInfo, Error>> answer;
    broker->info(channel, [&](auto result) { answer.set_value(std::move(result)); });
    return std::get<ChannelInfo>(answer.get_future().get());
  }
  // The sink's messages once there are `count` of them (or what came within the patience).
  std::vector<MessagePtr> sunk_after(std::size_t count) {
    std::unique_lock lock(mutex);
    changed.wait_for(lock, patience, [&] { return sunk.size() >= count; });
    return sunk;
  }

  NamespacePolicy policy;
  std::unique_ptr<Broker> broker;
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<MessagePtr> sunk;
};

using Brokers = ::testing::Types<MemoryKind, RedisKind, RedisClusterKind>;
struct BrokerNames {
  template <typename T>
  static std::string GetName(int) {
    if constexpr (std::is_same_v<T, RedisClusterKind>) return "RedisCluster";
    return T::redis ? "Redis" : "Memory";
  }
};
TYPED_TEST_SUITE(BrokerConformance, Brokers, BrokerNames);

void expect_same(const MessagePtr& a, const MessagePtr& b) {
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->cursor(), b->cursor());
  EXPECT_EQ(a->data(), b->data());
  EXPECT_EQ(a->channel(), b->channel());
}

TYPED_TEST(BrokerConformance, PublishAppendsAndTellsTheSinkInOrder) {
  this->read("ch", {});  // a reader joins: the sink hears the channel from now on (point 7)
  auto a = this->publish("ch", "a");
  auto b = this->publish("ch", "b");
  auto sunk = this->sunk_after(2);
  ASSERT_EQ(sunk.size(), 2U);
  expect_same(sunk[0], a);
  expect_same(sunk[1], b);
  EXPECT_EQ(b->cursor().seq, a->cursor().seq + 1);
  auto after = this->read("ch", {.since = a->cursor()});
  ASSERT_EQ(after.messages.size(), 1U);
  expect_same(after.messages[0], b);
  EXPECT_EQ(after.newest, b->cursor());
}

TYPED_TEST(BrokerConformance, EventsAndJsonSurviveTheRoundTrip) {
  this->read("shape", {});
  std::promise<MessagePtr> answer;
  this->broker->publish(
      PublishRequest{.channel = "shape", .event = "greet", .data = R"({"a":"x\ny"})", .is_json = true},
      [&](auto result) { answer.set_value(std::get<MessagePtr>(result)); });
  auto published = answer.get_future().get();
  auto read = this->read("shape", {.last = 1});
  ASSERT_EQ(read.messages.size(), 1U);
  for (const auto& m : {read.messages[0], this->sunk_after(1).at(0)}) {
    EXPECT_EQ(m->event(), "greet");
    EXPECT_EQ(m->data(), R"({"a":"x\ny"})");
    EXPECT_TRUE(m->is_json());
    EXPECT_EQ(m->envelope(), published->envelope());
  }
}

TYPED_TEST(BrokerConformance, ACursorFromNowResumesWithoutAGap) {
  Cursor start = this->read("fresh", {}).cursor;
  auto m = this->publish("fresh", "x");
  auto result = this->read("fresh", {.since = start});
  EXPECT_FALSE(result.gap);
  ASSERT_EQ(result.messages.size(), 1U);
  expect_same(result.messages[0], m);
}

// Point 4: reading a channel that has no history creates nothing; the empty cursor it answers resumes
// without a gap while it is younger than the history age and nothing was trimmed.
TYPED_TEST(BrokerConformance, ReadingAnUnknownChannelCreatesNothing) {
  Cursor first = this->read("ghost", {}).cursor;
  EXPECT_TRUE(is_empty_cursor(first));
  auto again = this->read("ghost", {.since = first});
  EXPECT_FALSE(again.gap);
  EXPECT_TRUE(is_empty_cursor(again.cursor));  // still nothing made by the first read
  EXPECT_TRUE(this->read("ghost", {.last = 10}).messages.empty());
  EXPECT_FALSE(this->info("ghost").last_id);
}

TYPED_TEST(BrokerConformance, AnEmptyCursorVouchesOnlyWhileYoungAndUntrimmed) {
  Cursor young = this->read("small:empty", {}).cursor;
  for (int i = 0; i < 5; ++i) this->publish("small:empty", std::to_string(i));
  auto trimmed = this->read("small:empty", {.since = young});
  EXPECT_TRUE(trimmed.gap);  // two of the five are gone from a history of three
  ASSERT_EQ(trimmed.messages.size(), 3U);

  Cursor old = this->read("brief:empty", {}).cursor;
  std::this_thread::sleep_for(400ms);  // past the namespace's 300 ms age: it no longer vouches
  this->publish("brief:empty", "x");
  auto late = this->read("brief:empty", {.since = old});
  EXPECT_TRUE(late.gap);
  EXPECT_EQ(late.messages.size(), 1U);
  EXPECT_TRUE(this->read("brief:never", {.since = old}).gap);  // a stale empty cursor on a channel still empty
}

TYPED_TEST(BrokerConformance, LastGivesTheNewestAndPagesSayMore) {
  Cursor start = this->read("paged", {}).cursor;
  std::vector<MessagePtr> published;
  for (int i = 0; i < 5; ++i) published.push_back(this->publish("paged", std::to_string(i)));
  auto last = this->read("paged", {.last = 2});
  ASSERT_EQ(last.messages.size(), 2U);
  expect_same(last.messages[0], published[3]);
  EXPECT_FALSE(last.gap);
  auto page = this->read("paged", {.since = start}, 2);
  EXPECT_TRUE(page.more);
  ASSERT_EQ(page.messages.size(), 2U);
  EXPECT_EQ(page.cursor, published[1]->cursor());
  auto rest = this->read("paged", {.since = page.cursor}, 10);
  EXPECT_FALSE(rest.more);
  ASSERT_EQ(rest.messages.size(), 3U);
  expect_same(rest.messages[2], published[4]);
  EXPECT_EQ(rest.cursor, published[4]->cursor());
}

TYPED_TEST(BrokerConformance, NamespacesBoundHistoryByCount) {
  auto first = this->publish("small:x", "0");
  for (int i = 1; i < 10; ++i) this->publish("small:x", std::to_string(i));
  auto result = this->read("small:x", {.since = first->cursor()});
  EXPECT_TRUE(result.gap);
  ASSERT_EQ(result.messages.size(), 3U);
  EXPECT_EQ(result.messages[0]->data(), "7");
  EXPECT_EQ(result.gap_cursor.seq, 7U);
  EXPECT_EQ(this->info("small:x").kept, 3U);
}

TYPED_TEST(BrokerConformance, NamespacesBoundHistoryByAge) {
  auto old = this->publish("brief:x", "old");
  std::this_thread::sleep_for(400ms);  // past the namespace's 300 ms age
  auto result = this->read("brief:x", {.since = old->cursor()});
  EXPECT_TRUE(result.messages.empty());
  EXPECT_FALSE(result.gap);  // aged out, but the history is the same: nothing after the cursor was lost
  EXPECT_EQ(this->info("brief:x").kept, 0U);
}

TYPED_TEST(BrokerConformance, AForeignCursorIsAGapNeverAHole) {
  auto a = this->publish("one", "a");
  auto b = this->publish("two", "b");
  EXPECT_NE(a->cursor().history, b->cursor().history);
  auto result = this->read("two", {.since = a->cursor()});
  EXPECT_TRUE(result.gap);
  ASSERT_EQ(result.messages.size(), 1U);
  expect_same(result.messages[0], b);
  EXPECT_EQ(result.gap_cursor, (Cursor{b->cursor().history, 0}));
}

TYPED_TEST(BrokerConformance, InfoOfAnUnknownChannelIsEmpty) {
  auto info = this->info("nobody");
  EXPECT_FALSE(info.last_id);
  EXPECT_EQ(info.kept, 0U);
}

TYPED_TEST(BrokerConformance, InfoTellsTheLastIdAndWhatIsKept) {
  this->publish("counted", "a");
  auto b = this->publish("counted", "b");
  auto info = this->info("counted");
  EXPECT_EQ(info.last_id, b->cursor());
  EXPECT_EQ(info.kept, 2U);
}

// The sweep forgets a channel only when its history has aged out, it has been idle as long, and nobody on
// this node listens; a forgotten channel's old cursor then reads as a gap (the truth: its history is gone).
TYPED_TEST(BrokerConformance, SweepKeepsChannelsWithHistoryOrListeners) {
  this->publish("kept", "x");
  auto listened = this->publish("brief:listened", "x");
  auto idle = this->publish("brief:idle", "x");
  std::this_thread::sleep_for(400ms);  // past the namespace's 300 ms age: both histories are empty now
  this->broker->sweep([](const std::string& channel) { return channel == "brief:listened"; });
  EXPECT_EQ(this->read("kept", {.last = 10}).messages.size(), 1U);
  EXPECT_FALSE(this->read("brief:listened", {.since = listened->cursor()}).gap) << "a listened channel was forgotten";
  if constexpr (!TypeParam::redis) {
    // Redis forgets idle channels itself (their keys expire on its clock); the memory broker's sweep does.
    EXPECT_TRUE(this->read("brief:idle", {.since = idle->cursor()}).gap) << "an idle, unlistened channel was kept";
  }
}

TYPED_TEST(BrokerConformance, ConcurrentPublishersGetDistinctIncreasingCursors) {
  constexpr int threads_count = 4;
  const int per_thread = TypeParam::redis ? 300 : 2000;
  std::vector<std::vector<std::uint64_t>> seen(threads_count);
  std::vector<std::thread> threads;
  for (int t = 0; t < threads_count; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) seen[t].push_back(this->publish("busy", "x")->cursor().seq);
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
  EXPECT_EQ(all.back(), static_cast<std::uint64_t>(threads_count * per_thread));
}

}  // namespace
}  // namespace herald

namespace herald {
namespace {

// Point 10: idempotent publish.
TYPED_TEST(BrokerConformance, ARepeatedKeyAnswersTheFirstIdAndPublishesNothing) {
  this->read("once", {});  // a reader joins: the sink hears the channel
  auto first = this->publish_once("once", "a", "order-1");
  ASSERT_TRUE(std::holds_alternative<MessagePtr>(first));
  const Cursor id = std::get<MessagePtr>(first)->cursor();
  for (int i = 0; i < 3; ++i) {
    auto again = this->publish_once("once", "b", "order-1");
    ASSERT_TRUE(std::holds_alternative<Replayed>(again)) << "repeat " << i << " published";
    EXPECT_EQ(std::get<Replayed>(again).id, id);
  }
  auto plain = this->publish("once", "c");  // unkeyed: always published
  EXPECT_EQ(plain->cursor().seq, id.seq + 1);
  auto kept = this->read("once", {.last = 10});
  ASSERT_EQ(kept.messages.size(), 2U);
  EXPECT_EQ(kept.messages[0]->data(), "a");
  auto sunk = this->sunk_after(2);
  ASSERT_EQ(sunk.size(), 2U);  // the repeats reached nobody
  EXPECT_EQ(sunk[0]->cursor(), id);
  EXPECT_EQ(sunk[1]->cursor(), plain->cursor());
}

TYPED_TEST(BrokerConformance, DifferentKeysAndChannelsPublishAnew) {
  auto a = this->publish_once("keys", "a", "k1");
  auto b = this->publish_once("keys", "b", "k2");
  auto other = this->publish_once("keys-elsewhere", "c", "k1");  // keys are per channel
  ASSERT_TRUE(std::holds_alternative<MessagePtr>(a));
  ASSERT_TRUE(std::holds_alternative<MessagePtr>(b));
  ASSERT_TRUE(std::holds_alternative<MessagePtr>(other));
  EXPECT_EQ(std::get<MessagePtr>(b)->cursor().seq, std::get<MessagePtr>(a)->cursor().seq + 1);
  EXPECT_EQ(this->info("keys").kept, 2U);
  EXPECT_EQ(this->info("keys-elsewhere").kept, 1U);
}

TYPED_TEST(BrokerConformance, AfterItsWindowAKeyPublishesAgain) {
  constexpr auto window = 500ms;
  const auto start = std::chrono::steady_clock::now();
  auto first = this->publish_once("lapsing", "a", "k", window);
  ASSERT_TRUE(std::holds_alternative<MessagePtr>(first));
  const Cursor id = std::get<MessagePtr>(first)->cursor();
  // Repeats are replays until the window (the store's clock) runs out, then the key publishes again.
  std::variant<MessagePtr, Replayed> again = Replayed{id};
  int replays = 0;
  while (std::holds_alternative<Replayed>(again) && std::chrono::steady_clock::now() - start < patience) {
    ASSERT_EQ(std::get<Replayed>(again).id, id);
    std::this_thread::sleep_for(20ms);  // the window is the store's clock: poll it
    again = this->publish_once("lapsing", "b", "k", window);
    ++replays;
  }
  ASSERT_TRUE(std::holds_alternative<MessagePtr>(again));
  EXPECT_GE(std::chrono::steady_clock::now() - start, window);
  EXPECT_GT(replays, 1);
  EXPECT_EQ(std::get<MessagePtr>(again)->cursor().seq, id.seq + 1);
  EXPECT_EQ(this->info("lapsing").kept, 2U);
}

TYPED_TEST(BrokerConformance, ConcurrentRepeatsOfAKeyAppendExactlyOnce) {
  constexpr int racers = 16;
  for (int round = 0; round < 5; ++round) {
    const std::string key = "race-" + std::to_string(round);
    std::vector<std::variant<MessagePtr, Replayed>> outcomes(racers);
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < racers; ++t) {
      threads.emplace_back([&, t] {
        ready.fetch_add(1);
        while (ready.load() < racers) std::this_thread::yield();  // all start together
        outcomes[t] = this->publish_once("racing", "x", key);
      });
    }
    for (auto& thread : threads) thread.join();
    auto published = std::count_if(outcomes.begin(), outcomes.end(),
                                   [](const auto& o) { return std::holds_alternative<MessagePtr>(o); });
    ASSERT_EQ(published, 1) << "round " << round;
    Cursor id;
    for (const auto& o : outcomes) {
      if (auto* m = std::get_if<MessagePtr>(&o)) id = (*m)->cursor();
    }
    for (const auto& o : outcomes) {
      if (auto* r = std::get_if<Replayed>(&o)) {
        EXPECT_EQ(r->id, id);
      }
    }
  }
  EXPECT_EQ(this->info("racing").kept, 5U);
}

// A key is remembered for its window even when the channel's history ages out first and the sweep runs.
TYPED_TEST(BrokerConformance, AKeyOutlivesTheHistoryItWasUsedOn) {
  auto first = this->publish_once("brief:keyed", "a", "k", 10s);
  ASSERT_TRUE(std::holds_alternative<MessagePtr>(first));
  std::this_thread::sleep_for(400ms);  // past the namespace's 300 ms age
  this->broker->sweep([](const std::string&) { return false; });
  auto again = this->publish_once("brief:keyed", "b", "k", 10s);
  ASSERT_TRUE(std::holds_alternative<Replayed>(again));
  EXPECT_EQ(std::get<Replayed>(again).id, std::get<MessagePtr>(first)->cursor());
}

// The memory broker's bound: past it the oldest keys are forgotten (docs/limits.md).
TEST(MemoryBrokerIdempotency, RemembersAtMostItsBoundPerChannel) {
  MemoryBroker broker(NamespacePolicy{}, 3);
  auto publish = [&](const std::string& channel, const std::string& key) {
    std::variant<MessagePtr, Replayed, Error> out = Error{};
    broker.publish(
        PublishRequest{
            .channel = channel, .data = "x", .idempotency_key = key, .idempotency_window = std::chrono::seconds(60)},
        [&](auto result) { out = std::move(result); });
    return out;
  };
  for (const char* key : {"k1", "k2", "k3", "k4"}) ASSERT_TRUE(std::holds_alternative<MessagePtr>(publish("c", key)));
  EXPECT_TRUE(std::holds_alternative<MessagePtr>(publish("c", "k1")));  // forgotten: the oldest of four
  EXPECT_TRUE(std::holds_alternative<Replayed>(publish("c", "k4")));
  EXPECT_TRUE(std::holds_alternative<Replayed>(publish("c", "k1")));
  EXPECT_TRUE(std::holds_alternative<MessagePtr>(publish("other", "k2")));  // per channel
}

}  // namespace
}  // namespace herald

namespace herald {
namespace {

// A key may hold anything visible, braces too: it must stay in its channel's slot on a cluster (the key's
// name takes the channel's hash tag first), or the publish script would touch two slots and be refused.
TYPED_TEST(BrokerConformance, AKeyWithBracesIsStillTheChannels) {
  for (const std::string key : {"{elsewhere}", "}{", "{a}{b}"}) {
    auto first = this->publish_once("braced", "a", key);
    ASSERT_TRUE(std::holds_alternative<MessagePtr>(first)) << key;
    auto again = this->publish_once("braced", "b", key);
    ASSERT_TRUE(std::holds_alternative<Replayed>(again)) << key;
    EXPECT_EQ(std::get<Replayed>(again).id, std::get<MessagePtr>(first)->cursor());
  }
  EXPECT_EQ(this->info("braced").kept, 3U);
}

// What a node's control sink heard, in order.
struct Heard {
  explicit Heard(Broker& broker) {
    broker.set_control_sink([this](const std::string& command) {
      std::lock_guard lock(mutex);
      commands.push_back(command);
      changed.notify_all();
    });
  }
  std::vector<std::string> after(std::size_t count) {
    std::unique_lock lock(mutex);
    changed.wait_for(lock, patience, [&] { return commands.size() >= count; });
    return commands;
  }
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> commands;
};

std::variant<std::size_t, Error> send_control(Broker& broker, const std::string& command) {
  std::promise<std::variant<std::size_t, Error>> answer;
  broker.control(command, [&](auto result) { answer.set_value(std::move(result)); });
  return answer.get_future().get();
}

// Point 11: a command reaches every node on the store once, the sender's included, and the answer counts
// them. On a cluster the nodes are seeded from different Redis nodes and still hear each other.
TYPED_TEST(BrokerConformance, ControlReachesEveryNodeOnceAndCountsThem) {
  std::vector<std::unique_ptr<Heard>> heard;  // outlives the peer, whose sink it is
  auto peer = TypeParam::peer(this->policy);
  std::vector<Broker*> nodes{this->broker.get()};
  if (peer) nodes.push_back(peer.get());
  for (auto* node : nodes) heard.push_back(std::make_unique<Heard>(*node));
  // The sink is set on the broker's thread: a read after it (a round trip there) makes sure it is in place.
  this->read("sync", {});
  if (peer) {
    std::promise<std::variant<ReadResult, Error>> done;
    peer->read("sync", {}, 1, [&](auto result) { done.set_value(std::move(result)); });
    done.get_future().get();
  }
  std::vector<std::string> sent;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    sent.push_back(R"({"op":"test","from":)" + std::to_string(i) + "}");
    auto answer = send_control(*nodes[i], sent.back());
    ASSERT_TRUE(std::holds_alternative<std::size_t>(answer)) << std::get<Error>(answer).message;
    EXPECT_EQ(std::get<std::size_t>(answer), nodes.size()) << "the answer does not count every node";
  }
  for (auto& node : heard) EXPECT_EQ(node->after(sent.size()), sent);  // each once, in order, nothing else
  // The fixture's broker outlives `heard`: its sink goes first (on the broker's thread: a round trip there).
  this->broker->set_control_sink(nullptr);
  this->read("sync", {});
}

// Point 12: a user's connections are counted over every node together, per user, and a release frees a
// place. On a cluster each user's count lives in a slot of its own: these users spread over the primaries.
TYPED_TEST(BrokerConformance, ConnectionsPerUserAreCountedOverEveryNode) {
  auto peer = TypeParam::peer(this->policy);
  Broker& other = peer ? *peer : *this->broker;
  auto admit = [](Broker& node, const std::string& user, const std::string& connection,
                  std::chrono::milliseconds lease = 10s) {
    std::promise<std::variant<bool, Error>> answer;
    node.user_admit(user, connection, 2, lease, [&](auto result) { answer.set_value(std::move(result)); });
    auto result = answer.get_future().get();
    if (auto* error = std::get_if<Error>(&result)) ADD_FAILURE() << error->code << ": " << error->message;
    return std::holds_alternative<bool>(result) && std::get<bool>(result);
  };
  for (const std::string user : {"ann", "bob", "cy", "dee", "eve", "fay"}) {
    EXPECT_TRUE(admit(*this->broker, user, "a1")) << user;
    EXPECT_TRUE(admit(other, user, "b1")) << user;
    EXPECT_FALSE(admit(other, user, "b2")) << user << ": three connections where two is the limit";
    EXPECT_FALSE(admit(*this->broker, user, "a2")) << user;
    // A release, then an admit on the same node: the release went first (one connection per Redis node).
    this->broker->user_release(user, "a1");
    EXPECT_TRUE(admit(*this->broker, user, "a3")) << user << ": the release did not free a place";
    EXPECT_FALSE(admit(other, user, "b3")) << user;
  }
}

// The leases of point 12, on the brokers of several nodes (the memory broker is one node: its connections
// end only when released).
template <typename Kind>
struct BrokerLeases : BrokerConformance<Kind> {};
using NodeBrokers = ::testing::Types<RedisKind, RedisClusterKind>;
TYPED_TEST_SUITE(BrokerLeases, NodeBrokers, BrokerNames);

// Point 12: a connection's lease lasts while its node refreshes it, and ends when it stops (a node that
// died).
TYPED_TEST(BrokerLeases, AUsersConnectionLastsWhileRefreshed) {
  auto peer = TypeParam::peer(this->policy);
  constexpr auto lease = 1s;
  auto admit = [&](Broker& node, const std::string& connection) {
    std::promise<std::variant<bool, Error>> answer;
    node.user_admit("gil", connection, 1, lease, [&](auto result) { answer.set_value(std::move(result)); });
    auto result = answer.get_future().get();
    return std::holds_alternative<bool>(result) && std::get<bool>(result);
  };
  ASSERT_TRUE(admit(*this->broker, "held"));
  // Refreshed every tenth of the lease for three leases: the other node is refused all along.
  for (auto until = std::chrono::steady_clock::now() + 3 * lease; std::chrono::steady_clock::now() < until;) {
    this->broker->user_refresh({{"gil", "held"}}, lease);
    EXPECT_FALSE(admit(*peer, "other")) << "a refreshed connection's lease ended";
    std::this_thread::sleep_for(lease / 10);  // the refresh's own pace (UserConnections: a third of the lease)
  }
  // No more refreshes: the lease runs out on the store's clock and the place is free.
  bool admitted = false;
  for (auto until = std::chrono::steady_clock::now() + patience;
       !admitted && std::chrono::steady_clock::now() < until;) {
    admitted = admit(*peer, "other");
    if (!admitted) std::this_thread::sleep_for(50ms);  // the lease is the store's clock: poll it
  }
  EXPECT_TRUE(admitted) << "an unrefreshed lease never ended";
}

}  // namespace
}  // namespace herald

namespace herald {
namespace {

// Point 13: what a broker counts as published.
TYPED_TEST(BrokerConformance, PublishedCountsWhatWasAppendedAndNothingElse) {
  Broker& broker = *this->broker;
  const std::uint64_t before = broker.published();
  this->publish("counted", "a");
  ASSERT_TRUE(std::holds_alternative<MessagePtr>(this->publish_once("counted", "b", "key")));
  ASSERT_TRUE(std::holds_alternative<Replayed>(this->publish_once("counted", "c", "key")));  // a repeat
  std::promise<std::variant<MessagePtr, Replayed, Error>> own;
  broker.publish(PublishRequest{.channel = "counted", .data = "herald's own", .counted = false},
                 [&](auto result) { own.set_value(std::move(result)); });
  ASSERT_TRUE(std::holds_alternative<MessagePtr>(own.get_future().get()));  // appended, not counted
  EXPECT_EQ(this->info("counted").kept, 3U);
  EXPECT_EQ(broker.published() - before, 2U);
  broker.count_published(2);  // published past the broker (the Redis login store's scripts)
  EXPECT_EQ(broker.published() - before, 4U);
}

}  // namespace
}  // namespace herald
