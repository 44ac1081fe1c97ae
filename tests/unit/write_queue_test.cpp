#include "core/write_queue.hpp"

#include <gtest/gtest.h>

namespace herald {

TEST(WriteQueue, SharesTheMessageBytesInsteadOfCopying) {
  auto message = std::make_shared<const Message>("c", Cursor{1, 1}, 0, "", "payload", false);
  WriteQueue queue(1024);
  ASSERT_TRUE(queue.push(message, message->envelope()));
  EXPECT_EQ(queue.at(0).data(), message->envelope().data());
  EXPECT_EQ(queue.bytes(), message->envelope().size());
}

TEST(WriteQueue, RefusesPastItsBoundButAlwaysTakesOne) {
  WriteQueue queue(10);
  EXPECT_TRUE(queue.push(std::string(25, 'x')));  // alone, even a large item goes
  EXPECT_FALSE(queue.push(std::string("y")));
  queue.pop(1);
  EXPECT_TRUE(queue.push(std::string(6, 'a')));
  EXPECT_TRUE(queue.push(std::string(4, 'b')));
  EXPECT_FALSE(queue.push(std::string(1, 'c')));
  queue.drop_after(1);
  EXPECT_EQ(queue.size(), 1U);
  EXPECT_EQ(queue.bytes(), 6U);
}

TEST(WriteQueue, HistoryFillsAtMostHalf) {
  auto message = std::make_shared<const Message>("c", Cursor{1, 1}, 0, "", std::string(30, 'x'), false);
  WriteQueue queue(200);
  EXPECT_TRUE(queue.push_history(message, message->envelope()));   // ~80 bytes
  EXPECT_FALSE(queue.push_history(message, message->envelope()));  // would pass 100
  EXPECT_TRUE(queue.push(message, message->envelope()));           // live messages may use the rest
}

}  // namespace herald
