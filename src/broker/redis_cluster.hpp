#pragma once
// A Redis Cluster client small enough to read: the slot map (CLUSTER SLOTS, from the seed nodes or any
// node known), one command connection per primary, one sharded Pub/Sub connection (SSUBSCRIBE) per
// primary, MOVED and ASK followed, and the map read again when a node redirects, a connection is lost,
// and every few seconds (a failover moves slots without breaking every connection).
//
// It runs on the io_context of its owner (the Redis broker's or the login link's thread) and never
// blocks it but to resolve a host name. Commands name the key that picks their slot; every key of one
// command must share it (herald's keys carry the channel as a hash tag).
//
// Subscriptions are wanted, not made once: the cluster keeps each wanted channel subscribed on the
// primary of its slot. When a subscription is lost (its node went away, its slot moved) the owner hears
// `lost` and the cluster makes it again on the new primary, which the owner hears as a new "subscribe":
// it must re-read what was published between the two (as after an outage). A subscription that could
// not be made (no primary reachable for its slot now) is `failed`; the cluster keeps trying.
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/redis_options.hpp"

struct redisReply;

namespace herald {

class RespConnection;

// The SHA-1 of a script, in hex, as EVALSHA names it (a cluster has no one node to SCRIPT LOAD on).
std::string script_sha1(const std::string& script);

// The cluster slot of a key: CRC16 of its hash tag (the first non-empty {...}) or of the whole key.
std::uint16_t key_slot(std::string_view key);

class RedisCluster {
 public:
  using Handler = std::function<void(redisReply*)>;  // nullptr: no reply (no node reachable for the slot)
  struct Events {
    // kind "subscribe" (confirmed), "message" (with its payload) or "unsubscribe" (one asked for).
    std::function<void(std::string_view kind, const std::string& channel, const redisReply* payload)> pushed;
    std::function<void(const std::string& channel)> lost;
    std::function<void(const std::string& channel)> failed;
    std::function<void(bool up)> up;  // the slot map became known (true) or no node answers (false)
  };

  RedisCluster(boost::asio::io_context& io, RedisOptions options, std::string name, Events events);
  ~RedisCluster();
  RedisCluster(const RedisCluster&) = delete;
  RedisCluster& operator=(const RedisCluster&) = delete;

  void start();
  void stop();  // closes every connection: commands waiting get nullptr
  bool up() const { return mapped_; }

  void command(std::string_view slot_key, std::vector<std::string> args, Handler handler);
  void subscribe(const std::string& channel);
  void unsubscribe(const std::string& channel);
  // A plain channel (SUBSCRIBE, not sharded), kept subscribed like the others, on the primary of its name's
  // slot. A plain PUBLISH reaches every node of a cluster, so any node would hear it; that one is where
  // every client of the cluster agrees to be, so a PUBLISH sent there (command() with the channel as
  // slot key) answers how many of them listen. Its events are the sharded ones'.
  void subscribe_plain(const std::string& channel);

 private:
  struct Node {
    RedisAddress address;
    std::shared_ptr<RespConnection> commands;
    std::shared_ptr<RespConnection> subscriber;
  };
  struct Wanted {
    std::string node;  // where it is subscribed or being subscribed; empty: nowhere now
    bool confirmed = false;
    bool sharded = true;  // SSUBSCRIBE; false: SUBSCRIBE (subscribe_plain)
    void clear() {
      node.clear();
      confirmed = false;
    }
  };
  using Args = std::shared_ptr<const std::vector<std::string>>;

  Node& node(const std::string& key, const RedisAddress& address);
  RespConnection& commands_of(Node& node);
  RespConnection& subscriber_of(Node& node);
  void send(const std::string& node_key, std::uint16_t slot, const Args& args, Handler handler, int hops, bool asking);
  void redirected(std::string_view error, std::uint16_t& slot, RedisAddress& to);
  void connection_lost(const std::string& node_key, bool subscriber, const std::string& why);

  void refresh_soon();
  void refresh();
  void ask_for_slots(std::vector<RedisAddress> candidates, std::size_t next);
  bool read_slots(const redisReply* reply, const RedisAddress& asked);
  void set_mapped(bool mapped);
  void forget_others();

  void place(const std::string& channel);  // subscribes a wanted channel on its slot's primary
  void reconcile();
  void on_push(const std::string& node_key, redisReply* reply);
  void post_event(std::function<void()> event);

  boost::asio::io_context& io_;
  RedisOptions options_;
  std::string name_;
  Events events_;
  std::map<std::string, Node> nodes_;  // by "host:port"
  std::vector<std::string> slots_;     // slot -> its primary's "host:port" ("" unknown)
  std::unordered_map<std::string, Wanted> wanted_;
  bool mapped_ = false;
  bool refreshing_ = false;
  bool refresh_pending_ = false;  // asked for while one was under way
  bool refresh_armed_ = false;    // the refresh timer is set
  bool down_logged_ = false;
  std::set<std::string> lost_logged_;  // nodes whose loss was logged since the map was last read
  bool stopped_ = false;
  std::chrono::milliseconds backoff_;
  boost::asio::steady_timer refresh_timer_;
  boost::asio::steady_timer periodic_timer_;
  std::shared_ptr<bool> alive_;  // events posted after stop() find it false
};

}  // namespace herald
