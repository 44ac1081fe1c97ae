#pragma once
// A throwaway Sentinel deployment on loopback, for tests: one primary, one replica and three sentinels
// (quorum 2) watching the primary as "herald", with short timeouts so a failover takes a few seconds.
// No persistence; everything is gone with the object.
#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "redis_cluster_server.hpp"
#include "redis_server.hpp"

namespace herald::test {

class RedisSentinelServer {
 public:
  RedisSentinelServer() {
    char pattern[] = "/tmp/herald-sentinel-XXXXXX";
    if (mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    data_ports_ = {RedisServer::free_port(), 0};
    do {
      data_ports_[1] = RedisServer::free_port();
    } while (data_ports_[1] == data_ports_[0]);
    data_pids_ = {spawn_data(data_ports_[0], 0), spawn_data(data_ports_[1], data_ports_[0])};
    for (int i = 0; i < 3; ++i) {
      std::uint16_t port = RedisServer::free_port();
      sentinel_ports_.push_back(port);
      std::string conf = dir_ + "/sentinel" + std::to_string(i) + ".conf";
      std::ofstream(conf) << "port " << port << "\nbind 127.0.0.1\nlogfile /dev/null\n"
                          << "sentinel monitor herald 127.0.0.1 " << data_ports_[0] << " 2\n"
                          << "sentinel down-after-milliseconds herald 500\n"
                          << "sentinel failover-timeout herald 5000\n";
      sentinel_pids_.push_back(spawn({"redis-server", conf, "--sentinel"}));
    }
    // Ready when the replica is in sync and every sentinel knows both and the others.
    bool ready = RedisClusterServer::wait_until([&] {
      if (info(data_ports_[1], "INFO replication").find("master_link_status:up") == std::string::npos) return false;
      for (auto port : sentinel_ports_) {
        std::string state = info(port, "SENTINEL MASTER herald");
        // Sentinel learns of replicas from the primary's INFO, every 10 s: wait until it has.
        if (state.find("num-slaves 1 ") == std::string::npos) return false;
      }
      return primary_port() == data_ports_[0] && sentinels_agree();
    });
    if (!ready) throw std::runtime_error("the sentinels did not settle");
  }
  ~RedisSentinelServer() {
    for (auto pid : sentinel_pids_) stop(pid);
    for (auto pid : data_pids_) stop(pid);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  RedisSentinelServer(const RedisSentinelServer&) = delete;
  RedisSentinelServer& operator=(const RedisSentinelServer&) = delete;

  const std::vector<std::uint16_t>& sentinel_ports() const { return sentinel_ports_; }
  const std::vector<std::uint16_t>& data_ports() const { return data_ports_; }

  // The primary's port as the first sentinel says (0: it does not answer).
  std::uint16_t primary_port() const {
    redisContext* c = redisConnectWithTimeout("127.0.0.1", sentinel_ports_[0], {1, 0});
    std::uint16_t port = 0;
    if (c != nullptr && c->err == 0) {
      auto* reply = static_cast<redisReply*>(redisCommand(c, "SENTINEL get-master-addr-by-name herald"));
      if (reply != nullptr && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2) {
        port = static_cast<std::uint16_t>(std::stoi(std::string(reply->element[1]->str, reply->element[1]->len)));
      }
      if (reply != nullptr) freeReplyObject(reply);
    }
    if (c != nullptr) redisFree(c);
    return port;
  }

  void kill_primary() {
    for (std::size_t i = 0; i < data_ports_.size(); ++i) {
      if (data_ports_[i] == primary_port()) {
        stop(data_pids_[i]);
        data_pids_[i] = -1;
      }
    }
  }

  // A string reply of a command (space-separated words) on the node at `port`; INFO-like bulk text, or
  // for an array the flattened strings. Empty when there is no answer.
  static std::string info(std::uint16_t port, const std::string& words) {
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port, {1, 0});
    std::string out;
    if (c != nullptr && c->err == 0) {
      auto* reply = static_cast<redisReply*>(redisCommand(c, words.c_str()));
      if (reply != nullptr) {
        if (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS) out.assign(reply->str, reply->len);
        if (reply->type == REDIS_REPLY_ARRAY) {
          for (std::size_t i = 0; i < reply->elements; ++i) {
            if (reply->element[i]->str != nullptr) out += std::string(reply->element[i]->str) + " ";
          }
        }
        freeReplyObject(reply);
      }
    }
    if (c != nullptr) redisFree(c);
    return out;
  }

 private:
  bool sentinels_agree() const {
    for (auto port : sentinel_ports_) {
      // Each sentinel has found the two others (through the primary's hello channel).
      std::string state = info(port, "SENTINEL MASTER herald");
      if (state.find("num-other-sentinels 2") == std::string::npos) return false;
    }
    return true;
  }

  pid_t spawn_data(std::uint16_t port, std::uint16_t primary) {
    std::vector<std::string> args{
        "redis-server", "--port", std::to_string(port), "--bind",    "127.0.0.1", "--save", "",
        "--appendonly", "no",     "--logfile",          "/dev/null", "--dir",     dir_};
    if (primary != 0) {
      args.insert(args.end(), {"--replicaof", "127.0.0.1", std::to_string(primary)});
    }
    return spawn(args);
  }

  static pid_t spawn(const std::vector<std::string>& args) {
    pid_t pid = fork();
    if (pid == 0) {
      std::vector<char*> argv;
      for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      _exit(127);
    }
    return pid;
  }

  static void stop(pid_t pid) {
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }

  std::string dir_;
  std::vector<std::uint16_t> data_ports_;
  std::vector<pid_t> data_pids_;
  std::vector<std::uint16_t> sentinel_ports_;
  std::vector<pid_t> sentinel_pids_;
};

}  // namespace herald::test
