#pragma once
// One subscription's way from history to the live stream, for the transports that stream (SSE,
// WebSocket). History is written in pages no larger than the connection's write queue takes, so a
// client resuming far back never needs more memory than any other. While pages remain, live messages
// are not written — a later page has them, in order — and the subscription goes live only after a page
// that ended the history.
#include "core/history.hpp"
#include "core/subscriber.hpp"

namespace herald {

class CatchUp {
 public:
  bool live() const { return live_; }
  // More history must be read (once the connection's queue has room).
  bool wants_more() const { return !live_ && !reading_; }
  // Where the next page starts.
  Cursor cursor() const { return cursor_.cursor(); }

  // Called when asking the broker for a page.
  void start_read() {
    reading_ = true;
    missed_live_ = false;
    broken_ = false;
  }

  // A live message from the hub: true when it is to be written now.
  bool accept_live(const Message& message) {
    if (!live_) {
      // Still catching up. A page read before this message was published would not have it; read again
      // before going live (a synchronous broker never lets this happen between read and page).
      if (reading_) missed_live_ = true;
      return false;
    }
    Cursor last = cursor_.cursor();
    Cursor next = message.cursor();
    if (next.history == last.history && next.seq <= last.seq) return false;  // already written
    // After an empty cursor (the channel had no history), a history's first message follows it: this
    // subscription was listening when the history began.
    const bool first_of_history = is_empty_cursor(last) && next.seq == 1;
    if (!first_of_history && (next.history != last.history || next.seq != last.seq + 1)) {
      // A break in the sequence: this node did not hand on what came between (it was cut off from Redis
      // while more than the history was published, or Redis lost the history). Read history from the
      // cursor, as a resuming client would: what was missed, or an explicit gap where it ran out.
      live_ = false;
      broken_ = true;
      return false;
    }
    return cursor_.advance(message);
  }

  // The last live message did not follow the cursor (see accept_live); cleared by the next read.
  bool broken() const { return broken_; }

  // The connection could not queue `unsent`, a live message it accepted (limits.slow_consumer =
  // "catch_up"): it stops taking live messages and, once its queue has drained, reads history again from
  // just before `unsent`, exactly as a client resuming from its cursor would. Messages history no
  // longer has then come back as a gap.
  void fall_behind(const Message& unsent) {
    live_ = false;
    reading_ = false;
    missed_live_ = false;
    cursor_ = SubscriptionCursor(just_before(unsent.cursor()));
  }

  // Takes a page of history; `write(message)` queues one message and says whether it fit. Returns true
  // when the subscription went live with this page.
  template <typename Write>
  bool take_page(const ReadResult& page, Write&& write) {
    reading_ = false;
    cursor_ = SubscriptionCursor(page.messages.empty() ? page.cursor : just_before(page.messages.front()->cursor()));
    for (const auto& message : page.messages) {
      if (!write(message)) return false;  // the queue is full: the rest comes with the next page
      cursor_.advance(*message);
    }
    if (page.more || missed_live_) return false;
    live_ = true;
    return true;
  }

 private:
  static Cursor just_before(Cursor cursor) { return {cursor.history, cursor.seq - 1}; }

  SubscriptionCursor cursor_;
  bool live_ = false;
  bool reading_ = false;
  bool missed_live_ = false;
  bool broken_ = false;
};

}  // namespace herald
