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
//     newest N kept messages. A channel read for the first time is created, so the cursor it returns
//     resumes without a gap later.
//  5. History is bounded per namespace by count and age.
//  6. Callbacks run on the calling thread, possibly before the call returns.
#include <functional>
#include <optional>
#include <string>
#include <variant>

#include "core/error.hpp"
#include "core/history.hpp"
#include "core/publish_rules.hpp"

namespace herald {

// Receives every message published through this broker, once, for the whole node.
using MessageSink = std::function<void(const MessagePtr&)>;

struct ChannelInfo {
  std::optional<Cursor> last_id;  // none: no message was ever published (or it was evicted)
  std::size_t kept = 0;
};

class Broker {
 public:
  using PublishCallback = std::function<void(std::variant<MessagePtr, Error>)>;
  using ReadCallback = std::function<void(std::variant<ReadResult, Error>)>;

  virtual ~Broker() = default;

  virtual void set_sink(MessageSink sink) = 0;
  virtual void publish(PublishRequest request, PublishCallback done) = 0;
  virtual void read(const std::string& channel, const ReadFrom& from, std::size_t limit, ReadCallback done) = 0;
  virtual ChannelInfo info(const std::string& channel) = 0;
  // Forgets idle channels whose history has aged out and that nobody on this node listens to
  // (`listened` says). Called periodically.
  virtual void sweep(const std::function<bool(const std::string&)>& listened) = 0;
};

}  // namespace herald
