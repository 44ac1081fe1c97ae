#include "core/message.hpp"

#include <gtest/gtest.h>

namespace herald {
namespace {

Message text(std::string data, std::string event = "") {
  return Message("news", Cursor{1, 7}, 1700000000123, std::move(event), std::move(data), false);
}

TEST(Message, EnvelopeOfText) {
  EXPECT_EQ(text("he said \"hi\"\n").envelope(),
            R"({"channel":"news","id":"00000001.7","time":1700000000123,"data":"he said \"hi\"\n"})");
}

TEST(Message, EnvelopeOfJsonWithEvent) {
  Message m("news", Cursor{1, 7}, 5, "update", R"({"a":[1,2]})", true);
  EXPECT_EQ(m.envelope(), R"({"channel":"news","id":"00000001.7","time":5,"event":"update","data":{"a":[1,2]}})");
  EXPECT_EQ(m.ws_frame(),
            R"({"op":"message","channel":"news","id":"00000001.7","time":5,"event":"update","data":{"a":[1,2]}})");
}

TEST(Message, SseBlockSplitsLines) {
  EXPECT_EQ(text("a\nb\r\nc\rd", "tick").sse_block(),
            "id: 00000001.7\nevent: tick\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
  EXPECT_EQ(text("").sse_block(), "id: 00000001.7\ndata: \n\n");
  EXPECT_EQ(text("x\n").sse_block(), "id: 00000001.7\ndata: x\ndata: \n\n");
}

TEST(Message, EncodingsAreBuiltOnceAndShared) {
  auto m = text("x");
  EXPECT_EQ(&m.envelope(), &m.envelope());
  EXPECT_EQ(m.envelope().data(), m.envelope().data());
}

}  // namespace
}  // namespace herald
