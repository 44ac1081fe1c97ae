// The Redis broker on a real Redis Cluster (3 primaries, 3 replicas on loopback) through failovers: a
// primary killed (its replica takes over; asynchronous replication may lose its last writes) and a
// manual CLUSTER FAILOVER (lossless), while one broker listens and another publishes; and the same with
// Sentinel (one primary, one replica, three sentinels), the primary killed. Each listener must
// end with every acknowledged message in order, or an explicit gap where messages were lost: never a
// silent hole, never a duplicate. The conformance suite runs on a cluster too (broker_conformance_test).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "broker/redis_broker.hpp"
#include "broker/redis_cluster.hpp"
#include "redis_cluster_server.hpp"
#include "redis_sentinel_server.hpp"

namespace herald {
namespace {

using namespace std::chrono_literals;

constexpr auto patience = 30s;

std::unique_ptr<RedisBroker> cluster_broker(const test::RedisClusterServer& cluster, const std::string& prefix) {
  RedisOptions options;
  // Two seeds: a seed killed by the test must not leave the broker without one.
  options.cluster.push_back({.host = "127.0.0.1", .port = cluster.ports()[4]});
  options.cluster.push_back({.host = "127.0.0.1", .port = cluster.ports()[5]});
  options.key_prefix = prefix;
  options.connect_timeout = 500ms;
  NamespacePolicy policy;
  policy.defaults.history.max_messages = 10000;
  auto broker = std::make_unique<RedisBroker>(options, policy, [](const std::string&) { return true; });
  for (auto until = std::chrono::steady_clock::now() + patience;
       !broker->connected() && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(5ms);
  }
  return broker;
}

std::variant<ReadResult, Error> read_from(Broker& broker, const std::string& channel, ReadFrom from) {
  std::promise<std::variant<ReadResult, Error>> answer;
  broker.read(channel, from, 10000, [&](auto result) { answer.set_value(std::move(result)); });
  return answer.get_future().get();
}

TEST(RedisCluster, KeySlotsAreTheClusters) {
  auto& cluster = test::shared_cluster();
  for (std::string key : {"a", "herald:{news}:m", "x{}y", "{user1000}.following", "p{login}_login:abc", "{a}{b}",
                          "{{c}}", "12345678901234567890"}) {
    EXPECT_EQ(cluster.command(0, "CLUSTER KEYSLOT " + key), std::to_string(key_slot(key))) << key;
  }
}

// A listener as a subscriber is one (core/hub.cpp): messages in cursor order; a message that does not
// follow its cursor makes it read history from its cursor, where a lost stretch is a gap.
struct Listener {
  struct Channel {
    std::optional<Cursor> last;
    std::vector<std::string> got;
    std::size_t gaps = 0;
    std::size_t holes = 0;  // messages the sink skipped within one history (a new history is no hole)
  };

  explicit Listener(RedisBroker& broker) : broker(broker) {
    broker.set_sink([this](const MessagePtr& message) {
      std::lock_guard lock(mutex);
      inbox.push_back(message);
      changed.notify_all();
    });
  }

  void join(const std::string& channel) {
    auto result = std::get<ReadResult>(read_from(broker, channel, {}));
    std::lock_guard lock(mutex);
    channels[channel].last = result.cursor;
  }

  // Takes what the sink brought (on the test thread: catching up reads the broker).
  void drain() {
    std::vector<MessagePtr> batch;
    {
      std::lock_guard lock(mutex);
      batch.swap(inbox);
    }
    for (const auto& message : batch) take(message);
  }

  void take(const MessagePtr& message) {
    Channel& c = channels[message->channel()];
    Cursor cursor = message->cursor();
    if (c.last && c.last->history == cursor.history) {
      if (cursor.seq <= c.last->seq) return;  // already had it
      if (cursor.seq == c.last->seq + 1) {
        c.got.push_back(message->data());
        c.last = cursor;
        return;
      }
      ++c.holes;  // the sink skipped messages of one history: the broker broke point 7
    }
    catch_up(message->channel());
  }

  void catch_up(const std::string& channel) {
    Channel& c = channels[channel];
    for (int tries = 0; tries < 100; ++tries) {
      auto outcome = read_from(broker, channel, {.since = c.last});
      auto* result = std::get_if<ReadResult>(&outcome);
      if (result == nullptr) {
        std::this_thread::sleep_for(50ms);  // 503 while the cluster fails over: retry, as a client would
        continue;
      }
      if (result->gap) ++c.gaps;
      for (const auto& m : result->messages) c.got.push_back(m->data());
      c.last = result->cursor;
      if (!result->more) return;
    }
    ADD_FAILURE() << "could not catch up on " << channel;
  }

