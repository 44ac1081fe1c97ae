#pragma once
// One hiredis command connection on a thread of its own, for a set of Lua scripts: it connects (AUTH,
// SELECT), loads the scripts, runs them (EVALSHA; EVAL when Redis lost its script cache), and reconnects
// with backoff when Redis goes away. No call ever blocks the caller: work is posted to the link's thread
// and replies come back there. The login store (login/redis_login_store.hpp) talks to Redis through it.
//
// With Redis Cluster (options.cluster) every script goes through a RedisCluster to the primary of
// `slot_key`'s slot, named as the script's one key (so a moved slot answers MOVED, which is followed):
// all the keys a script touches must live in that slot.
//
// Calls made while a connection attempt is under way wait for it (at most the connect timeout), so a
// server that has just started does not refuse its first requests; calls made while Redis is known to
// be away fail at once with no reply.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "broker/redis_cluster.hpp"
#include "broker/redis_options.hpp"

struct redisAsyncContext;
struct redisReply;

namespace herald {

class RedisLink {
 public:
  using ReplyHandler = std::function<void(redisReply*)>;  // nullptr: no reply (no connection, or it was lost)

  // `scripts` are loaded at every connect and named by their index in run_script(). `name` goes in the
  // log lines ("redis (login): lost the connection …").
  RedisLink(RedisOptions options, std::vector<std::string> scripts, std::string name, std::string slot_key = {});
  ~RedisLink();
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  // The link's own thread: post work here; run_script() may only be called from it.
  boost::asio::io_context& io() { return io_; }
  // Runs script `index` with `args` (all as ARGV, no KEYS) and hands the reply to `handler` on the link's
  // thread. The reply lives only during the call.
  void run_script(std::size_t index, std::vector<std::string> args, ReplyHandler handler);

  // Connected and the scripts are loaded (readable from any thread).
  bool connected() const;
  // Waits (for the command line) until connected or `timeout` passes; true when connected.
  bool wait_connected(std::chrono::milliseconds timeout);
  // Closes the connection (pending calls get no reply) and joins the thread. Idempotent.
  void stop();

 private:
  void connect();
  void handshake();
  void connection_failed(const std::string& reason);
  void set_up(bool up);
  void command(const std::vector<std::string_view>& args, ReplyHandler handler);
  void send_script(std::size_t index, const std::shared_ptr<std::vector<std::string>>& args, ReplyHandler handler);
  static void on_connect(const redisAsyncContext* context, int status);
  static void on_disconnect(const redisAsyncContext* context, int status);
  static void on_reply(redisAsyncContext* context, void* reply, void* handler);

  RedisOptions options_;
  std::vector<std::string> scripts_;
  std::vector<std::string> shas_;
  std::string name_;

  boost::asio::io_context io_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  boost::asio::steady_timer retry_timer_;
  boost::asio::steady_timer connect_timer_;
  redisAsyncContext* context_ = nullptr;
  bool ready_ = false;        // the link thread's view: connected and scripts loaded
  bool ever_up_ = false;      // for the log: "reachable again" vs "connected"
  bool down_logged_ = false;  // each transition is logged once, not each retry
  bool stopping_ = false;
  std::size_t loaded_ = 0;
  std::chrono::milliseconds backoff_;
  std::vector<std::function<void()>> waiting_;  // calls made during a connection attempt
  std::string slot_key_;
  std::unique_ptr<RedisCluster> cluster_;  // with Redis Cluster; context_ stays null

  mutable std::mutex up_mutex_;
  std::condition_variable up_changed_;
  bool up_ = false;
  std::thread thread_;
};

}  // namespace herald
