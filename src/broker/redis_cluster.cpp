#include "broker/redis_cluster.hpp"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>
#include <strings.h>

#include <openssl/sha.h>

#include <boost/asio/post.hpp>
#include <charconv>
#include <set>

#include "broker/resp_connection.hpp"

namespace herald {
namespace {

namespace asio = boost::asio;

constexpr std::size_t slot_count = 16384;
constexpr int max_hops = 5;  // redirections one command may follow
constexpr auto first_backoff = std::chrono::milliseconds(100);
constexpr auto max_backoff = std::chrono::milliseconds(1000);
constexpr auto periodic_refresh = std::chrono::seconds(2);

std::string_view text_of(const redisReply* reply) {
  if (reply == nullptr || reply->str == nullptr) return {};
  return {reply->str, reply->len};
}

bool is_kind(std::string_view kind, std::string_view expected) {
  return kind.size() == expected.size() && strncasecmp(kind.data(), expected.data(), kind.size()) == 0;
}

// CRC16-CCITT (XMODEM), the cluster's key hash.
std::uint16_t crc16(std::string_view data) {
  std::uint16_t crc = 0;
  for (unsigned char byte : data) {
    crc ^= static_cast<std::uint16_t>(byte << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc =
          (crc & 0x8000) != 0 ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021) : static_cast<std::uint16_t>(crc << 1);
    }
  }
  return crc;
}

}  // namespace

std::string script_sha1(const std::string& script) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(script.data()), script.size(), digest);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char byte : digest) {
    out += hex[byte >> 4];
    out += hex[byte & 15];
  }
  return out;
}

std::uint16_t key_slot(std::string_view key) {
  auto open = key.find('{');
  if (open != std::string_view::npos) {
    auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
  }
  return static_cast<std::uint16_t>(crc16(key) % slot_count);
}

RedisCluster::RedisCluster(asio::io_context& io, RedisOptions options, std::string name, Events events)
    : io_(io),
      options_(std::move(options)),
      name_(std::move(name)),
      events_(std::move(events)),
      slots_(slot_count),
      backoff_(first_backoff),
      refresh_timer_(io),
      periodic_timer_(io),
      alive_(std::make_shared<bool>(true)) {}

RedisCluster::~RedisCluster() { stop(); }

void RedisCluster::start() { refresh(); }

void RedisCluster::stop() {
  if (stopped_) return;
  stopped_ = true;
  *alive_ = false;
  mapped_ = false;  // first: what the closing answers calls back finds the cluster closed
  refresh_timer_.cancel();
  periodic_timer_.cancel();
  auto nodes = std::exchange(nodes_, {});
  for (auto& [key, node] : nodes) {
    if (node.commands) node.commands->close();
    if (node.subscriber) node.subscriber->close();
  }
}

void RedisCluster::post_event(std::function<void()> event) {
  // Events reach the owner from the loop, never from inside its own call (it may be iterating).
  asio::post(io_, [alive = alive_, event = std::move(event)] {
    if (*alive) event();
  });
}

// --- nodes and connections --------------------------------------------------------------------------

RedisCluster::Node& RedisCluster::node(const std::string& key, const RedisAddress& address) {
  auto [it, added] = nodes_.try_emplace(key);
  if (added) it->second.address = address;
  return it->second;
}

RespConnection& RedisCluster::commands_of(Node& n) {
  if (!n.commands || !n.commands->open()) {
    n.commands = std::make_shared<RespConnection>(io_, n.address);
    n.commands->start(options_.connect_timeout, options_.username, options_.password,
                      [this, key = n.address.text(), alive = alive_](const std::string& why) {
                        if (*alive) connection_lost(key, false, why);
                      });
  }
  return *n.commands;
}

RespConnection& RedisCluster::subscriber_of(Node& n) {
  if (!n.subscriber || !n.subscriber->open()) {
    n.subscriber = std::make_shared<RespConnection>(io_, n.address);
    std::string key = n.address.text();
    n.subscriber->set_push([this, key](redisReply* reply) { on_push(key, reply); });
    n.subscriber->start(options_.connect_timeout, options_.username, options_.password,
                        [this, key, alive = alive_](const std::string& why) {
                          if (*alive) connection_lost(key, true, why);
                        });
  }
  return *n.subscriber;
}

