#pragma once
// A throwaway Redis Cluster on loopback, for tests: 3 primaries and 3 replicas (redis-server
// --cluster-enabled yes, joined by redis-cli --cluster create --cluster-replicas 1), no persistence, each
// node's cluster file in a temporary directory, all gone with the object. A short node timeout lets a
// replica take over a killed primary within a few seconds.
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "redis_server.hpp"

namespace herald::test {

class RedisClusterServer {
 public:
  static constexpr int node_count = 6;

  RedisClusterServer() {
    char pattern[] = "/tmp/herald-cluster-XXXXXX";
    if (mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    for (int i = 0; i < node_count; ++i) {
      ports_.push_back(node_port());
      pids_.push_back(-1);
      start_node(i);
    }
    std::string create = "redis-cli --cluster create";
    for (auto port : ports_) create += " 127.0.0.1:" + std::to_string(port);
    create += " --cluster-replicas 1 --cluster-yes >/dev/null 2>&1";
    if (std::system(create.c_str()) != 0) throw std::runtime_error("redis-cli --cluster create failed");
    if (!wait_until([&] { return healthy(); })) throw std::runtime_error("the cluster did not settle");
  }
  ~RedisClusterServer() {
    for (int i = 0; i < node_count; ++i) kill_node(i);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  RedisClusterServer(const RedisClusterServer&) = delete;
  RedisClusterServer& operator=(const RedisClusterServer&) = delete;

  const std::vector<std::uint16_t>& ports() const { return ports_; }

  // The node (index) that is primary of the slot, as that node says.
  int primary_of(std::uint16_t slot) const {
    slot_probe = slot;
    for (int i = 0; i < node_count; ++i) {
      if (pids_[i] <= 0) continue;
      auto reply = command(i, "CLUSTER SLOTS");
      if (reply.empty()) continue;
      return index_of_port(static_cast<std::uint16_t>(std::stoi(reply)));
    }
    return -1;
  }

  // A replica of primary `index` (an index), or -1.
  int replica_of(int index) const {
    std::string id = command(index, "CLUSTER MYID");
    for (int i = 0; i < node_count; ++i) {
      if (i == index || pids_[i] <= 0) continue;
      if (master_of(i) == id) return i;
    }
    return -1;
  }

  // Freezes (SIGSTOP) and thaws (SIGCONT) a node: a frozen replica misses what its primary writes.
  void pause_node(int index) const { kill(pids_[index], SIGSTOP); }
  void resume_node(int index) const { kill(pids_[index], SIGCONT); }

  void kill_node(int index) {
    if (pids_[index] <= 0) return;
    kill(pids_[index], SIGKILL);
    waitpid(pids_[index], nullptr, 0);
    pids_[index] = -1;
  }

  // Runs a command (space-separated words) on node `index`; answers a string reply, an integer as text,
  // or for CLUSTER SLOTS the port owning `slot_probe` (set it first). Empty when there is no answer.
  std::string command(int index, const std::string& words) const {
    redisContext* c = redisConnectWithTimeout("127.0.0.1", ports_[index], {1, 0});
    if (c == nullptr || c->err != 0) {
      if (c != nullptr) redisFree(c);
      return {};
    }
    auto* reply = static_cast<redisReply*>(redisCommand(c, words.c_str()));
    std::string out;
    if (reply != nullptr) {
      if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS) {
        out.assign(reply->str, reply->len);
      } else if (reply->type == REDIS_REPLY_INTEGER) {
        out = std::to_string(reply->integer);
      } else if (reply->type == REDIS_REPLY_ARRAY && words == "CLUSTER SLOTS") {
        for (std::size_t i = 0; i < reply->elements; ++i) {
          auto* range = reply->element[i];
          if (range->element[0]->integer <= slot_probe && slot_probe <= range->element[1]->integer) {
            out = std::to_string(range->element[2]->element[1]->integer);
          }
        }
      }
      freeReplyObject(reply);
    }
    redisFree(c);
    return out;
  }

  // Waits (polling the nodes: the cluster has no event to wait on) until `ready`, at most `patience`.
  template <typename Ready>
  static bool wait_until(Ready ready, std::chrono::seconds patience = std::chrono::seconds(30)) {
    for (auto until = std::chrono::steady_clock::now() + patience; std::chrono::steady_clock::now() < until;) {
      if (ready()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return ready();
  }

  // Every live node sees the cluster ok, and every primary has a replica that is in sync.
  bool healthy() const {
    int primaries = 0;
    for (int i = 0; i < node_count; ++i) {
      if (pids_[i] <= 0) continue;
      if (command(i, "CLUSTER INFO").find("cluster_state:ok") == std::string::npos) return false;
      std::string role = command(i, "INFO replication");
      if (role.find("role:master") != std::string::npos) {
        ++primaries;
        if (role.find("connected_slaves:1") == std::string::npos) return false;
      } else if (role.find("master_link_status:up") == std::string::npos) {
        return false;
      }
    }
    return primaries == 3;
  }

  // Every live node sees the cluster ok, with 3 primaries serving every slot.
  bool serving() const {
    for (int i = 0; i < node_count; ++i) {
      if (pids_[i] <= 0) continue;
      std::string info = command(i, "CLUSTER INFO");
      if (info.find("cluster_state:ok") == std::string::npos) return false;
    }
    return true;
  }

  mutable long long slot_probe = 0;

 private:
  // A free port whose cluster bus port (port + 10000) is free and valid too, and not taken by a sibling.
  std::uint16_t node_port() const {
    for (int attempt = 0; attempt < 200; ++attempt) {
      std::uint16_t port = RedisServer::free_port();
      if (port >= 55000 || std::find(ports_.begin(), ports_.end(), port) != ports_.end()) continue;
      if (bindable(static_cast<std::uint16_t>(port + 10000))) return port;
    }
    throw std::runtime_error("no free port pair for a cluster node");
  }

  static bool bindable(std::uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    bool ok = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    close(fd);
    return ok;
  }

  void start_node(int index) {
    std::string node_dir = dir_ + "/" + std::to_string(ports_[index]);
    std::filesystem::create_directories(node_dir);
    pids_[index] = fork();
    if (pids_[index] == 0) {
      std::string port = std::to_string(ports_[index]);
      if (chdir(node_dir.c_str()) != 0) _exit(127);
      execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--logfile", "/dev/null", "--cluster-enabled", "yes", "--cluster-config-file",
             "nodes.conf", "--cluster-node-timeout", "1000", "--cluster-replica-validity-factor", "0",
             static_cast<char*>(nullptr));
      _exit(127);
    }
    auto accepts = [&] { return !command(index, "PING").empty(); };
    wait_until(accepts, std::chrono::seconds(5));
  }

  std::string master_of(int index) const {
    // CLUSTER NODES' "myself" line: "<id> <addr> myself,slave <master id> ..."
    redisContext* c = redisConnectWithTimeout("127.0.0.1", ports_[index], {1, 0});
    if (c == nullptr || c->err != 0) {
      if (c != nullptr) redisFree(c);
      return {};
    }
    auto* reply = static_cast<redisReply*>(redisCommand(c, "CLUSTER NODES"));
    std::string out;
    if (reply != nullptr && reply->type == REDIS_REPLY_STRING) {
      std::string nodes(reply->str, reply->len);
      auto at = nodes.find("myself,slave ");
      if (at != std::string::npos) {
        auto start = at + std::string("myself,slave ").size();
        out = nodes.substr(start, nodes.find(' ', start) - start);
      }
    }
    if (reply != nullptr) freeReplyObject(reply);
    redisFree(c);
    return out;
  }

  int index_of_port(std::uint16_t port) const {
    for (int i = 0; i < node_count; ++i) {
      if (ports_[i] == port) return i;
    }
    return -1;
  }

  std::string dir_;
  std::vector<std::uint16_t> ports_;
  std::vector<pid_t> pids_;
};

// One cluster for the conformance suites of the whole test binary (making one takes seconds); the
// failover tests make their own, since they break it.
inline RedisClusterServer& shared_cluster() {
  static RedisClusterServer cluster;
  return cluster;
}

}  // namespace herald::test
