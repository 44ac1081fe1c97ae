#include "core/message.hpp"

#include <gtest/gtest.h>

#include "transport/sse_encoding.hpp"
#include "transport/ws_frames.hpp"

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
  EXPECT_EQ(ws::message_frame(m, true).substr(2),
            R"({"op":"message","channel":"news","id":"00000001.7","time":5,"event":"update","data":{"a":[1,2]}})");
  EXPECT_EQ(ws::message_frame(m, false).substr(2), m.envelope());
}

TEST(Message, SseBlockSplitsLines) {
  EXPECT_EQ(sse::message_block(text("a\nb\r\nc\rd", "tick"), false),
            "id: 00000001.7\nevent: tick\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
  EXPECT_EQ(sse::message_block(text(""), false), "id: 00000001.7\ndata: \n\n");
  EXPECT_EQ(sse::message_block(text("x\n"), false), "id: 00000001.7\ndata: x\ndata: \n\n");
}

TEST(Message, EncodingsAreBuiltOnceAndShared) {
  auto m = text("x");
  EXPECT_EQ(&m.envelope(), &m.envelope());
  EXPECT_EQ(&sse::message_block(m, true), &sse::message_block(m, true));
  EXPECT_EQ(&ws::message_frame(m, true), &ws::message_frame(m, true));
  EXPECT_NE(&ws::message_frame(m, true), &ws::message_frame(m, false));
}

// RFC 6455 §5.2: FIN + text, then the length in 7 bits, 16 bits after 126, or 64 bits after 127.
TEST(WebSocketFrames, LengthsTakeTheirThreeForms) {
  auto header = [](std::size_t size) {
    std::string frame = ws::text_frame(std::string(size, 'x'));
    EXPECT_EQ(frame.size() - size, size < 126 ? 2U : size <= 0xFFFF ? 4U : 10U);
    std::vector<unsigned> out;
    for (std::size_t i = 0; i < frame.size() - size; ++i) out.push_back(static_cast<unsigned char>(frame[i]));
    return out;
  };
  EXPECT_EQ(header(0), (std::vector<unsigned>{0x81, 0}));
  EXPECT_EQ(header(125), (std::vector<unsigned>{0x81, 125}));
  EXPECT_EQ(header(126), (std::vector<unsigned>{0x81, 126, 0, 126}));
  EXPECT_EQ(header(65535), (std::vector<unsigned>{0x81, 126, 0xFF, 0xFF}));
  EXPECT_EQ(header(65536), (std::vector<unsigned>{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}));
}

}  // namespace
}  // namespace herald