void RedisCluster::connection_lost(const std::string& node_key, bool subscriber, const std::string& why) {
  if (lost_logged_.insert(node_key).second) {
    spdlog::warn("redis cluster ({}): lost {} ({}); reading the slot map again", name_, node_key, why);
  }
  if (subscriber) {
    for (auto& [channel, wanted] : wanted_) {
      if (wanted.node != node_key) continue;
      bool was_confirmed = wanted.confirmed;
      wanted.clear();
      post_event([this, channel = channel, was_confirmed] {
        if (was_confirmed) {
          events_.lost(channel);
        } else {
          events_.failed(channel);
        }
      });
    }
  }
  refresh_soon();
}

// --- commands ---------------------------------------------------------------------------------------

void RedisCluster::command(std::string_view slot_key, std::vector<std::string> args, Handler handler) {
  if (!mapped_) {
    refresh_soon();
    return handler(nullptr);
  }
  std::uint16_t slot = key_slot(slot_key);
  const std::string& owner = slots_[slot];
  if (owner.empty()) {
    refresh_soon();
    return handler(nullptr);
  }
  send(owner, slot, std::make_shared<const std::vector<std::string>>(std::move(args)), std::move(handler), 0, false);
}

void RedisCluster::send(const std::string& node_key, std::uint16_t slot, const Args& args, Handler handler, int hops,
                        bool asking) {
  auto found = nodes_.find(node_key);
  if (found == nodes_.end()) return handler(nullptr);
  RespConnection& connection = commands_of(found->second);
  if (asking) connection.send({"ASKING"}, [](redisReply*) {});
  std::vector<std::string_view> argv(args->begin(), args->end());
  connection.send(argv,
                  [this, slot, args, hops, handler = std::move(handler), alive = alive_](redisReply* reply) mutable {
                    if (!*alive) return handler(nullptr);
                    if (reply != nullptr && reply->type == REDIS_REPLY_ERROR && hops < max_hops) {
                      std::string_view error = text_of(reply);
                      bool moved = error.starts_with("MOVED ");
                      if (moved || error.starts_with("ASK ")) {
                        std::uint16_t to_slot = slot;
                        RedisAddress to;
                        redirected(error, to_slot, to);
                        if (!to.host.empty()) {
                          std::string key = to.text();
                          node(key, to);
                          if (moved) {
                            slots_[to_slot] = key;
                            refresh_soon();  // a moved slot usually means more moved
                          }
                          return send(key, slot, args, std::move(handler), hops + 1, !moved);
                        }
                      }
                      if (error.starts_with("CLUSTERDOWN") || error.starts_with("READONLY")) refresh_soon();
                    }
                    handler(reply);
                  });
}

// "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>" (an empty host: the node that answered).
void RedisCluster::redirected(std::string_view error, std::uint16_t& slot, RedisAddress& to) {
  auto first = error.find(' ');
  auto second = error.find(' ', first + 1);
  if (first == std::string_view::npos || second == std::string_view::npos) return;
  std::string_view number = error.substr(first + 1, second - first - 1);
  std::from_chars(number.data(), number.data() + number.size(), slot);
  try {
    to = parse_redis_address(std::string(error.substr(second + 1)), 6379, "MOVED");
  } catch (const std::exception&) {
    to = {};
  }
}

// --- the slot map -----------------------------------------------------------------------------------

void RedisCluster::refresh_soon() {
  if (stopped_) return;
  if (refreshing_) {
    refresh_pending_ = true;  // again once this one ends: it may have asked before the change
    return;
  }
  if (refresh_armed_) return;
  refresh_armed_ = true;
  refresh_timer_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, std::chrono::duration_cast<std::chrono::milliseconds>(max_backoff));
  refresh_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    refresh_armed_ = false;
    refresh();
  });
}

void RedisCluster::refresh() {
  if (stopped_ || refreshing_) return;
  refreshing_ = true;
  // The primaries of the map first (they know the newest map), then the seeds.
  std::vector<RedisAddress> candidates;
  auto add = [&candidates](const RedisAddress& address) {
    for (const auto& known : candidates) {
      if (known.host == address.host && known.port == address.port) return;
    }
    candidates.push_back(address);
  };
  for (const auto& owner : slots_) {
    if (auto found = nodes_.find(owner); found != nodes_.end()) add(found->second.address);
  }
  for (const auto& seed : options_.cluster) add(seed);
  ask_for_slots(std::move(candidates), 0);
}

