// The Redis broker's connection side: its thread and lifecycle, connecting (to one Redis, the primary a
// Sentinel names, or a cluster's primaries), loading the scripts, reconnecting with backoff, and sending
// commands and scripts (routed by slot on a cluster). What it carries, the Broker interface and the
// Pub/Sub side, is in redis_broker.cpp; presence in redis_presence.cpp.
#include "broker/redis_broker.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>

#include "broker/redis_asio.hpp"
#include "broker/redis_reply.hpp"
#include "broker/redis_scripts.hpp"
#include "broker/redis_sentinel.hpp"

namespace herald {
namespace {

namespace asio = boost::asio;
using namespace redis_reply;

constexpr auto first_backoff = std::chrono::milliseconds(100);
constexpr auto max_backoff = std::chrono::milliseconds(1000);

// Every script with how many of its arguments are keys, in the order of RedisBroker::Script.
struct ScriptEntry {
  RedisBroker::Script id;
  const char* text;
  const char* keys;
};
using Script = RedisBroker::Script;
constexpr ScriptEntry scripts[] = {
    {Script::publish, redis_scripts::publish, "2"},
    {Script::read, redis_scripts::read, "2"},
    {Script::info, redis_scripts::info, "2"},
    {Script::presence_hold, redis_scripts::presence_hold, "3"},
    {Script::presence_drop, redis_scripts::presence_drop, "3"},
    {Script::presence_reap, redis_scripts::presence_reap, "2"},
    {Script::presence_list, redis_scripts::presence_list, "2"},
    {Script::publish_once, redis_scripts::publish_once, "3"},
    {Script::user_admit, redis_scripts::user_admit, "1"},
    {Script::user_refresh, redis_scripts::user_refresh, "1"},
};
constexpr int script_count = static_cast<int>(Script::count);
static_assert(std::size(scripts) == script_count, "a script of RedisBroker::Script is missing from the table");
static_assert(
    [] {
      for (int i = 0; i < script_count; ++i) {
        if (static_cast<int>(scripts[i].id) != i) return false;
      }
      return true;
    }(),
    "the script table is not in the order of RedisBroker::Script");

std::string full_script(int index, const RedisOptions& options) {
  return redis_scripts::prelude_for(options.clustered(), options.follows_failover()) + scripts[index].text;
}

}  // namespace

RedisBroker::RedisBroker(RedisOptions options, NamespacePolicy policy, std::function<bool(const std::string&)> listened)
    : options_(std::move(options)),
      policy_(std::move(policy)),
      listened_(std::move(listened)),
      work_(asio::make_work_guard(io_)),
      retry_timer_(io_),
      connect_timer_(io_),
      backoff_(first_backoff),
      node_id_(std::to_string(new_history_id())) {
  asio::post(io_, [this] { connect(); });
  thread_ = std::thread([this] { io_.run(); });
}

RedisBroker::~RedisBroker() { stop(); }

void RedisBroker::stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    stopping_ = true;
    retry_timer_.cancel();
    connect_timer_.cancel();
    // Freeing runs every pending callback with no reply: waiting callers hear broker_unavailable.
    if (auto* c = std::exchange(commands_, nullptr)) redisAsyncFree(c);
    if (auto* s = std::exchange(subscriber_, nullptr)) redisAsyncFree(s);
    if (cluster_) cluster_->stop();
    for (auto& [name, state] : channels_) {
      for (auto& wait : std::exchange(state.waiting, {})) wait(false);
    }
    channels_.clear();
    up_ = false;
    work_.reset();
  });
  thread_.join();
}

// --- connection -------------------------------------------------------------------------------------

void RedisBroker::connect() {
  if (stopping_) return;
  if (options_.clustered()) return start_cluster();
  if (!options_.sentinels.empty()) {
    // Asked again at every attempt: after a failover the primary is elsewhere.
    std::string error;
    auto primary = find_primary(options_, error);
    if (!primary) return connection_failed(error);
    options_.host = primary->host;
    options_.port = primary->port;
  }
  commands_ready_ = subscriber_ready_ = false;
  std::string error;
  commands_ = open_connection(error);
  subscriber_ = open_connection(error);
  if (commands_ == nullptr || subscriber_ == nullptr) return connection_failed(error);
  handshake();
  connect_timer_.expires_after(options_.connect_timeout);
  connect_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec && !up_here_) connection_failed("timed out connecting");
  });
}

