#pragma once
// The Redis broker: channel histories live in Redis (see redis_scripts.hpp for the keys), so every node
// on one Redis mints and reads the same cursors, and a publish on any node reaches the subscribers of all.
//
// One thread of its own runs an io_context with two hiredis connections: one for commands (the scripts)
// and one subscribed to the channels this node's clients listen to. No Redis call ever blocks an event
// loop; answers go back to the loop that asked (broker.hpp, point 6).
//
// A channel is subscribed in Redis when it is read while this node has listeners of it (a subscriber
// joins the hub, then reads), and that read waits for the subscription to be confirmed, so no message
// falls between history and live. An interval poll reads without subscribing. sweep() unsubscribes
// the channels nobody on this node listens to any more.
//
// With Redis Cluster (options.cluster), the commands and the subscriptions go through RedisCluster
// (redis_cluster.hpp) instead of the two connections: each script to the primary of its channel's slot,
// each subscription to a sharded one (SSUBSCRIBE) on that primary, the publish script notifying with
// SPUBLISH. A subscription the cluster loses (its primary failed over, its slot moved) is re-read from the
// channel's last message when the cluster makes it again, exactly as after an outage.
//
// When Redis goes away, publish/read/info fail with broker_unavailable (503); live subscribers stay
// connected. The broker reconnects with backoff and re-subscribes; each listened channel is then re-read
// from the last message this node handed its sink, and what was published meanwhile is fed to the sink
// in order before the live messages that arrived during the re-read (subscribers skip what they saw).
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "broker/broker.hpp"
#include "broker/presence_store.hpp"
#include "broker/redis_cluster.hpp"
#include "broker/redis_options.hpp"
#include "core/namespace_settings.hpp"

struct redisAsyncContext;
struct redisReply;

namespace herald {

class RedisBroker final : public Broker, public PresenceStore {
 public:
  // `listened` says whether this node has subscribers of a channel (read from any thread).
  RedisBroker(RedisOptions options, NamespacePolicy policy, std::function<bool(const std::string&)> listened);
  ~RedisBroker() override;
  RedisBroker(const RedisBroker&) = delete;
  RedisBroker& operator=(const RedisBroker&) = delete;

  void set_sink(MessageSink sink) override;
  void publish(PublishRequest request, PublishCallback done) override;
  void read(const std::string& channel, const ReadFrom& from, std::size_t limit, ReadCallback done) override;
  void info(const std::string& channel, InfoCallback done) override;
  void sweep(const std::function<bool(const std::string&)>& listened) override;

  // The presence store (presence_store.hpp) on the same connection and clock; in redis_presence.cpp.
  void presence_hold(const std::string& channel, const PresenceMember& member, std::chrono::milliseconds lease,
                     ChangeCallback done) override;
  void presence_drop(const std::string& channel, const std::string& client, ChangeCallback done) override;
  void presence_reap(const std::string& channel, ReapCallback done) override;
  void presence_list(const std::string& channel, std::size_t limit, ListCallback done) override;

  // A sorted set per user, `<key_prefix>{u:<user>}:c` (redis_scripts.hpp): every node's connections. Its
  // hash tag is the user's: on a cluster each user's count lives in a slot of its own, and the scripts
  // and the release go to that slot's primary.
  void user_admit(const std::string& user, const std::string& connection, std::size_t limit,
                  std::chrono::milliseconds lease, UserAdmitCallback done) override;
  void user_release(const std::string& user, const std::string& connection) override;
  void user_refresh(const std::vector<std::pair<std::string, std::string>>& held,
                    std::chrono::milliseconds lease) override;
  std::string user_key(const std::string& user) const { return options_.key_prefix + "{u:" + user + "}:c"; }

  // One Redis pub/sub channel, `<key_prefix>control`, that every node subscribes to from the moment it
  // is up: a command is PUBLISHed there and each node's sink hears it. On a cluster it stays a plain
  // channel (a PUBLISH reaches every node of the cluster), subscribed and published on one agreed node.
  void set_control_sink(ControlSink sink) override;
  void control(std::string command, ControlCallback done) override;

  // Both connections are up (readable from any thread).
  bool connected() const { return up_.load(); }
  // Closes the connections (pending calls fail) and joins the broker's thread. Idempotent.
  void stop();

