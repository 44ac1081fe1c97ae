#include "core/cursor.hpp"

#include <gtest/gtest.h>

namespace herald {

TEST(Cursor, RoundTrips) {
  for (Cursor c : {Cursor{0, 0}, Cursor{1, 1}, Cursor{history_id_mask, 42}, Cursor{12345, UINT64_MAX}}) {
    auto text = format_cursor(c);
    auto back = parse_cursor(text);
    ASSERT_TRUE(back) << text;
    EXPECT_EQ(*back, c) << text;
  }
}

TEST(Cursor, LooksLikeTheDocs) {
  auto text = format_cursor({new_history_id(), 42});
  EXPECT_EQ(text.size(), 11U);
  EXPECT_EQ(text.substr(8), ".42");
}

TEST(Cursor, RefusesWhatItDidNotMint) {
  for (std::string bad : {"", "garbage", "k7f3q9wz", "k7f3q9wz.", "k7f3q9wz.x", "k7f3q9wz.01", "K7F3Q9WZ.1",
                          "k7f3q9w.1", "k7f3q9wzz.1", "k7f3q9wz.-1", "k7f3q9wz.1 ", "k7f3q9wz.99999999999999999999"}) {
    EXPECT_FALSE(parse_cursor(bad)) << bad;
  }
}

TEST(Cursor, HistoryIdsDiffer) { EXPECT_NE(new_history_id(), new_history_id()); }

}  // namespace herald