redisAsyncContext* RedisBroker::open_connection(std::string& error) {
  // A host name is resolved here, blocking this thread only (never an event loop).
  redisAsyncContext* context = redisAsyncConnect(options_.host.c_str(), options_.port);
  if (context == nullptr) {
    error = "out of memory";
    return nullptr;
  }
  if (context->err != 0) {
    error = context->errstr;
    redisAsyncFree(context);
    return nullptr;
  }
  context->data = this;
  attach_to_asio(context, io_);
  redisAsyncSetConnectCallback(context, &RedisBroker::on_connect);
  redisAsyncSetDisconnectCallback(context, &RedisBroker::on_disconnect);
  return context;
}

// Commands are queued before the TCP connect completes; hiredis sends them once it does.
void RedisBroker::handshake() {
  auto check = [this](const char* what) {
    return [this, what](redisReply* reply) {
      if (reply != nullptr && reply->type == REDIS_REPLY_ERROR) {
        if (!down_logged_) spdlog::error("redis: {} refused: {}", what, text(reply));
        down_logged_ = true;
        connection_failed(std::string(what) + " refused");
      }
    };
  };
  for (redisAsyncContext* context : {commands_, subscriber_}) {
    if (!options_.password.empty()) {
      if (options_.username.empty()) {
        command(context, {"AUTH", options_.password}, check("AUTH"));
      } else {
        command(context, {"AUTH", options_.username, options_.password}, check("AUTH"));
      }
    }
  }
  if (options_.db != 0) command(commands_, {"SELECT", std::to_string(options_.db)}, check("SELECT"));
  if (!options_.sentinels.empty()) {
    // Sentinel may still name a primary it is demoting: only a primary will do.
    command(commands_, {"ROLE"}, [this](redisReply* reply) {
      if (reply == nullptr || is_error(reply)) return;
      if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0 || text(reply->element[0]) != "master") {
        connection_failed("not the primary (a failover is under way)");
      }
    });
  }
  for (int i = 0; i < script_count; ++i) {
    std::string script = full_script(i, options_);
    command(commands_, {"SCRIPT", "LOAD", script}, [this, i](redisReply* reply) {
      if (reply == nullptr || reply->type != REDIS_REPLY_STRING) {
        if (reply != nullptr) {
          if (!down_logged_) spdlog::error("redis: SCRIPT LOAD refused: {}", text(reply));
          down_logged_ = true;
          connection_failed("SCRIPT LOAD refused");
        }
        return;
      }
      script_sha_[i] = std::string(text(reply));
      if (i == script_count - 1) {
        commands_ready_ = true;
        maybe_up();
      }
    });
  }
  // The control channel first: a node is up only once it hears commands (on_control_reply says when).
  command(subscriber_, {"PING"}, [this](redisReply* reply) {
    if (is_error(reply) || subscriber_ == nullptr) return;
    std::string name = control_channel();
    const char* argv[] = {"SUBSCRIBE", name.c_str()};
    std::size_t lengths[] = {9, name.size()};
    redisAsyncCommandArgv(subscriber_, &RedisBroker::on_control_reply, this, 2, argv, lengths);
  });
}

void RedisBroker::maybe_up() {
  if (!commands_ready_ || !subscriber_ready_ || up_here_) return;
  connect_timer_.cancel();
  up_here_ = true;
  up_ = true;
  backoff_ = first_backoff;
  down_logged_ = false;
  // Re-subscribe to what this node's clients still listen to; their messages of the outage are re-read.
  std::size_t resubscribed = 0;
  for (auto it = channels_.begin(); it != channels_.end();) {
    auto& [name, state] = *it;
    if (state.waiting.empty() && !listened_(name)) {
      it = channels_.erase(it);
      continue;
    }
    state.resync_needed = state.last_dispatched || state.baseline;
    subscribe(name);
    ++resubscribed;
    ++it;
  }
  if (ever_up_) {
    spdlog::warn("redis: reachable again at {}:{}; re-subscribed {} channels", options_.host, options_.port,
                 resubscribed);
  } else {
    spdlog::info("redis: connected to {}:{} (db {})", options_.host, options_.port, options_.db);
  }
  ever_up_ = true;
}