void RedisCluster::ask_for_slots(std::vector<RedisAddress> candidates, std::size_t next) {
  if (stopped_) return;
  if (next >= candidates.size()) {
    refreshing_ = false;
    if (!down_logged_) spdlog::error("redis cluster ({}): no node answers CLUSTER SLOTS; retrying", name_);
    down_logged_ = true;
    set_mapped(false);
    for (auto& [channel, wanted] : wanted_) {
      if (wanted.node.empty()) post_event([this, channel = channel] { events_.failed(channel); });
    }
    refresh_pending_ = false;
    return refresh_soon();
  }
  RedisAddress asked = candidates[next];
  Node& n = node(asked.text(), asked);
  commands_of(n).send({"CLUSTER", "SLOTS"}, [this, candidates = std::move(candidates), next, asked,
                                             alive = alive_](redisReply* reply) mutable {
    if (!*alive) return;
    if (!read_slots(reply, asked)) return ask_for_slots(std::move(candidates), next + 1);
    refreshing_ = false;
    backoff_ = first_backoff;
    if (down_logged_ || !mapped_) {
      spdlog::info("redis cluster ({}): slot map read from {} ({} nodes)", name_, asked.text(), nodes_.size());
    }
    down_logged_ = false;
    lost_logged_.clear();
    set_mapped(true);
    reconcile();
    forget_others();
    if (std::exchange(refresh_pending_, false)) refresh_soon();
    periodic_timer_.expires_after(periodic_refresh);
    periodic_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) refresh();
    });
  });
}

// CLUSTER SLOTS: [[start, end, [host, port, id, ...], replicas...], ...]. Only a map covering every slot
// is taken (a cluster in the middle of a failover may answer a partial one).
bool RedisCluster::read_slots(const redisReply* reply, const RedisAddress& asked) {
  if (reply == nullptr || reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) return false;
  std::vector<std::string> slots(slot_count);
  std::size_t covered = 0;
  for (std::size_t i = 0; i < reply->elements; ++i) {
    const redisReply* range = reply->element[i];
    if (range->type != REDIS_REPLY_ARRAY || range->elements < 3) return false;
    const redisReply* primary = range->element[2];
    if (primary->type != REDIS_REPLY_ARRAY || primary->elements < 2) return false;
    auto start = static_cast<std::size_t>(range->element[0]->integer);
    auto end = static_cast<std::size_t>(range->element[1]->integer);
    RedisAddress address{.host = std::string(text_of(primary->element[0])),
                         .port = static_cast<std::uint16_t>(primary->element[1]->integer)};
    if (address.host.empty() || address.host == "?") address.host = asked.host;
    std::string key = address.text();
    node(key, address);
    for (std::size_t slot = start; slot <= end && slot < slot_count; ++slot) {
      if (slots[slot].empty()) ++covered;
      slots[slot] = key;
    }
  }
  if (covered != slot_count) return false;
  slots_ = std::move(slots);
  return true;
}

// Nodes that serve no slot any more (a primary that failed, now gone or a replica) are let go: the
// subscriptions were moved off them (reconcile), and a command sent there would only be redirected.
void RedisCluster::forget_others() {
  std::set<std::string> owners(slots_.begin(), slots_.end());
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    if (owners.contains(it->first)) {
      ++it;
      continue;
    }
    if (it->second.commands) it->second.commands->close();
    if (it->second.subscriber) it->second.subscriber->close();
    it = nodes_.erase(it);
  }
}

void RedisCluster::set_mapped(bool mapped) {
  if (mapped_ == mapped) return;
  mapped_ = mapped;
  if (events_.up) post_event([this, mapped] { events_.up(mapped); });
}

// --- sharded Pub/Sub --------------------------------------------------------------------------------

void RedisCluster::subscribe(const std::string& channel) {
  auto [it, added] = wanted_.try_emplace(channel);
  if (!added && !it->second.node.empty()) return;  // already (being) subscribed
  place(channel);
}

