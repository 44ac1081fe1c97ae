// The Redis broker's Broker interface: publishing, reading, channel info and sweeping as scripts, and the
// Pub/Sub side (subscriptions per listened channel, notifications to the sink, the re-read after a
// reconnect, the control channel). The connection and commands are in redis_connection.cpp.
#include "broker/redis_broker.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <charconv>

#include "broker/redis_reply.hpp"
#include "runtime/calling_loop.hpp"

namespace herald {
namespace {

namespace asio = boost::asio;
using namespace redis_reply;

constexpr std::size_t resync_page = 1000;
constexpr const char* login_channels = "_login:";  // login::events_channel()

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