void RedisBroker::connection_failed(const std::string& reason) {
  if (stopping_) return;
  bool was_up = up_here_;
  up_here_ = false;
  connect_timer_.cancel();
  up_ = false;
  commands_ready_ = subscriber_ready_ = false;
  // Channels first, so the replies that freeing cancels (a re-read in flight) find nothing to finish.
  for (auto& [name, state] : channels_) {
    state.subscription = Subscription::none;
    state.resyncing = false;
    state.held.clear();
    for (auto& wait : std::exchange(state.waiting, {})) wait(false);
  }
  // Null the pointers before freeing: freeing a connected context calls on_disconnect, which then finds
  // nothing to do.
  if (auto* c = std::exchange(commands_, nullptr)) redisAsyncFree(c);
  if (auto* s = std::exchange(subscriber_, nullptr)) redisAsyncFree(s);
  if (was_up) {
    spdlog::error("redis: lost the connection to {}:{} ({}); publishing answers 503 until it returns", options_.host,
                  options_.port, reason);
  } else if (!down_logged_) {
    spdlog::error("redis: cannot reach {}:{} ({}); retrying", options_.host, options_.port, reason);
  }
  down_logged_ = true;
  retry_timer_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, std::chrono::duration_cast<std::chrono::milliseconds>(max_backoff));
  retry_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec && commands_ == nullptr && subscriber_ == nullptr) connect();
  });
}

void RedisBroker::on_connect(const redisAsyncContext* context, int status) {
  auto* self = static_cast<RedisBroker*>(context->data);
  if (status == REDIS_OK) return;
  // hiredis frees the context after this callback.
  if (context == self->commands_) self->commands_ = nullptr;
  if (context == self->subscriber_) self->subscriber_ = nullptr;
  self->connection_failed(context->errstr);
}

void RedisBroker::on_disconnect(const redisAsyncContext* context, int /*status*/) {
  auto* self = static_cast<RedisBroker*>(context->data);
  if (context != self->commands_ && context != self->subscriber_) return;  // one we freed ourselves
  if (context == self->commands_) self->commands_ = nullptr;
  if (context == self->subscriber_) self->subscriber_ = nullptr;
  self->connection_failed(context->err != 0 ? context->errstr : "closed by the server");
}

// --- commands ---------------------------------------------------------------------------------------

void RedisBroker::on_reply(redisAsyncContext* /*context*/, void* reply, void* handler) {
  std::unique_ptr<ReplyHandler> owned(static_cast<ReplyHandler*>(handler));
  (*owned)(static_cast<redisReply*>(reply));
}

