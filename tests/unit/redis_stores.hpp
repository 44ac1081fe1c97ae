#pragma once
// The Redis stores the conformance suites run against: a throwaway redis-server and a throwaway Redis
// Cluster (3 primaries, 3 replicas), each started once per test process and shared by its suites, each
// test under a key prefix of its own.
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "broker/redis_broker.hpp"
#include "redis_cluster_server.hpp"
#include "redis_server.hpp"

namespace herald::test {

// A Redis broker (and presence store) on `options`, returned once connected, or after ten seconds (the
// test then fails on its first call).
inline std::unique_ptr<RedisBroker> connected_redis_broker(const RedisOptions& options, const NamespacePolicy& policy) {
  auto broker = std::make_unique<RedisBroker>(options, policy, [](const std::string&) { return true; });
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       !broker->connected() && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return broker;
}

// One redis-server. options(): the current test's store; next(): a fresh one for a new test.
struct OneRedis {
  static inline std::unique_ptr<RedisServer> server;
  static inline int tests = 0;
  static RedisOptions options() {
    RedisOptions options;
    options.port = server->port();
    options.key_prefix = std::to_string(tests) + ":";
    return options;
  }
  static RedisOptions next() {
    if (!server) server = std::make_unique<RedisServer>();
    ++tests;
    return options();
  }
};

// A Redis Cluster. peer(): the current test's store, seeded from another node (two nodes must find the
// same cluster, not share a seed).
struct ClusterRedis {
  static inline int tests = 0;
  static RedisOptions options() {
    RedisOptions options;
    options.cluster.push_back({.host = "127.0.0.1", .port = shared_cluster().ports()[0]});
    options.key_prefix = "c" + std::to_string(tests) + ":";
    return options;
  }
  static RedisOptions next() {
    ++tests;
    return options();
  }
  static RedisOptions peer() {
    RedisOptions other = options();
    other.cluster[0].port = shared_cluster().ports()[3];
    return other;
  }
};

}  // namespace herald::test
