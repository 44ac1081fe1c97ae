// What only the Redis broker does: its URL, two nodes sharing one history, and Redis going away.
#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <thread>

#include "broker/redis_broker.hpp"
#include "redis_server.hpp"

namespace herald {
namespace {

using namespace std::chrono_literals;

constexpr auto patience = 10s;

TEST(RedisUrl, ReadsHostPortDatabaseAndCredentials) {
  auto plain = parse_redis_url("redis://127.0.0.1:6379/0");
  EXPECT_EQ(plain.host, "127.0.0.1");
  EXPECT_EQ(plain.port, 6379);
  EXPECT_EQ(plain.db, 0U);
  EXPECT_TRUE(plain.password.empty());
  auto full = parse_redis_url("redis://app:p%40ss@redis.internal:6380/2");
  EXPECT_EQ(full.username, "app");
  EXPECT_EQ(full.password, "p@ss");
  EXPECT_EQ(full.host, "redis.internal");
  EXPECT_EQ(full.port, 6380);
  EXPECT_EQ(full.db, 2U);
  auto password_only = parse_redis_url("redis://:secret@[::1]");
  EXPECT_EQ(password_only.username, "");
  EXPECT_EQ(password_only.password, "secret");
  EXPECT_EQ(password_only.host, "::1");
  EXPECT_EQ(password_only.port, 6379);
}

TEST(RedisUrl, RefusesWhatItCannotHonour) {
  EXPECT_THROW(parse_redis_url("rediss://host:6379"), std::runtime_error);  // TLS: not yet
  EXPECT_THROW(parse_redis_url("http://host"), std::runtime_error);
  EXPECT_THROW(parse_redis_url("redis://host:notaport"), std::runtime_error);
  EXPECT_THROW(parse_redis_url("redis://host/x"), std::runtime_error);
}

// One herald node's broker, with what its sink received.
struct Node {
  Node(RedisOptions options) {
    broker =
        std::make_unique<RedisBroker>(std::move(options), NamespacePolicy{}, [](const std::string&) { return true; });
    broker->set_sink([this](const MessagePtr& m) {
      std::lock_guard lock(mutex);
      sunk.push_back(m);
      changed.notify_all();
    });
  }
  bool wait_connected(bool up) {
    auto until = std::chrono::steady_clock::now() + patience;
    while (broker->connected() != up && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(5ms);
    return broker->connected() == up;
  }
  std::variant<MessagePtr, Error> publish(const std::string& channel, const std::string& data) {
    std::promise<std::variant<MessagePtr, Replayed, Error>> answer;
    broker->publish(PublishRequest{.channel = channel, .data = data},
                    [&](auto result) { answer.set_value(std::move(result)); });
    auto result = answer.get_future().get();
    if (auto* error = std::get_if<Error>(&result)) return *error;
    return std::get<MessagePtr>(result);
  }
  std::variant<ReadResult, Error> read(const std::string& channel, ReadFrom from) {
    std::promise<std::variant<ReadResult, Error>> answer;
    broker->read(channel, from, 100, [&](auto result) { answer.set_value(std::move(result)); });
    return answer.get_future().get();
  }
  std::vector<std::string> sunk_data(std::size_t count) {
    std::unique_lock lock(mutex);
    changed.wait_for(lock, patience, [&] { return sunk.size() >= count; });
    std::vector<std::string> out;
    for (const auto& m : sunk) out.push_back(m->data());
    return out;
  }

  std::unique_ptr<RedisBroker> broker;
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<MessagePtr> sunk;
};

struct RedisBrokerTest : ::testing::Test {
  void SetUp() override {
    if (!test::RedisServer::available())
      GTEST_FAIL() << "redis-server is not installed: scripts/install-deps test installs it";
    server = std::make_unique<test::RedisServer>();
  }
  RedisOptions options() const {
    RedisOptions o;
    o.port = server->port();
    return o;
  }
  // Runs redis-cli against the test server.
  void cli(const std::string& args) const {
    std::string command = "redis-cli -p " + std::to_string(server->port()) + " " + args + " >/dev/null";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  // How many connections listen to a channel's Pub/Sub channel.
  int listeners(const std::string& channel) const {
    std::string command =
        "redis-cli -p " + std::to_string(server->port()) + " PUBSUB NUMSUB 'herald:{" + channel + "}' | tail -n 1";
    FILE* out = popen(command.c_str(), "r");
    char line[64] = {};
    if (out == nullptr || fgets(line, sizeof line, out) == nullptr) line[0] = '\0';
    if (out != nullptr) pclose(out);
    return std::atoi(line);
  }
  std::unique_ptr<test::RedisServer> server;
};

TEST_F(RedisBrokerTest, SubscribesOnlyWhileThisNodeListens) {
  std::atomic<bool> listened = false;
  auto broker =
      std::make_unique<RedisBroker>(options(), NamespacePolicy{}, [&](const std::string&) { return listened.load(); });
  for (auto until = std::chrono::steady_clock::now() + patience;
       !broker->connected() && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(5ms);
  }
  auto read = [&] {
    std::promise<void> answered;
    broker->read("quiet", {}, 10, [&](auto) { answered.set_value(); });
    answered.get_future().get();
  };
  read();  // an interval poll: nobody on this node listens
  EXPECT_EQ(listeners("quiet"), 0);
  listened = true;
  read();  // a subscriber joins: answered once the subscription is confirmed
  EXPECT_EQ(listeners("quiet"), 1);
  broker->sweep([](const std::string&) { return true; });
  EXPECT_EQ(listeners("quiet"), 1);
  broker->sweep([](const std::string&) { return false; });
  for (auto until = std::chrono::steady_clock::now() + patience;
       listeners("quiet") != 0 && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(listeners("quiet"), 0);
}

TEST_F(RedisBrokerTest, ACursorMintedOnOneNodeResumesOnAnother) {
  Node a(options()), b(options());
  ASSERT_TRUE(a.wait_connected(true) && b.wait_connected(true));
  ASSERT_TRUE(std::holds_alternative<ReadResult>(b.read("shared", {})));  // b listens
  auto first = std::get<MessagePtr>(a.publish("shared", "1"));
  a.publish("shared", "2");
  EXPECT_EQ(b.sunk_data(2), (std::vector<std::string>{"1", "2"}));
  auto resumed = std::get<ReadResult>(b.read("shared", {.since = first->cursor()}));
  EXPECT_FALSE(resumed.gap);
  ASSERT_EQ(resumed.messages.size(), 1U);
  EXPECT_EQ(resumed.messages[0]->data(), "2");
}

TEST_F(RedisBrokerTest, WithoutRedisCallsFailThenItReconnectsByItself) {
  Node node(options());
  ASSERT_TRUE(node.wait_connected(true));
  node.read("ch", {});
  ASSERT_TRUE(std::holds_alternative<MessagePtr>(node.publish("ch", "before")));
  ASSERT_EQ(node.sunk_data(1).size(), 1U);  // heard before Redis dies (it keeps nothing: no persistence)
  server->stop();
  ASSERT_TRUE(node.wait_connected(false));
  auto refused = node.publish("ch", "during");
  ASSERT_TRUE(std::holds_alternative<Error>(refused));
  EXPECT_EQ(std::get<Error>(refused).code, "broker_unavailable");
  EXPECT_TRUE(std::holds_alternative<Error>(node.read("other", {})));
  server->start();
  ASSERT_TRUE(node.wait_connected(true));
  ASSERT_TRUE(std::holds_alternative<MessagePtr>(node.publish("ch", "after")));
  // Re-subscribed by itself: the listened channel hears what is published after the return.
  EXPECT_EQ(node.sunk_data(2), (std::vector<std::string>{"before", "after"}));
}

// A node cut off from Redis while another keeps publishing hears everything, in order, once it is back.
TEST_F(RedisBrokerTest, ANodeThatWasAwayCatchesUpInOrder) {
  cli("ACL SETUSER away on '>pw' '~*' '&*' '+@all'");
  RedisOptions away_options = options();
  away_options.username = "away";
  away_options.password = "pw";
  Node away(away_options), publisher(options());
  ASSERT_TRUE(away.wait_connected(true) && publisher.wait_connected(true));
  away.read("news", {});
  publisher.publish("news", "1");
  ASSERT_EQ(away.sunk_data(1).size(), 1U);

  cli("ACL SETUSER away off");  // its reconnects are refused until it is switched back on
  cli("CLIENT KILL USER away");
  ASSERT_TRUE(away.wait_connected(false));
  for (const char* data : {"2", "3", "4"})
    ASSERT_TRUE(std::holds_alternative<MessagePtr>(publisher.publish("news", data)));
  cli("ACL SETUSER away on");
  ASSERT_TRUE(away.wait_connected(true));
  publisher.publish("news", "5");
  EXPECT_EQ(away.sunk_data(5), (std::vector<std::string>{"1", "2", "3", "4", "5"}));
}

TEST_F(RedisBrokerTest, ANodeStartedBeforeRedisConnectsWhenItComes) {
  server->stop();
  Node node(options());
  auto refused = node.publish("early", "x");
  ASSERT_TRUE(std::holds_alternative<Error>(refused));
  EXPECT_EQ(std::get<Error>(refused).code, "broker_unavailable");
  server->start();
  ASSERT_TRUE(node.wait_connected(true));
  EXPECT_TRUE(std::holds_alternative<MessagePtr>(node.publish("early", "x")));
}

TEST_F(RedisBrokerTest, AuthenticatesWithAPassword) {
  cli("CONFIG SET requirepass s3cret");
  RedisOptions wrong = options();
  wrong.password = "guess";
  Node refused(wrong);
  RedisOptions right = options();
  right.password = "s3cret";
  Node node(right);
  ASSERT_TRUE(node.wait_connected(true));
  EXPECT_TRUE(std::holds_alternative<MessagePtr>(node.publish("locked", "x")));
  EXPECT_FALSE(refused.broker->connected());
  EXPECT_TRUE(std::holds_alternative<Error>(refused.publish("locked", "y")));
}

}  // namespace
}  // namespace herald