void RedisBroker::command(redisAsyncContext* context, const std::vector<std::string_view>& args, ReplyHandler handler) {
  if (context == nullptr) return handler(nullptr);
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (auto arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  auto* owned = new ReplyHandler(std::move(handler));
  if (redisAsyncCommandArgv(context, &RedisBroker::on_reply, owned, static_cast<int>(argv.size()), argv.data(),
                            lengths.data()) != REDIS_OK) {
    std::unique_ptr<ReplyHandler> failed(owned);
    (*failed)(nullptr);
  }
}

// A command on the key's node: the primary of its slot on a cluster, the one connection otherwise.
void RedisBroker::key_command(const std::string& slot_key, std::vector<std::string> args, ReplyHandler handler) {
  if (cluster_) return cluster_->command(slot_key, std::move(args), std::move(handler));
  command(commands_, std::vector<std::string_view>(args.begin(), args.end()), std::move(handler));
}

// EVALSHA of a script loaded at connect; if Redis lost its script cache meanwhile (SCRIPT FLUSH), EVAL.
void RedisBroker::run_script(Script script, const std::shared_ptr<std::vector<std::string>>& args,
                             ReplyHandler handler) {
  auto index = static_cast<int>(script);
  auto call = [args, index](std::string_view verb, std::string_view body) {
    std::vector<std::string_view> argv{verb, body, scripts[index].keys};
    argv.insert(argv.end(), args->begin(), args->end());
    return argv;
  };
  if (cluster_) {
    // To the primary of the channel's slot (the first key names it; all of a script's keys share it).
    auto owned = [call](std::string_view verb, std::string_view body) {
      auto views = call(verb, body);
      return std::vector<std::string>(views.begin(), views.end());
    };
    std::string slot_key = args->at(0);
    return cluster_->command(slot_key, owned("EVALSHA", script_sha_[index]),
                             [this, index, slot_key, owned, handler = std::move(handler)](redisReply* reply) mutable {
                               if (reply != nullptr && text(reply).starts_with("NOSCRIPT")) {
                                 return cluster_->command(slot_key, owned("EVAL", full_script(index, options_)),
                                                          std::move(handler));
                               }
                               handler(reply);
                             });
  }
  command(commands_, call("EVALSHA", script_sha_[index]),
          [this, index, args, call, handler = std::move(handler)](redisReply* reply) mutable {
            if (reply != nullptr && text(reply).starts_with("NOSCRIPT")) {
              std::string body = full_script(index, options_);
              return command(commands_, call("EVAL", body), std::move(handler));
            }
            bool demoted = reply != nullptr && reply->type == REDIS_REPLY_ERROR && text(reply).starts_with("READONLY");
            handler(reply);
            // The primary became a replica under us: reconnect (through Sentinel, to the new one).
            if (demoted && commands_ != nullptr) connection_failed("the primary became a replica");
          });
}

// --- Redis Cluster ----------------------------------------------------------------------------------

void RedisBroker::start_cluster() {
  for (int i = 0; i < script_count; ++i) script_sha_[i] = script_sha1(full_script(i, options_));
  RedisCluster::Events events;
  events.pushed = [this](std::string_view kind, const std::string& name, const redisReply* payload) {
    if (name == control_channel()) return on_cluster_control(kind, payload);
    if (auto channel = channel_of(name)) on_pubsub(std::string(kind), *channel, payload);
  };
  events.lost = [this](const std::string& name) { cluster_lost(name); };
  events.failed = [this](const std::string& name) { cluster_failed(name); };
  events.up = [this](bool up) {
    cluster_mapped_ = up;
    cluster_up();
  };
  cluster_ = std::make_unique<RedisCluster>(io_, options_, "broker", std::move(events));
  // The control channel is a plain one: a PUBLISH on any node of a cluster reaches every node, so it needs
  // no slot of its own; the cluster keeps it subscribed (on the primary of its name's slot, where control()
  // publishes too, so the answer counts every herald node), and makes it again when that node fails over.
  cluster_->subscribe_plain(control_channel());
  cluster_->start();
}

// Up once the slot map is known and the control channel was heard the first time (as on one Redis, a node
// is up only once it hears commands). A later loss of the control subscription (its node failed over)
// does not stop the channels of the other slots: the cluster makes it again on the new primary.
void RedisBroker::cluster_up() {
  bool up = cluster_mapped_ && control_heard_;
  if (up == up_here_) return;
  up_here_ = up;
  up_ = up;
  if (up) ever_up_ = true;
}

void RedisBroker::on_cluster_control(std::string_view kind, const redisReply* payload) {
  if (kind == "subscribe") {
    control_heard_ = true;
    cluster_up();
  } else if (kind == "message" && payload != nullptr && control_sink_) {
    control_sink_(std::string(text(payload)));
  }
}

// The cluster lost the channel's subscription and is making it again: when it confirms, the channel is
// re-read from its last message (on_pubsub), so what was published in between still reaches the sink.
void RedisBroker::cluster_lost(const std::string& name) {
  auto channel = channel_of(name);
  if (!channel) return;
  auto it = channels_.find(*channel);
  if (it == channels_.end()) return;
  ChannelState& state = it->second;
  if (state.subscription == Subscription::unsubscribing) return;
  state.subscription = Subscription::subscribing;
  state.resync_needed = state.resync_needed || state.last_dispatched || state.baseline;
  if (state.resyncing) {
    // A re-read in flight covers only what came before it: read again once subscribed.
    state.resyncing = false;
    state.resync_needed = true;
  }
}

// No primary could be reached for the channel's slot now: the reads waiting for its subscription answer
// 503; the cluster keeps trying, and the channel is re-read once subscribed.
void RedisBroker::cluster_failed(const std::string& name) {
  auto channel = channel_of(name);
  if (!channel) return;
  auto it = channels_.find(*channel);
  if (it == channels_.end()) return;
  for (auto& wait : std::exchange(it->second.waiting, {})) wait(false);
}

}  // namespace herald
