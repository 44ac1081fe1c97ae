// Presence on Redis (presence_store.hpp; the scripts and keys are in redis_scripts.hpp). Every call is
// one script, so a join or a leave is decided atomically for all nodes.
#include <hiredis/async.h>

#include <map>

#include "broker/redis_broker.hpp"
#include "broker/redis_reply.hpp"

namespace herald {

using namespace redis_reply;

namespace {

constexpr std::size_t reap_batch = 1000;

std::vector<PresenceMember> members_of(const redisReply* reply, std::size_t first) {
  std::vector<PresenceMember> members;
  if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY) return members;
  for (std::size_t i = first; i + 1 < reply->elements; i += 2) {
    members.push_back({std::string(text(reply->element[i])), std::string(text(reply->element[i + 1]))});
  }
  return members;
}

}  // namespace

std::string RedisBroker::presence_key(const std::string& channel, std::string_view suffix) const {
  return pubsub_channel(channel) + ":" + std::string(suffix);
}

void RedisBroker::presence_hold(const std::string& channel, const PresenceMember& member,
                                std::chrono::milliseconds lease, ChangeCallback done) {
  auto reply = on_calling_loop(std::move(done));
  auto args = std::make_shared<std::vector<std::string>>(std::vector<std::string>{
      presence_key(channel, "p"), presence_key(channel, "pn"), presence_key(channel, "pl:" + member.client),
      member.client, node_id_, std::to_string(lease.count()), member.name});
  asio::post(io_, [this, args, reply = std::move(reply)]() mutable {
    if (!up_here_) return reply(unavailable());
    run_script(Script::presence_hold, args, [reply](redisReply* r) {
      if (is_error(r)) return reply(failure(r));
      reply(number(r) == 1);
    });
  });
}

void RedisBroker::presence_drop(const std::string& channel, const std::string& client, ChangeCallback done) {
  auto reply = on_calling_loop(std::move(done));
  auto args = std::make_shared<std::vector<std::string>>(
      std::vector<std::string>{presence_key(channel, "p"), presence_key(channel, "pn"),
                               presence_key(channel, "pl:" + client), client, node_id_});
  asio::post(io_, [this, args, reply = std::move(reply)]() mutable {
    if (!up_here_) return reply(unavailable());
    run_script(Script::presence_drop, args, [reply](redisReply* r) {
      if (is_error(r)) return reply(failure(r));
      reply(number(r) == 1);
    });
  });
}

void RedisBroker::presence_reap(const std::string& channel, ReapCallback done) {
  auto reply = on_calling_loop(std::move(done));
  auto args = std::make_shared<std::vector<std::string>>(
      std::vector<std::string>{presence_key(channel, "p"), presence_key(channel, "pn"), presence_key(channel, "pl:"),
                               std::to_string(reap_batch)});
  asio::post(io_, [this, args, reply = std::move(reply)]() mutable {
    if (!up_here_) return reply({});
    run_script(Script::presence_reap, args,
               [reply](redisReply* r) { reply(members_of(is_error(r) ? nullptr : r, 0)); });
  });
}

void RedisBroker::presence_list(const std::string& channel, std::size_t limit, ListCallback done) {
  auto reply = on_calling_loop(std::move(done));
  auto args = std::make_shared<std::vector<std::string>>(
      std::vector<std::string>{presence_key(channel, "p"), presence_key(channel, "pn"), std::to_string(limit)});
  asio::post(io_, [this, args, reply = std::move(reply)]() mutable {
    if (!up_here_) return reply(unavailable());
    run_script(Script::presence_list, args, [reply](redisReply* r) {
      if (is_error(r)) return reply(failure(r));
      if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) return reply(broker_unavailable("Bad presence reply."));
      PresenceList list;
      list.count = number(r->element[0]);
      list.members = members_of(r, 1);
      reply(std::move(list));
    });
  });
}

// --- connections per user (broker.hpp, point 12) ----------------------------------------------------

void RedisBroker::user_admit(const std::string& user, const std::string& connection, std::size_t limit,
                             std::chrono::milliseconds lease, UserAdmitCallback done) {
  auto reply = on_calling_loop(std::move(done));
  auto args = std::make_shared<std::vector<std::string>>(
      std::vector<std::string>{user_key(user), connection, std::to_string(limit), std::to_string(lease.count())});
  asio::post(io_, [this, args, reply = std::move(reply)]() mutable {
    if (!up_here_) return reply(unavailable());
    run_script(Script::user_admit, args, [reply](redisReply* r) {
      if (is_error(r)) return reply(failure(r));
      reply(number(r) == 1);
    });
  });
}

void RedisBroker::user_release(const std::string& user, const std::string& connection) {
  asio::post(io_, [this, key = user_key(user), connection] {
    // Not up: the lease ends it.
    if (up_here_) key_command(key, {"ZREM", key, connection}, [](redisReply*) {});
  });
}

void RedisBroker::user_refresh(const std::vector<std::pair<std::string, std::string>>& held,
                               std::chrono::milliseconds lease) {
  // One script per user, with all of this node's connections of that user.
  std::map<std::string, std::vector<std::string>> by_user;
  for (const auto& [user, connection] : held) by_user[user].push_back(connection);
  for (auto& [user, connections] : by_user) {
    auto args = std::make_shared<std::vector<std::string>>(
        std::vector<std::string>{user_key(user), std::to_string(lease.count())});
    args->insert(args->end(), connections.begin(), connections.end());
    asio::post(io_, [this, args] {
      if (up_here_) run_script(Script::user_refresh, args, [](redisReply*) {});
    });
  }
}

}  // namespace herald
