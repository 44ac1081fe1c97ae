#include "core/history.hpp"

#include <gtest/gtest.h>

namespace herald {
namespace {

using namespace std::chrono_literals;

struct HistoryTest : ::testing::Test {
  HistoryLimits limits{.max_messages = 5, .max_age = 1h};
  History::Clock::time_point now = History::Clock::now();
  History history{12345};

  std::vector<Cursor> publish(int count) {
    std::vector<Cursor> cursors;
    for (int i = 0; i < count; ++i) {
      cursors.push_back(history.append("ch", "", std::to_string(i), false, limits, now)->cursor());
    }
    return cursors;
  }
  static std::vector<std::string> data(const ReadResult& result) {
    std::vector<std::string> out;
    for (const auto& m : result.messages) out.push_back(m->data());
    return out;
  }
};

TEST_F(HistoryTest, CursorsIncreaseStrictly) {
  auto cursors = publish(3);
  EXPECT_EQ(cursors[0], (Cursor{12345, 1}));
  EXPECT_EQ(cursors[2], (Cursor{12345, 3}));
}

TEST_F(HistoryTest, ReadsStrictlyAfterTheCursor) {
  auto cursors = publish(4);
  auto result = history.read({.since = cursors[1]}, 100);
  EXPECT_EQ(data(result), (std::vector<std::string>{"2", "3"}));
  EXPECT_FALSE(result.gap);
  EXPECT_EQ(result.cursor, cursors[3]);
}

TEST_F(HistoryTest, ReadAtTheNewestCursorIsEmptyAndKeepsIt) {
  auto cursors = publish(2);
  auto result = history.read({.since = cursors[1]}, 100);
  EXPECT_TRUE(result.messages.empty());
  EXPECT_FALSE(result.gap);
  EXPECT_EQ(result.cursor, cursors[1]);
}

TEST_F(HistoryTest, WithoutACursorStartsNow) {
  auto cursors = publish(3);
  auto result = history.read({}, 100);
  EXPECT_TRUE(result.messages.empty());
  EXPECT_EQ(result.cursor, cursors[2]);
  EXPECT_EQ(history.read({}, 100).cursor, (Cursor{12345, 3}));
}

TEST_F(HistoryTest, EmptyHistoryStartsAtZeroAndResumesWithoutGap) {
  auto start = history.read({}, 100).cursor;
  EXPECT_EQ(start, (Cursor{12345, 0}));
  publish(1);
  auto result = history.read({.since = start}, 100);
  EXPECT_FALSE(result.gap);
  EXPECT_EQ(data(result), (std::vector<std::string>{"0"}));
}

TEST_F(HistoryTest, LastNStartsWithTheNewestKept) {
  publish(4);
  EXPECT_EQ(data(history.read({.last = 2}, 100)), (std::vector<std::string>{"2", "3"}));
  EXPECT_EQ(data(history.read({.last = 50}, 100)).size(), 4U);
}

TEST_F(HistoryTest, BoundedByCountWithAGapForOldCursors) {
  auto cursors = publish(10);
  EXPECT_EQ(history.size(), 5U);
  auto result = history.read({.since = cursors[0]}, 100);
  EXPECT_TRUE(result.gap);
  EXPECT_EQ(data(result), (std::vector<std::string>{"5", "6", "7", "8", "9"}));
  EXPECT_EQ(result.gap_cursor, cursors[4]);
  // Resuming from just before the oldest kept message is not a gap.
  EXPECT_FALSE(history.read({.since = cursors[4]}, 100).gap);
}

TEST_F(HistoryTest, BoundedByAge) {
  publish(2);
  history.trim(limits, now + 2h);
  EXPECT_EQ(history.size(), 0U);
  auto result = history.read({.since = Cursor{12345, 0}}, 100);
  EXPECT_TRUE(result.gap);
  EXPECT_TRUE(result.messages.empty());
  EXPECT_EQ(result.cursor, (Cursor{12345, 2}));
}

TEST_F(HistoryTest, ForeignHistoryOrFutureCursorIsAGap) {
  publish(3);
  EXPECT_TRUE(history.read({.since = Cursor{999, 1}}, 100).gap);
  EXPECT_TRUE(history.read({.since = Cursor{12345, 7}}, 100).gap);
  EXPECT_EQ(history.read({.since = Cursor{999, 1}}, 100).messages.size(), 3U);
}

TEST_F(HistoryTest, LimitCutsAndSaysMore) {
  auto cursors = publish(5);
  auto result = history.read({.since = Cursor{12345, 0}}, 2);
  EXPECT_EQ(data(result), (std::vector<std::string>{"0", "1"}));
  EXPECT_TRUE(result.more);
  EXPECT_EQ(result.cursor, cursors[1]);
  auto rest = history.read({.since = result.cursor}, 10);
  EXPECT_FALSE(rest.more);
  EXPECT_EQ(rest.messages.size(), 3U);
}

}  // namespace
}  // namespace herald