  RedisBroker& broker;
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<MessagePtr> inbox;
  std::map<std::string, Channel> channels;
};

struct Published {
  std::vector<std::string> acknowledged;  // answered with a cursor
  std::set<std::string> uncertain;        // answered 503: stored or not
};

// Publishes round-robin to `channels` until told to stop, then `after` more acknowledged per channel.
std::vector<std::string> channel_names() {
  std::vector<std::string> names;
  for (int i = 0; i < 12; ++i) names.push_back("ch" + std::to_string(i));
  return names;
}

// One broker listens to a dozen channels (spread over every shard) while another publishes to them
// round-robin, before, during (`fail_over` runs on a thread of its own) and after a failover. With
// `lossless`, not even a gap may lose an acknowledged message.
void failover_under_load(const std::function<std::unique_ptr<RedisBroker>()>& make, bool lossless,
                         const std::function<void()>& fail_over) {
  auto listening = make();
  auto publishing = make();
  ASSERT_TRUE(listening->connected() && publishing->connected());
  auto names = channel_names();

  Listener listener(*listening);
  for (const auto& name : names) listener.join(name);

  std::map<std::string, Published> published;
  std::atomic<bool> failed_over{false};
  std::atomic<int> counter{0};
  auto publish_round = [&] {
    for (const auto& name : names) {
      std::string data = std::to_string(++counter);
      std::promise<std::variant<MessagePtr, Replayed, Error>> answer;
      publishing->publish(PublishRequest{name, "", data, false},
                          [&](auto result) { answer.set_value(std::move(result)); });
      auto result = answer.get_future().get();
      if (std::holds_alternative<MessagePtr>(result)) {
        published[name].acknowledged.push_back(data);
      } else {
        published[name].uncertain.insert(data);
      }
    }
    listener.drain();
  };
  for (int round = 0; round < 30; ++round) publish_round();
  std::thread failing([&] {
    fail_over();
    failed_over = true;
  });
  while (!failed_over) publish_round();  // publishing on while the cluster fails over
  failing.join();
  // Then on until every channel took 30 more publishes: the shard that failed over serves again.
  std::map<std::string, std::size_t> before;
  for (const auto& name : names) before[name] = published[name].acknowledged.size();
  auto served = [&] {
    for (const auto& name : names) {
      if (published[name].acknowledged.size() < before[name] + 30) return false;
    }
    return true;
  };
  for (auto until = std::chrono::steady_clock::now() + patience;
       !served() && std::chrono::steady_clock::now() < until;) {
    publish_round();
  }
  ASSERT_TRUE(served()) << "publishing did not recover after the failover";

  // Every listener ends where the history ends: the sink brings the rest (or the listener catches up).
  for (auto until = std::chrono::steady_clock::now() + patience; std::chrono::steady_clock::now() < until;) {
    listener.drain();
    bool done = true;
    for (const auto& name : names) {
      const auto& got = listener.channels[name].got;
      if (got.empty() || got.back() != published[name].acknowledged.back()) done = false;
    }
    if (done) break;
    std::unique_lock lock(listener.mutex);
    listener.changed.wait_for(lock, 100ms, [&] { return !listener.inbox.empty(); });
  }

  for (const auto& name : names) {
    const auto& channel = listener.channels[name];
    const auto& sent = published[name];
    // In publish order, each once, nothing never published.
    std::size_t next = 0;
    std::vector<std::string> missing;
    for (const auto& data : channel.got) {
      auto at = std::find(sent.acknowledged.begin() + static_cast<std::ptrdiff_t>(next), sent.acknowledged.end(), data);
      if (at == sent.acknowledged.end()) {
        EXPECT_TRUE(sent.uncertain.contains(data)) << name << ": " << data << " out of order, repeated or never sent";
        continue;
      }
      for (auto skipped = sent.acknowledged.begin() + static_cast<std::ptrdiff_t>(next); skipped != at; ++skipped) {
        missing.push_back(*skipped);
      }
      next = static_cast<std::size_t>(at - sent.acknowledged.begin()) + 1;
    }
    EXPECT_EQ(next, sent.acknowledged.size()) << name << ": the newest acknowledged messages never arrived";
    EXPECT_EQ(channel.holes, 0U) << name << ": the sink skipped messages (re-subscribed without re-reading)";
    if (!missing.empty()) {
      EXPECT_FALSE(lossless) << name << ": " << missing.size() << " acknowledged messages lost";
      EXPECT_GT(channel.gaps, 0U) << name << ": " << missing.size() << " acknowledged messages lost silently";
    }
  }
}

// The node that is primary of the first channel's slot (the one the test fails over).
int first_channel_primary(test::RedisClusterServer& cluster) {
  cluster.slot_probe = key_slot("{" + channel_names()[0] + "}");
  return cluster.primary_of(static_cast<std::uint16_t>(cluster.slot_probe));
}

TEST(RedisCluster, APrimaryKilledUnderLoadLosesNothingSilently) {
  test::RedisClusterServer cluster;
  int victim = first_channel_primary(cluster);
  ASSERT_GE(victim, 0);
  failover_under_load([&] { return cluster_broker(cluster, "f:"); }, false,
                      [&] {
                        cluster.kill_node(victim);
                        ASSERT_TRUE(test::RedisClusterServer::wait_until([&] { return cluster.serving(); }, patience))
                            << "no replica took over";
                      });
}

TEST(RedisCluster, AManualFailoverUnderLoadLosesNothing) {
  test::RedisClusterServer cluster;
  int victim = first_channel_primary(cluster);
  ASSERT_GE(victim, 0);
  failover_under_load(
      [&] { return cluster_broker(cluster, "f:"); }, true,
      [&] {
        int replica = cluster.replica_of(victim);
        ASSERT_GE(replica, 0);
        ASSERT_EQ(cluster.command(replica, "CLUSTER FAILOVER"), "OK");
        ASSERT_TRUE(test::RedisClusterServer::wait_until(
            [&] { return cluster.primary_of(static_cast<std::uint16_t>(cluster.slot_probe)) == replica; }, patience))
            << "the replica did not take over";
      });
}

// Writes a primary acknowledged but never replicated are lost when its replica takes over. Continuing the
// history there would give the next message the sequence number of a lost one, which a listener that heard
// the lost one skips as a duplicate: a silent loss. The history starts anew instead: a gap, then the rest.
TEST(RedisCluster, WritesLostInAFailoverAreAGapNeverAReusedCursor) {
  test::RedisClusterServer cluster;
  int primary = first_channel_primary(cluster);
  ASSERT_GE(primary, 0);
  int replica = cluster.replica_of(primary);
  ASSERT_GE(replica, 0);
  auto listening = cluster_broker(cluster, "w:");
  auto publishing = cluster_broker(cluster, "w:");
  const std::string channel = channel_names()[0];
  Listener listener(*listening);
  listener.join(channel);
  auto publish = [&](const std::string& data) {
    for (auto until = std::chrono::steady_clock::now() + patience; std::chrono::steady_clock::now() < until;) {
      std::promise<std::variant<MessagePtr, Replayed, Error>> answer;
      publishing->publish(PublishRequest{channel, "", data, false},
                          [&](auto result) { answer.set_value(std::move(result)); });
      if (std::holds_alternative<MessagePtr>(answer.get_future().get())) return;
      std::this_thread::sleep_for(50ms);  // 503 while the shard fails over: publish again, as a client would
    }
    ADD_FAILURE() << "could not publish " << data;
  };
  auto heard = [&](const std::string& data) {
    return test::RedisClusterServer::wait_until(
        [&] {
          listener.drain();
          const auto& got = listener.channels[channel].got;
          return std::find(got.begin(), got.end(), data) != got.end();
        },
        patience);
  };
  publish("1");
  ASSERT_TRUE(heard("1"));
  // The replica has "1" once its offset is the primary's.
  auto offset = [&](int node, const char* field) {
    std::string info = cluster.command(node, "INFO replication");
    auto at = info.find(field);
    return at == std::string::npos ? std::string() : info.substr(at, info.find('\r', at) - at);
  };
  ASSERT_TRUE(test::RedisClusterServer::wait_until([&] {
    std::string mine = offset(primary, "master_repl_offset:");
    return !mine.empty() && mine == offset(replica, "master_repl_offset:");
  }));
  cluster.pause_node(replica);
  publish("2");
  publish("3");
  ASSERT_TRUE(heard("3"));  // acknowledged and delivered, never replicated
  cluster.kill_node(primary);
  cluster.resume_node(replica);
  ASSERT_TRUE(test::RedisClusterServer::wait_until(
      [&] { return cluster.primary_of(static_cast<std::uint16_t>(key_slot("{" + channel + "}"))) == replica; },
      patience))
      << "the replica did not take over";
  for (const char* data : {"4", "5", "6"}) publish(data);
  ASSERT_TRUE(heard("6"));
  const auto& got = listener.channels[channel].got;
  EXPECT_EQ(got, (std::vector<std::string>{"1", "2", "3", "4", "5", "6"}));
  EXPECT_EQ(listener.channels[channel].gaps, 1U) << "the lost history was not signalled";
}

// The control channel (broker.hpp, point 11) is a plain Pub/Sub channel, subscribed on the primary of its
// name's slot, where commands are published too. When that primary hands its slot to its replica
// (CLUSTER FAILOVER: the old one lives on as a replica) and when the new one is killed (the connection is
// lost), every node subscribes again on the new primary: commands reach every node again, each at most once.
TEST(RedisCluster, TheControlChannelFollowsItsNodeThroughFailovers) {
  test::RedisClusterServer cluster;
  const std::string prefix = "k:";
  std::vector<std::unique_ptr<RedisBroker>> nodes;
  nodes.push_back(cluster_broker(cluster, prefix));
  nodes.push_back(cluster_broker(cluster, prefix));
  ASSERT_TRUE(nodes[0]->connected() && nodes[1]->connected());
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::vector<std::string>> heard(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    nodes[i]->set_control_sink([&, i](const std::string& command) {
      std::lock_guard lock(mutex);
      heard[i].push_back(command);
      changed.notify_all();
    });
  }
  // Sends commands until one is counted by both nodes (while a node is moving its subscription, a command
  // may reach only some, or be refused), then waits for both to hear that one.
  int sent = 0;
  auto everyone_hears = [&](const std::string& when) {
    std::string counted;
    for (auto until = std::chrono::steady_clock::now() + patience;
         counted.empty() && std::chrono::steady_clock::now() < until;) {
      std::string command = when + " " + std::to_string(++sent);
      std::promise<std::variant<std::size_t, Error>> answer;
      nodes[0]->control(command, [&](auto result) { answer.set_value(std::move(result)); });
      auto result = answer.get_future().get();
      if (std::holds_alternative<std::size_t>(result) && std::get<std::size_t>(result) == nodes.size()) {
        counted = command;
      } else {
        std::this_thread::sleep_for(50ms);  // the nodes read the slot map again: ask again, as a client would
      }
    }
    ASSERT_FALSE(counted.empty()) << when << ": no command was heard by every node";
    std::unique_lock lock(mutex);
    bool all = changed.wait_for(lock, patience, [&] {
      return std::all_of(heard.begin(), heard.end(),
                         [&](const auto& mine) { return std::find(mine.begin(), mine.end(), counted) != mine.end(); });
    });
    EXPECT_TRUE(all) << when << ": a node that was counted did not hear the command";
  };
  const auto slot = key_slot(prefix + "control");
  int primary = cluster.primary_of(slot);
  ASSERT_GE(primary, 0);
  everyone_hears("before");

  int replica = cluster.replica_of(primary);
  ASSERT_GE(replica, 0);
  ASSERT_EQ(cluster.command(replica, "CLUSTER FAILOVER"), "OK");
  ASSERT_TRUE(test::RedisClusterServer::wait_until([&] { return cluster.primary_of(slot) == replica; }, patience));
  everyone_hears("after a manual failover");

  cluster.kill_node(replica);  // the primary now
  ASSERT_TRUE(test::RedisClusterServer::wait_until(
      [&] {
        int now = cluster.primary_of(slot);
        return now >= 0 && now != replica && cluster.serving();
      },
      patience))
      << "no replica took over";
  everyone_hears("after the primary was killed");

  for (auto& node : nodes) node->stop();  // their sinks hear nothing more
  for (const auto& mine : heard) {
    std::set<std::string> once(mine.begin(), mine.end());
    EXPECT_EQ(once.size(), mine.size()) << "a node heard a command twice";
  }
}

TEST(RedisSentinel, APrimaryKilledUnderLoadIsFollowedAndLosesNothingSilently) {
  test::RedisSentinelServer sentinels;
  std::uint16_t first = sentinels.primary_port();
  auto make = [&] {
    RedisOptions options;
    for (auto port : sentinels.sentinel_ports()) options.sentinels.push_back({.host = "127.0.0.1", .port = port});
    options.master_name = "herald";
    options.key_prefix = "s:";
    options.connect_timeout = 500ms;
    NamespacePolicy policy;
    policy.defaults.history.max_messages = 10000;
    auto broker = std::make_unique<RedisBroker>(options, policy, [](const std::string&) { return true; });
    for (auto until = std::chrono::steady_clock::now() + patience;
         !broker->connected() && std::chrono::steady_clock::now() < until;) {
      std::this_thread::sleep_for(5ms);
    }
    return broker;
  };
  failover_under_load(make, false, [&] {
    sentinels.kill_primary();
    ASSERT_TRUE(test::RedisClusterServer::wait_until(
        [&] {
          std::uint16_t now = sentinels.primary_port();
          return now != 0 && now != first &&
                 test::RedisSentinelServer::info(now, "INFO replication").find("role:master") != std::string::npos;
        },
        patience))
        << "the sentinels did not promote the replica";
  });
}

}  // namespace
}  // namespace herald
