#pragma once
// The broker owns channel histories and tells this node's event loops about every message.
//
// Contract (every implementation, checked by the broker conformance tests):
//  1. publish() appends to the channel's history and assigns the message its cursor in one atomic step:
//     no reader sees a message that is not in the history, and no two messages share a cursor.
//  2. Cursors of one channel strictly increase in publish order, and the sink receives the messages of
//     one channel in that same order.
//  3. read() returns the messages strictly after `since`, oldest first, at most `limit`, with `more` set
//     when it cut. When `since` is older than the oldest kept message or belongs to another history
//     (restart, eviction), it sets `gap` and returns what is kept: never a silent hole.
//  4. Without `since`, read() starts "now" (its cursor is the newest message's) or, with `last`, at the
//     newest N kept messages. Reading a channel that has no history creates nothing (a read must cost
//     nothing that outlives it): it answers an empty cursor (core/cursor.hpp), which resumes without a
//     gap from the history a later publish creates, while it is younger than the history age.
//  5. History is bounded per namespace by count and age.
//  6. Callbacks of publish(), read() and info() run on the calling thread when it is an event loop
//     (`calling_loop()`, set by the server for each loop thread), possibly before the call returns: a
//     loop's hub and subscribers are single-threaded. Called from any other thread (tests), they may run
//     on a thread of the broker's own.
//  7. The sink receives, in cursor order per channel, every message published on any node to a channel
//     this node listens to, from the read() a listener makes after joining its hub on (so no message
//     falls between that read and live delivery) until the sweep that finds nobody listening. A broker
//     may also send it other channels (the memory broker sends all).
//  8. When the broker cannot reach its store it says so: publish(), read() and info() fail with the
//     error code "broker_unavailable" (HTTP 503), never a silent drop. A message whose publish answered
//     success is kept and delivered once the store is reachable again.
//  9. (Presence has a store of its own: broker/presence_store.hpp, with its own contract and suite.)
// 10. Idempotent publish: a request with an `idempotency_key` is decided in the same atomic step as the
//     append (point 1). When a publish to the same channel with the same key was appended less than its
//     `idempotency_window` ago (the store's clock), nothing is appended, nothing reaches the sink, and the
//     answer is Replayed with that publish's cursor; otherwise the message is appended and the key
//     remembered with its cursor for the window. However many repeats race, exactly one appends. Keys are
//     per channel. A request without a key costs nothing more. The memory broker remembers at most
//     `idempotency_keys_per_channel` keys per channel (the oldest are forgotten first); Redis expires each
//     key on its own clock.
// 11. Control: a command given to control() reaches the control sink of every node on the store, this
//     node's included, at most once each (the server API: app/control.cpp). `done` follows point 6 and
//     answers, once the store took the command, how many nodes heard it (or broker_unavailable).
// 12. Connections per user (limits.max_connections_per_user): user_admit adds `connection` (unique to
//     this node) to `user`'s connections unless the user already has `limit` on all nodes together
//     (answers false), decided atomically in the store. Each is leased: user_refresh renews this node's
//     (every third of the lease), so a node that dies leaves none behind once the lease ends;
//     user_release ends one.
// 13. Counting: published() grows by one for each message publish() appended (never for a Replayed
//     answer or a failure), unless the request is not `counted` (herald's messages about itself: the
//     dashboard snapshot). count_published() adds what this node published past the broker (the Redis
//     login store's scripts publish their events themselves). It is what /metrics reports as published.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/error.hpp"
#include "core/history.hpp"
#include "core/publish_rules.hpp"

namespace herald {

// Receives every message published through this broker, once, for the whole node.
using MessageSink = std::function<void(const MessagePtr&)>;
// Receives every control command (contract point 11), on a thread of the broker's choosing.
using ControlSink = std::function<void(const std::string&)>;

// The error of a broker that cannot reach its store (contract point 8).
inline Error broker_unavailable(std::string why) { return Error{"broker_unavailable", std::move(why)}; }

// The answer to a publish whose idempotency key was already used on its channel (point 10): nothing was
// published; `id` is the cursor the first publish with that key was given.
struct Replayed {
  Cursor id;
};

struct ChannelInfo {
  std::optional<Cursor> last_id;  // none: no message was ever published (or it was evicted)
  std::size_t kept = 0;
};

class Broker {
 public:
  using PublishCallback = std::function<void(std::variant<MessagePtr, Replayed, Error>)>;
  using ReadCallback = std::function<void(std::variant<ReadResult, Error>)>;
  using InfoCallback = std::function<void(std::variant<ChannelInfo, Error>)>;

  virtual ~Broker() = default;

  virtual void set_sink(MessageSink sink) = 0;
  virtual void publish(PublishRequest request, PublishCallback done) = 0;
  virtual void read(const std::string& channel, const ReadFrom& from, std::size_t limit, ReadCallback done) = 0;
  virtual void info(const std::string& channel, InfoCallback done) = 0;
  // Forgets idle channels whose history has aged out and that nobody on this node listens to
  // (`listened` says). Called periodically.
  virtual void sweep(const std::function<bool(const std::string&)>& listened) = 0;

  // Connections per user (contract point 12).
  using UserAdmitCallback = std::function<void(std::variant<bool, Error>)>;
  virtual void user_admit(const std::string& user, const std::string& connection, std::size_t limit,
                          std::chrono::milliseconds lease, UserAdmitCallback done) = 0;
  virtual void user_release(const std::string& user, const std::string& connection) = 0;
  // `held`: (user, connection) pairs this node holds.
  virtual void user_refresh(const std::vector<std::pair<std::string, std::string>>& held,
                            std::chrono::milliseconds lease) = 0;

  // Control (contract point 11).
  using ControlCallback = std::function<void(std::variant<std::size_t, Error>)>;
  virtual void set_control_sink(ControlSink sink) = 0;
  virtual void control(std::string command, ControlCallback done) = 0;

  // Counting (contract point 13): safe from any thread.
  std::uint64_t published() const noexcept { return published_.load(std::memory_order_relaxed); }
  void count_published(std::uint64_t messages = 1) noexcept {
    published_.fetch_add(messages, std::memory_order_relaxed);
  }

 private:
  std::atomic<std::uint64_t> published_{0};
};

}  // namespace herald
