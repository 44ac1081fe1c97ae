#pragma once
// A Redis broker for the conformance suites: on a throwaway redis-server shared by the suite, each test
// under a key prefix of its own, returned once connected.
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "broker/redis_broker.hpp"
#include "redis_server.hpp"

namespace herald::test {

inline std::unique_ptr<RedisBroker> redis_broker_of(std::unique_ptr<RedisServer>& server,
                                                    const NamespacePolicy& policy) {
  static int tests = 0;
  if (!server) server = std::make_unique<RedisServer>();
  RedisOptions options;
  options.port = server->port();
  options.key_prefix = std::to_string(++tests) + ':';
  auto broker = std::make_unique<RedisBroker>(options, policy, [](const std::string&) { return true; });
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
       !broker->connected() && std::chrono::steady_clock::now() < until;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return broker;
}

}  // namespace herald::test