void RedisCluster::subscribe_plain(const std::string& channel) {
  auto [it, added] = wanted_.try_emplace(channel);
  it->second.sharded = false;
  if (!added && !it->second.node.empty()) return;
  place(channel);
}

void RedisCluster::unsubscribe(const std::string& channel) {
  auto it = wanted_.find(channel);
  if (it == wanted_.end()) return post_event([this, channel] { events_.pushed("unsubscribe", channel, nullptr); });
  std::string at = it->second.node;
  const char* verb = it->second.sharded ? "SUNSUBSCRIBE" : "UNSUBSCRIBE";
  wanted_.erase(it);
  auto found = nodes_.find(at);
  if (at.empty() || found == nodes_.end() || !found->second.subscriber || !found->second.subscriber->open()) {
    return post_event([this, channel] { events_.pushed("unsubscribe", channel, nullptr); });
  }
  found->second.subscriber->send({verb, channel}, [this, channel, alive = alive_](redisReply*) {
    // Answered or not (the connection went), the channel is no longer heard here.
    if (*alive) post_event([this, channel] { events_.pushed("unsubscribe", channel, nullptr); });
  });
}

void RedisCluster::place(const std::string& channel) {
  auto it = wanted_.find(channel);
  if (it == wanted_.end()) return;
  const std::string& owner = mapped_ ? slots_[key_slot(channel)] : std::string();
  if (owner.empty()) {
    refresh_soon();
    return post_event([this, channel] { events_.failed(channel); });
  }
  it->second.node = owner;
  it->second.confirmed = false;
  const bool sharded = it->second.sharded;
  const char* verb = sharded ? "SSUBSCRIBE" : "SUBSCRIBE";
  subscriber_of(nodes_.at(owner))
      .send({verb, channel}, [this, channel, owner, sharded, alive = alive_](redisReply* reply) {
        if (!*alive || reply == nullptr) return;  // a lost connection: connection_lost() tells
        auto it = wanted_.find(channel);
        if (it == wanted_.end() || it->second.node != owner) return;  // unwanted or moved meanwhile
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2 &&
            is_kind(text_of(reply->element[0]), sharded ? "ssubscribe" : "subscribe")) {
          it->second.confirmed = true;
          return events_.pushed("subscribe", channel, nullptr);
        }
        // MOVED (the map is stale) or another refusal: read the map again, which places it anew.
        spdlog::warn("redis cluster ({}): subscribing {} on {} refused: {}", name_, channel, owner, text_of(reply));
        it->second.clear();
        events_.failed(channel);
        refresh_soon();
      });
}

// After a new map: each wanted channel subscribed nowhere, or on a node that no longer has its slot, is
// placed on its slot's primary. A move is a lost subscription for the owner (it re-reads after it).
void RedisCluster::reconcile() {
  for (auto& [channel, wanted] : wanted_) {
    const std::string& owner = slots_[key_slot(channel)];
    if (!wanted.node.empty() && wanted.node == owner) continue;
    if (!wanted.node.empty()) {
      auto found = nodes_.find(wanted.node);
      if (found != nodes_.end() && found->second.subscriber && found->second.subscriber->open()) {
        found->second.subscriber->send({wanted.sharded ? "SUNSUBSCRIBE" : "UNSUBSCRIBE", channel}, [](redisReply*) {});
      }
      if (wanted.confirmed) post_event([this, channel = channel] { events_.lost(channel); });
      wanted.clear();
    }
    place(channel);
  }
}

void RedisCluster::on_push(const std::string& node_key, redisReply* reply) {
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2) return;
  std::string_view kind = text_of(reply->element[0]);
  std::string channel(text_of(reply->element[1]));
  auto it = wanted_.find(channel);
  if (it == wanted_.end() || it->second.node != node_key) return;  // an old subscription's echo
  if ((is_kind(kind, "smessage") || is_kind(kind, "message")) && reply->elements >= 3) {
    if (it->second.confirmed) events_.pushed("message", channel, reply->element[2]);
    return;
  }
  if (is_kind(kind, "sunsubscribe")) {
    // The node let the channel go by itself: its slot moved (a failover, a resharding).
    bool was_confirmed = it->second.confirmed;
    it->second.clear();
    if (was_confirmed) {
      events_.lost(channel);
    } else {
      events_.failed(channel);
    }
    refresh_soon();
  }
}

}  // namespace herald
