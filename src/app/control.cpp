#include "app/control.hpp"

#include <spdlog/spdlog.h>

#include <boost/json/array.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <random>

#include "runtime/calling_loop.hpp"

namespace herald {
namespace {

std::string member(const boost::json::object& object, std::string_view key) {
  auto it = object.find(key);
  return it != object.end() && it->value().is_string() ? std::string(it->value().as_string()) : std::string();
}

std::size_t count_member(const boost::json::object& object, std::string_view key, std::size_t fallback) {
  auto it = object.find(key);
  if (it == object.end() || !it->value().is_int64() || it->value().as_int64() < 0) return fallback;
  return static_cast<std::size_t>(it->value().as_int64());
}

std::string random_node_name() {
  std::random_device random;
  return fmt::format("{:08x}{:08x}", random(), random());
}

boost::json::object by_transport(const std::array<std::int64_t, transport_count>& counts) {
  boost::json::object out;
  for (std::size_t t = 0; t < transport_count; ++t) {
    out[transport_name(static_cast<Transport>(t))] = counts[t];
  }
  return out;
}

}  // namespace

Control::Control(Broker& broker, EventLoops& loops, SubscriberCounts& counts)
    : broker_(broker), loops_(loops), counts_(counts), node_(random_node_name()) {}

void Control::start() {
  // Runs on the broker's thread (Redis) or the publishing loop (memory): work on connections is posted to
  // each loop, whose hub alone knows its connections.
  broker_.set_control_sink([this](const std::string& text) { on_command(text); });
}

void Control::on_command(const std::string& text) {
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(text, ec);
  if (ec || !value.is_object()) return spdlog::warn("control: an unreadable command: {}", text);
  const auto& command = value.as_object();
  const std::string op = member(command, "op");
  if (op == "answer") return on_answer(member(command, "id"), text);
  if (op == "query") return answer(command);
  const std::string user = member(command, "user");
  if (user.empty()) return spdlog::warn("control: a command without a user: {}", text);
  if (op == "disconnect") {
    spdlog::info("control: disconnecting user {}", user);
    loops_.post_to_all([user](Hub& hub) { hub.disconnect_user(user); });
  } else if (op == "unsubscribe") {
    std::string channel = member(command, "channel");
    spdlog::info("control: unsubscribing user {} from {}", user, channel);
    loops_.post_to_all([user, channel](Hub& hub) { hub.revoke(user, channel); });
  } else {
    spdlog::warn("control: an unknown command: {}", text);
  }
}

void Control::answer(const boost::json::object& query) {
  const std::string id = member(query, "id");
  const std::string what = member(query, "what");
  boost::json::object reply{{"op", "answer"}, {"id", id}, {"node", node_}};
  auto send = [this](const boost::json::object& reply) {
    broker_.control(boost::json::serialize(reply), [](const std::variant<std::size_t, Error>&) {});
  };
  if (what == "channels") {
    // Counts are readable from any thread: no loop is bothered.
    boost::json::object channels;
    for (const auto& [name, counts] : counts_.listened_with_prefix(member(query, "prefix"), member(query, "after"),
                                                                   count_member(query, "limit", 100))) {
      channels[name] = by_transport(counts);
    }
    reply["channels"] = std::move(channels);
    return send(reply);
  }
  if (what == "user") {
    // Each loop counts its own; the last to answer sends this node's reply.
    struct Tally {
      std::mutex mutex;
      std::array<std::int64_t, transport_count> counts{};
      std::size_t loops_left;
      boost::json::object reply;
    };
    auto tally = std::make_shared<Tally>();
    tally->loops_left = loops_.size();
    tally->reply = std::move(reply);
    loops_.post_to_all([tally, user = member(query, "user"), send](Hub& hub) {
      auto mine = hub.connections_of(user);
      std::lock_guard lock(tally->mutex);
      for (std::size_t t = 0; t < transport_count; ++t) tally->counts[t] += static_cast<std::int64_t>(mine[t]);
      if (--tally->loops_left > 0) return;
      tally->reply["connections"] = by_transport(tally->counts);
      send(tally->reply);
    });
    return;
  }
  spdlog::warn("control: an unknown query: {}", what);
}

void Control::ask(const std::string& query, ServerContext::ClusterAnswers done) {
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(query, ec);
  if (ec || !value.is_object()) return done(Error{"bad_request", "An unreadable cluster query."});
  const std::string id = node_ + ":" + std::to_string(next_id_.fetch_add(1));
  value.as_object()["op"] = "query";
  value.as_object()["id"] = id;
  asio::io_context* loop = calling_loop();
  auto timer = loop ? std::make_shared<asio::steady_timer>(*loop) : nullptr;
  {
    std::lock_guard lock(mutex_);
    pending_[id] = Pending{std::move(done), loop, timer, {}, 0, false};
  }
  if (timer) {
    timer->expires_after(answer_timeout);
    timer->async_wait([this, id](error_code ec) {
      if (ec) return;
      std::lock_guard lock(mutex_);
      if (auto it = pending_.find(id); it != pending_.end()) finish_locked(it);
    });
  }
  broker_.control(boost::json::serialize(value), [this, id](std::variant<std::size_t, Error> outcome) {
    std::unique_lock lock(mutex_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    if (auto* error = std::get_if<Error>(&outcome)) {
      Pending failed = std::move(it->second);
      pending_.erase(it);
      lock.unlock();
      if (failed.timer) failed.timer->cancel();  // on the asking loop (broker.hpp, point 6)
      return failed.done(*error);
    }
    it->second.expected = std::get<std::size_t>(outcome);
    it->second.expected_known = true;
    if (it->second.answers.size() >= it->second.expected) finish_locked(it);
  });
}

void Control::on_answer(const std::string& id, std::string text) {
  std::lock_guard lock(mutex_);
  auto it = pending_.find(id);
  if (it == pending_.end()) return;  // another node's query, or one that already timed out
  it->second.answers.push_back(std::move(text));
  if (it->second.expected_known && it->second.answers.size() >= it->second.expected) finish_locked(it);
}

void Control::finish_locked(std::unordered_map<std::string, Pending>::iterator it) {
  Pending pending = std::move(it->second);
  pending_.erase(it);
  // The timer belongs to the asking loop: cancelled there (a timer is not for two threads at once).
  auto run = [timer = std::move(pending.timer), done = std::move(pending.done),
              answers = std::move(pending.answers)]() mutable {
    if (timer) timer->cancel();
    done(std::move(answers));
  };
  if (pending.loop != nullptr) {
    asio::post(*pending.loop, std::move(run));
  } else {
    run();
  }
}

}  // namespace herald
