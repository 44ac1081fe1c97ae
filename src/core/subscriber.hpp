#pragma once
// What every transport implements so the hub can hand it messages. One object per connection; a
// connection that listens to several channels (the /ws protocol) is one subscriber in several lists.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/message.hpp"

namespace herald {

// The transports that hold a subscription open (an interval poll answers at once and is never one).
enum class Transport : std::uint8_t { websocket, sse, longpoll };
inline constexpr std::size_t transport_count = 3;
std::string_view transport_name(Transport transport);

enum class Delivery : std::uint8_t {
  sent,        // handed to the connection (written or queued for writing)
  skipped,     // already seen: the subscriber's cursor is past it
  dropped,     // the connection is closing and takes nothing more
  overflowed,  // its write queue is full: closed as a slow consumer (it resumes from its cursor), or, with
               // limits.slow_consumer = "catch_up", kept and given this message later from history
};

enum class CloseReason : std::uint8_t {
  shutdown,
  slow_consumer,
  token_expired,  // the token the connection (or a subscription) relies on ended, and was not refreshed
  disconnected,   // POST /api/disconnect: the user is logged out everywhere
  unsubscribed,   // POST /api/unsubscribe: the user may no longer hear this channel
};

// What a client is told when the server ends a connection or a subscription on its own initiative: a
// stable code, a sentence, and whether to come back (for token_expired: with a fresh token). Every
// transport says it in its own form (docs/api.md, "When herald ends a connection").
struct Ending {
  std::string_view code;
  std::string_view message;
  bool reconnect;
};
Ending ending_of(CloseReason reason);
// {"code":..,"message":..,"reconnect":..}, with "channel" when one subscription ends.
std::string ending_json(CloseReason reason, std::string_view channel = {});
// The WebSocket close code herald uses for each (4000-4999, the application's range; docs/api.md).
std::uint16_t ending_close_code(CloseReason reason);

class Subscriber {
 public:
  virtual ~Subscriber() = default;
  // Called on the subscriber's own event loop, for channels it subscribed to, in cursor order.
  virtual Delivery deliver(const MessagePtr& message) = 0;
  // Ends the connection on the server's initiative; the subscriber unsubscribes itself.
  virtual void close(CloseReason reason) = 0;
  virtual Transport transport() const = 0;
  // Writes what deliver() queued while the hub was handing out a batch (Hub::defer_flush).
  virtual void flush_deferred() {}
  // The connection's user may no longer hear `channel` (POST /api/unsubscribe): a connection of several
  // channels leaves that one, a connection of that one channel ends (CloseReason::unsubscribed).
  virtual void revoke(const std::string& channel) { (void)channel; }
};

// The last cursor a subscription has seen on one channel. A subscriber reads history and joins the
// live stream without a window between the two; what arrives twice is recognised here and skipped.
class SubscriptionCursor {
 public:
  explicit SubscriptionCursor(Cursor start = {}) : cursor_(start) {}
  Cursor cursor() const { return cursor_; }
  // True when `message` is new to this subscription (and moves the cursor to it).
  bool advance(const Message& message) {
    Cursor next = message.cursor();
    if (next.history == cursor_.history && next.seq <= cursor_.seq) return false;
    cursor_ = next;
    return true;
  }

 private:
  Cursor cursor_;
};

}  // namespace herald