  // The scripts loaded at connect, indexing the table in redis_connection.cpp (checked there when compiled).
  enum class Script {
    publish,
    read,
    info,
    presence_hold,
    presence_drop,
    presence_reap,
    presence_list,
    publish_once,
    user_admit,
    user_refresh,
    count
  };

 private:
  using ReplyHandler = std::function<void(redisReply*)>;  // nullptr: no reply (the connection is gone)
  enum class Subscription { none, subscribing, subscribed, unsubscribing };
  struct ChannelState {
    Subscription subscription = Subscription::none;
    std::vector<std::function<void(bool)>> waiting;  // reads waiting for the subscription (false: it failed)
    std::optional<Cursor> last_dispatched;           // the newest message handed to the sink
    std::optional<Cursor> baseline;                  // the newest message when a reader first joined
    bool resync_needed = false;                      // re-subscribed after an outage: re-read before live
    bool resyncing = false;
    unsigned resync_round = 0;     // a re-read's reply from an older round (a subscription lost since) is ignored
    std::vector<MessagePtr> held;  // live messages that arrived during the re-read
  };

  // Everything below runs on the broker's thread.
  void connect();
  redisAsyncContext* open_connection(std::string& error);
  void handshake();
  void connection_failed(const std::string& reason);
  void maybe_up();
  static void on_connect(const redisAsyncContext* context, int status);
  static void on_disconnect(const redisAsyncContext* context, int status);
  static void on_reply(redisAsyncContext* context, void* reply, void* handler);
  static void on_subscription_reply(redisAsyncContext* context, void* reply, void* self);
  static void on_control_reply(redisAsyncContext* context, void* reply, void* self);
  std::string control_channel() const { return options_.key_prefix + "control"; }

  void command(redisAsyncContext* context, const std::vector<std::string_view>& args, ReplyHandler handler);
  void key_command(const std::string& slot_key, std::vector<std::string> args, ReplyHandler handler);
  void run_script(Script script, const std::shared_ptr<std::vector<std::string>>& args, ReplyHandler handler);
  void read_now(const std::string& channel, const ReadFrom& from, std::size_t limit,
                std::function<void(std::variant<ReadResult, Error>)> done);

  void subscribe(const std::string& channel);
  void subscription_command(std::string_view verb, const std::string& channel);
  void on_pubsub(const std::string& type, const std::string& channel, const redisReply* payload);
  void dispatch(ChannelState& state, const MessagePtr& message);
  void resync(const std::string& channel, Cursor from);
  void start_cluster();
  void cluster_lost(const std::string& name);
  void cluster_failed(const std::string& name);
  void cluster_up();
  void on_cluster_control(std::string_view kind, const redisReply* payload);
  std::optional<std::string> channel_of(std::string_view pubsub_name) const;

  std::string meta_key(const std::string& channel) const;
  std::string stream_key(const std::string& channel) const;
  std::string pubsub_channel(const std::string& channel) const;
  std::string idempotency_key(const std::string& channel, const std::string& key) const;
  std::string presence_key(const std::string& channel, std::string_view suffix) const;

  RedisOptions options_;
  NamespacePolicy policy_;
  std::function<bool(const std::string&)> listened_;
  MessageSink sink_;
  ControlSink control_sink_;

  boost::asio::io_context io_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  boost::asio::steady_timer retry_timer_;
  boost::asio::steady_timer connect_timer_;
  redisAsyncContext* commands_ = nullptr;
  redisAsyncContext* subscriber_ = nullptr;
  bool commands_ready_ = false;
  bool subscriber_ready_ = false;
  bool up_here_ = false;      // the broker thread's view of up_
  bool ever_up_ = false;      // for the log: "reachable again" vs "connected"
  bool down_logged_ = false;  // each transition is logged once, not each retry
  bool stopping_ = false;
  std::chrono::milliseconds backoff_;
  std::array<std::string, static_cast<std::size_t>(Script::count)> script_sha_;
  std::unique_ptr<RedisCluster> cluster_;  // with Redis Cluster; commands_ and subscriber_ stay null
  bool cluster_mapped_ = false;            // the cluster knows its slot map
  bool control_heard_ = false;             // the control channel was subscribed once (cluster_up)
  std::string node_id_;                    // this node's name in presence leases (random per process)
  std::unordered_map<std::string, ChannelState> channels_;
  std::atomic<bool> up_{false};
  std::thread thread_;
};

}  // namespace herald
