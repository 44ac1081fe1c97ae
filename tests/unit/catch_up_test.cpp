#include "core/catch_up.hpp"

#include <gtest/gtest.h>

namespace herald {
namespace {

MessagePtr message(std::uint64_t seq) {
  return std::make_shared<const Message>("c", Cursor{9, seq}, 0, "", "x", false);
}

ReadResult page(std::uint64_t first, std::uint64_t last, bool more) {
  ReadResult result;
  for (auto seq = first; seq <= last; ++seq) result.messages.push_back(message(seq));
  result.more = more;
  result.cursor = Cursor{9, last};
  return result;
}

TEST(CatchUp, GoesLiveAfterAPageThatEndsTheHistory) {
  CatchUp catch_up;
  catch_up.start_read();
  std::vector<std::uint64_t> written;
  EXPECT_TRUE(catch_up.take_page(page(1, 3, false), [&](const MessagePtr& m) {
    written.push_back(m->cursor().seq);
    return true;
  }));
  EXPECT_EQ(written, (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_TRUE(catch_up.live());
  EXPECT_FALSE(catch_up.accept_live(*message(3)));  // already written from history
  EXPECT_TRUE(catch_up.accept_live(*message(4)));
}

TEST(CatchUp, StopsWhereTheQueueIsFullAndResumesThere) {
  CatchUp catch_up;
  catch_up.start_read();
  int room = 2;
  EXPECT_FALSE(catch_up.take_page(page(1, 5, false), [&](const MessagePtr&) { return room-- > 0; }));
  EXPECT_FALSE(catch_up.live());
  EXPECT_TRUE(catch_up.wants_more());
  EXPECT_EQ(catch_up.cursor(), (Cursor{9, 2}));     // the next page starts after the last message written
  EXPECT_FALSE(catch_up.accept_live(*message(6)));  // not yet: the next page has it, in order
}

TEST(CatchUp, ReadsAgainWhenAMessageCameWhileAPageWasOnItsWay) {
  // An asynchronous broker: message 4 is published after the page was read but delivered before it.
  CatchUp catch_up;
  catch_up.start_read();
  EXPECT_FALSE(catch_up.accept_live(*message(4)));
  EXPECT_FALSE(catch_up.take_page(page(1, 3, false), [](const MessagePtr&) { return true; }));
  EXPECT_TRUE(catch_up.wants_more());
  catch_up.start_read();
  EXPECT_TRUE(catch_up.take_page(page(4, 4, false), [](const MessagePtr&) { return true; }));
  EXPECT_TRUE(catch_up.live());
}

TEST(CatchUp, AnEmptyPageStartsAtItsCursor) {
  CatchUp catch_up;
  catch_up.start_read();
  ReadResult empty;
  empty.cursor = Cursor{9, 7};
  EXPECT_TRUE(catch_up.take_page(empty, [](const MessagePtr&) { return true; }));
  EXPECT_FALSE(catch_up.accept_live(*message(7)));
  EXPECT_TRUE(catch_up.accept_live(*message(8)));
}

TEST(CatchUp, FallingBehindReadsHistoryFromTheMessageThatDidNotFit) {
  // limits.slow_consumer = "catch_up": live message 5 found the queue full.
  CatchUp catch_up;
  catch_up.start_read();
  EXPECT_TRUE(catch_up.take_page(page(1, 3, false), [](const MessagePtr&) { return true; }));
  EXPECT_TRUE(catch_up.accept_live(*message(4)));
  EXPECT_TRUE(catch_up.accept_live(*message(5)));
  catch_up.fall_behind(*message(5));
  EXPECT_FALSE(catch_up.live());
  EXPECT_TRUE(catch_up.wants_more());
  EXPECT_EQ(catch_up.cursor(), (Cursor{9, 4}));     // 5 comes again, from history
  EXPECT_FALSE(catch_up.accept_live(*message(6)));  // and so does what follows it
  catch_up.start_read();
  EXPECT_TRUE(catch_up.take_page(page(5, 6, false), [](const MessagePtr&) { return true; }));
  EXPECT_TRUE(catch_up.live());
  EXPECT_FALSE(catch_up.accept_live(*message(6)));
  EXPECT_TRUE(catch_up.accept_live(*message(7)));
}

TEST(CatchUp, ABreakInTheLiveSequenceReadsHistoryFromTheCursor) {
  // This node missed 5 and 6 (cut off from Redis): 7 must not be written after 4 as if nothing happened.
  CatchUp catch_up;
  catch_up.start_read();
  EXPECT_TRUE(catch_up.take_page(page(1, 3, false), [](const MessagePtr&) { return true; }));
  EXPECT_TRUE(catch_up.accept_live(*message(4)));
  EXPECT_FALSE(catch_up.broken());
  EXPECT_FALSE(catch_up.accept_live(*message(7)));
  EXPECT_TRUE(catch_up.broken());
  EXPECT_TRUE(catch_up.wants_more());
  EXPECT_EQ(catch_up.cursor(), (Cursor{9, 4}));
  catch_up.start_read();
  EXPECT_FALSE(catch_up.broken());
  EXPECT_TRUE(catch_up.take_page(page(5, 7, false), [](const MessagePtr&) { return true; }));
  EXPECT_TRUE(catch_up.accept_live(*message(8)));
}

TEST(CatchUp, AMessageOfAnotherHistoryIsABreak) {
  CatchUp catch_up;
  catch_up.start_read();
  EXPECT_TRUE(catch_up.take_page(page(1, 3, false), [](const MessagePtr&) { return true; }));
  auto other = std::make_shared<const Message>("c", Cursor{10, 1}, 0, "", "x", false);
  EXPECT_FALSE(catch_up.accept_live(*other));
  EXPECT_TRUE(catch_up.broken());
}

}  // namespace
}  // namespace herald
