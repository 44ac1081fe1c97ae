#include "broker/redis_broker.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <charconv>

#include "broker/redis_asio.hpp"
#include "broker/redis_reply.hpp"
#include "broker/redis_scripts.hpp"
#include "broker/redis_sentinel.hpp"
#include "runtime/calling_loop.hpp"

namespace herald {
namespace {

namespace asio = boost::asio;
using namespace redis_reply;

constexpr auto first_backoff = std::chrono::milliseconds(100);
constexpr auto max_backoff = std::chrono::milliseconds(1000);
constexpr std::size_t resync_page = 1000;
constexpr const char* login_channels = "_login:";  // login::events_channel()

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

// A reply of the read script (redis_scripts.hpp) as a ReadResult.
std::optional<ReadResult> parse_read(const std::string& channel, const redisReply* reply) {
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 5 || (reply->elements - 5) % 5 != 0) return std::nullopt;
  std::uint64_t history = number(reply->element[0]);
  ReadResult result;
  result.newest = {history, number(reply->element[1])};
  result.gap = number(reply->element[2]) != 0;
  result.more = number(reply->element[3]) != 0;
  Cursor before{history, number(reply->element[4])};
  for (std::size_t i = 5; i < reply->elements; i += 5) {
    redisReply** f = reply->element + i;
    result.messages.push_back(
        std::make_shared<const Message>(channel, Cursor{history, number(f[0])}, static_cast<std::int64_t>(number(f[1])),
                                        std::string(text(f[2])), std::string(text(f[3])), text(f[4]) == "1"));
  }
  result.cursor = result.messages.empty() ? before : result.messages.back()->cursor();
  if (result.gap) result.gap_cursor = before;
  return result;
}

// A Pub/Sub payload of the publish script: "<history> <seq> <time_ms> <j> <event length>\n<event><data>".
MessagePtr parse_notification(const std::string& channel, std::string_view payload) {
  auto newline = payload.find('\n');
  if (newline == std::string_view::npos) return nullptr;
  std::uint64_t fields[5] = {};
  const char* at = payload.data();
  const char* end = payload.data() + newline;
  for (auto& field : fields) {
    auto [next, error] = std::from_chars(at, end, field);
    if (error != std::errc{}) return nullptr;
    at = next < end ? next + 1 : next;
  }
  std::string_view rest = payload.substr(newline + 1);
  if (fields[4] > rest.size()) return nullptr;
  return std::make_shared<const Message>(channel, Cursor{fields[0], fields[1]}, static_cast<std::int64_t>(fields[2]),
                                         std::string(rest.substr(0, fields[4])), std::string(rest.substr(fields[4])),
                                         fields[3] == 1);
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

std::optional<std::string> RedisBroker::channel_of(std::string_view name) const {
  const std::string& prefix = options_.key_prefix;
  if (name.starts_with(prefix + "{login}" + login_channels)) return std::string(name.substr(prefix.size() + 7));
  if (!name.starts_with(prefix + "{") || !name.ends_with("}")) return std::nullopt;
  return std::string(name.substr(prefix.size() + 1, name.size() - prefix.size() - 2));
}

std::string RedisBroker::meta_key(const std::string& channel) const { return pubsub_channel(channel) + ":m"; }
std::string RedisBroker::stream_key(const std::string& channel) const { return pubsub_channel(channel) + ":s"; }
// P{C}, or P{login}C for a login's event channel: those live in the slot of the login's own keys, so the
// login's scripts can move a request and publish its event in one step on a Redis Cluster too.
std::string RedisBroker::pubsub_channel(const std::string& channel) const {
  if (channel.starts_with(login_channels)) return options_.key_prefix + "{login}" + channel;
  return options_.key_prefix + "{" + channel + "}";
}
std::string RedisBroker::idempotency_key(const std::string& channel, const std::string& key) const {
  return options_.key_prefix + "{" + channel + "}:i:" + key;
}

// --- the Broker interface ---------------------------------------------------------------------------

void RedisBroker::set_sink(MessageSink sink) {
  asio::post(io_, [this, sink = std::move(sink)]() mutable { sink_ = std::move(sink); });
}

void RedisBroker::publish(PublishRequest request, PublishCallback done) {
  auto reply = on_calling_loop(std::move(done));
  const HistoryLimits& limits = policy_.for_channel(request.channel).history;
  const bool keyed = !request.idempotency_key.empty();
  auto args = std::make_shared<std::vector<std::string>>(std::vector<std::string>{
      meta_key(request.channel), stream_key(request.channel), pubsub_channel(request.channel),
      std::to_string(new_history_id()), std::to_string(limits.max_messages), std::to_string(limits.max_age.count()),
      std::move(request.event), std::move(request.data), request.is_json ? "1" : "0"});
  if (keyed) {
    // The key lives in the channel's slot and is decided by the publish script itself: no extra round trip.
    auto window = std::max(request.idempotency_window, std::chrono::milliseconds(1));
    args->insert(args->begin() + 2, idempotency_key(request.channel, request.idempotency_key));
    args->push_back(std::to_string(window.count()));
  }
  const Script script = keyed ? Script::publish_once : Script::publish;
  asio::post(io_, [this, args, script, counted = request.counted, channel = std::move(request.channel),
                   reply = std::move(reply)]() mutable {
    if (!up_here_) return reply(unavailable());
    run_script(script, args,
               [this, args, keyed = script == Script::publish_once, counted, channel = std::move(channel),
                reply](redisReply* r) mutable {
                 if (is_error(r)) return reply(failure(r));
                 if (r->type != REDIS_REPLY_ARRAY || r->elements != (keyed ? 4U : 3U)) {
                   return reply(broker_unavailable("Bad publish reply."));
                 }
                 Cursor cursor{number(r->element[0]), number(r->element[1])};
                 if (keyed && number(r->element[3]) == 1) return reply(Replayed{cursor});
                 auto time_ms = static_cast<std::int64_t>(number(r->element[2]));
                 auto& a = *args;
                 const std::size_t event = keyed ? 7 : 6;  // the key's name is the third argument of publish_once
                 if (counted) count_published();
                 reply(std::make_shared<const Message>(std::move(channel), cursor, time_ms, std::move(a[event]),
                                                       std::move(a[event + 1]), a[event + 2] == "1"));
               });
  });
}

void RedisBroker::read(const std::string& channel, const ReadFrom& from, std::size_t limit, ReadCallback done) {
  auto reply = on_calling_loop(std::move(done));
  asio::post(io_, [this, channel, from, limit, reply = std::move(reply)]() mutable {
    if (!up_here_) return reply(unavailable());
    auto found = channels_.find(channel);
    if ((found == channels_.end() || found->second.subscription == Subscription::none) && !listened_(channel)) {
      // Nobody here listens (an interval poll: a subscriber joins the hub before it reads), so there is
      // nothing to hear live and no reason to subscribe in Redis.
      return read_now(channel, from, limit, std::move(reply));
    }
    ChannelState& state = found != channels_.end() ? found->second : channels_[channel];
    auto go = [this, channel, from, limit, reply](bool subscribed) mutable {
      if (!subscribed) return reply(unavailable());
      read_now(channel, from, limit, [this, channel, reply](std::variant<ReadResult, Error> outcome) {
        if (auto* result = std::get_if<ReadResult>(&outcome)) {
          auto it = channels_.find(channel);
          if (it != channels_.end() && !it->second.baseline) it->second.baseline = result->newest;
        }
        reply(std::move(outcome));
      });
    };
    if (state.subscription == Subscription::subscribed) return go(true);
    state.waiting.emplace_back(std::move(go));
    if (state.subscription == Subscription::none) subscribe(channel);
    // subscribing: the confirmation runs the waiting reads; unsubscribing: its confirmation subscribes again
  });
}

void RedisBroker::read_now(const std::string& channel, const ReadFrom& from, std::size_t limit,
                           std::function<void(std::variant<ReadResult, Error>)> done) {
  const HistoryLimits& limits = policy_.for_channel(channel).history;
  std::vector<std::string> args{meta_key(channel),
                                stream_key(channel),
                                std::to_string(limits.max_messages),
                                std::to_string(limits.max_age.count()),
                                "now",
                                "0",
                                "0",
                                std::to_string(limit)};
  if (from.since) {
    args[4] = "since";
    args[5] = std::to_string(from.since->history);
    args[6] = std::to_string(from.since->seq);
  } else if (from.last && *from.last > 0) {
    args[4] = "last";
    args[5] = std::to_string(*from.last);
  }
  run_script(Script::read, std::make_shared<std::vector<std::string>>(std::move(args)),
             [channel, done = std::move(done)](redisReply* r) {
               if (is_error(r)) return done(failure(r));
               auto result = parse_read(channel, r);
               if (!result) return done(broker_unavailable("Bad read reply."));
               done(std::move(*result));
             });
}

void RedisBroker::info(const std::string& channel, InfoCallback done) {
  auto reply = on_calling_loop(std::move(done));
  auto args = std::make_shared<std::vector<std::string>>(std::vector<std::string>{
      meta_key(channel), stream_key(channel), std::to_string(policy_.for_channel(channel).history.max_age.count())});
  asio::post(io_, [this, args, reply = std::move(reply)]() mutable {
    if (!up_here_) return reply(unavailable());
    run_script(Script::info, args, [reply](redisReply* r) {
      if (is_error(r)) return reply(failure(r));
      ChannelInfo info;
      if (r->type == REDIS_REPLY_ARRAY && r->elements == 3) {
        Cursor last{number(r->element[0]), number(r->element[1])};
        if (last.seq > 0) info.last_id = last;
        info.kept = number(r->element[2]);
      }
      reply(info);
    });
  });
}

void RedisBroker::sweep(const std::function<bool(const std::string&)>& listened) {
  asio::post(io_, [this, listened] {
    if (!up_here_) return;
    for (auto& [name, state] : channels_) {
      // With a cluster, a subscription being made again after a failover is let go too when nobody
      // listens any more (the cluster would otherwise keep trying).
      bool settled = state.subscription == Subscription::subscribed ||
                     (cluster_ && state.subscription == Subscription::subscribing);
      if (!settled || !state.waiting.empty() || state.resyncing || listened(name)) continue;
      state.subscription = Subscription::unsubscribing;
      subscription_command("UNSUBSCRIBE", name);
    }
  });
}

// --- Pub/Sub ----------------------------------------------------------------------------------------

void RedisBroker::subscribe(const std::string& channel) {
  channels_[channel].subscription = Subscription::subscribing;
  subscription_command("SUBSCRIBE", channel);
}

// hiredis keeps the SUBSCRIBE callback for the channel: it receives the confirmation, every message and
// the UNSUBSCRIBE confirmation (an UNSUBSCRIBE's own callback is never called, so it gets the same one).
void RedisBroker::subscription_command(std::string_view verb, const std::string& channel) {
  std::string name = pubsub_channel(channel);
  if (cluster_) return verb == "SUBSCRIBE" ? cluster_->subscribe(name) : cluster_->unsubscribe(name);
  if (subscriber_ == nullptr) return;
  const char* argv[] = {verb.data(), name.c_str()};
  std::size_t lengths[] = {verb.size(), name.size()};
  redisAsyncCommandArgv(subscriber_, &RedisBroker::on_subscription_reply, this, 2, argv, lengths);
}

void RedisBroker::on_subscription_reply(redisAsyncContext* context, void* reply, void* self_pointer) {
  auto* self = static_cast<RedisBroker*>(self_pointer);
  auto* r = static_cast<redisReply*>(reply);
  if (r == nullptr || context != self->subscriber_ || r->type != REDIS_REPLY_ARRAY || r->elements < 3) return;
  auto channel = self->channel_of(text(r->element[1]));
  if (channel) self->on_pubsub(std::string(text(r->element[0])), *channel, r->element[2]);
}

void RedisBroker::on_control_reply(redisAsyncContext* context, void* reply, void* self_pointer) {
  auto* self = static_cast<RedisBroker*>(self_pointer);
  auto* r = static_cast<redisReply*>(reply);
  if (r == nullptr || context != self->subscriber_ || r->type != REDIS_REPLY_ARRAY || r->elements < 3) return;
  std::string_view type = text(r->element[0]);
  if (type == "subscribe") {
    self->subscriber_ready_ = true;
    self->maybe_up();
  } else if (type == "message" && self->control_sink_) {
    self->control_sink_(std::string(text(r->element[2])));
  }
}

void RedisBroker::set_control_sink(ControlSink sink) {
  asio::post(io_, [this, sink = std::move(sink)]() mutable { control_sink_ = std::move(sink); });
}

void RedisBroker::control(std::string command_text, ControlCallback done) {
  auto reply = on_calling_loop(std::move(done));
  asio::post(io_, [this, command_text = std::move(command_text), reply = std::move(reply)]() mutable {
    if (!up_here_) return reply(unavailable());
    // On a cluster PUBLISH answers the subscribers of the node it was sent to: the one all nodes subscribe
    // on (start_cluster).
    key_command(control_channel(), {"PUBLISH", control_channel(), command_text}, [reply](redisReply* r) {
      if (is_error(r)) return reply(failure(r));
      reply(static_cast<std::size_t>(number(r)));  // the nodes subscribed: one connection each
    });
  });
}

void RedisBroker::on_pubsub(const std::string& type, const std::string& channel, const redisReply* payload) {
  auto it = channels_.find(channel);
  if (it == channels_.end()) return;
  ChannelState& state = it->second;
  if (type == "subscribe") {
    state.subscription = Subscription::subscribed;
    if (state.resync_needed) resync(channel, state.last_dispatched ? *state.last_dispatched : *state.baseline);
    for (auto& wait : std::exchange(state.waiting, {})) wait(true);
  } else if (type == "unsubscribe") {
    if (!state.waiting.empty()) return subscribe(channel);  // a reader came while it was leaving
    channels_.erase(it);
  } else if (type == "message") {
    if (state.subscription != Subscription::subscribed) return;
    MessagePtr message = parse_notification(channel, text(payload));
    if (!message) return spdlog::warn("redis: unreadable notification on channel {}", channel);
    if (state.resyncing) return state.held.push_back(std::move(message));
    dispatch(state, message);
  }
}

void RedisBroker::dispatch(ChannelState& state, const MessagePtr& message) {
  Cursor cursor = message->cursor();
  if (state.last_dispatched && state.last_dispatched->history == cursor.history &&
      cursor.seq <= state.last_dispatched->seq) {
    return;  // already handed on (a re-read and a live notification overlap)
  }
  state.last_dispatched = cursor;
  if (sink_) sink_(message);
}

// After an outage: what was published while this node was away, in order, then what arrived meanwhile.
void RedisBroker::resync(const std::string& channel, Cursor from) {
  ChannelState& state = channels_[channel];
  state.resync_needed = false;
  state.resyncing = true;
  unsigned round = ++state.resync_round;
  read_now(channel, {.since = from}, resync_page, [this, channel, round](std::variant<ReadResult, Error> outcome) {
    auto it = channels_.find(channel);
    if (it == channels_.end() || !it->second.resyncing || it->second.resync_round != round) return;
    ChannelState& state = it->second;
    auto* result = std::get_if<ReadResult>(&outcome);
    if (result == nullptr) {
      // Redis refused the read (the connection going again resets everything anyway): go live as best
      // we can rather than hold the channel's messages forever.
      spdlog::error("redis: could not re-read channel {} after reconnecting: {}", channel,
                    std::get<Error>(outcome).message);
      state.resyncing = false;
      for (const auto& message : std::exchange(state.held, {})) dispatch(state, message);
      return;
    }
    if (result->gap) spdlog::warn("redis: channel {} lost history during the outage (gap)", channel);
    for (const auto& message : result->messages) dispatch(state, message);
    if (result->more) return resync(channel, result->cursor);
    state.resyncing = false;
    for (const auto& message : std::exchange(state.held, {})) dispatch(state, message);
  });
}

}  // namespace herald
