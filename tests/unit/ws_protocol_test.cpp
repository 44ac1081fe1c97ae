#include "transport/ws_protocol.hpp"

#include <gtest/gtest.h>

namespace herald {
namespace {

std::variant<ClientFrame, Error> parse(std::string_view text) {
  std::string ref;
  return parse_client_frame(text, ref);
}

std::string code(std::string_view text) {
  auto result = parse(text);
  auto* error = std::get_if<Error>(&result);
  return error ? error->code : "";
}

TEST(WsProtocol, ParsesSubscribeWithCursor) {
  auto frame = std::get<ClientFrame>(parse(R"({"op":"subscribe","channel":"news","since":"00000001.5","ref":7})"));
  EXPECT_EQ(frame.op, ClientFrame::Op::subscribe);
  EXPECT_EQ(frame.channel, "news");
  EXPECT_EQ(frame.since, (Cursor{1, 5}));
  EXPECT_EQ(frame.ref, "7");
}

TEST(WsProtocol, PublishTakesTextOrJson) {
  auto text = std::get<ClientFrame>(parse(R"({"op":"publish","channel":"c","data":"hi"})"));
  EXPECT_EQ(text.data, "hi");
  EXPECT_FALSE(text.data_is_json);
  auto json = std::get<ClientFrame>(parse(R"({"op":"publish","channel":"c","data":{"a": [1, 2]}})"));
  EXPECT_EQ(json.data, R"({"a":[1,2]})");
  EXPECT_TRUE(json.data_is_json);
}

TEST(WsProtocol, PublishTakesAnIdempotencyKey) {
  auto keyed = std::get<ClientFrame>(parse(R"({"op":"publish","channel":"c","data":1,"idempotency_key":"k-1"})"));
  EXPECT_EQ(keyed.idempotency_key, "k-1");
  EXPECT_EQ(std::get<ClientFrame>(parse(R"({"op":"publish","channel":"c","data":1})")).idempotency_key, "");
  EXPECT_EQ(code(R"({"op":"publish","channel":"c","data":1,"idempotency_key":7})"), "bad_idempotency_key");
  EXPECT_EQ(code(R"({"op":"publish","channel":"c","data":1,"idempotency_key":""})"), "bad_idempotency_key");
  EXPECT_EQ(code(R"({"op":"publish","channel":"c","data":1,"idempotency_key":"a b"})"), "bad_idempotency_key");
  EXPECT_EQ(published_frame("c", "00000001.5", "", true),
            R"({"op":"published","channel":"c","id":"00000001.5","replayed":true})");
  EXPECT_EQ(published_frame("c", "00000001.5", "", false), R"({"op":"published","channel":"c","id":"00000001.5"})");
}

TEST(WsProtocol, RefusesMalformedFrames) {
  EXPECT_EQ(code("not json"), "bad_frame");
  EXPECT_EQ(code("[1]"), "bad_frame");
  EXPECT_EQ(code(R"({"channel":"c"})"), "bad_frame");
  EXPECT_EQ(code(R"({"op":"dance","channel":"c"})"), "bad_frame");
  EXPECT_EQ(code(R"({"op":"subscribe"})"), "bad_frame");
  EXPECT_EQ(code(R"({"op":"subscribe","channel":"c","since":"nope"})"), "bad_cursor");
  EXPECT_EQ(code(R"({"op":"subscribe","channel":"c","last":-1})"), "bad_frame");
  EXPECT_EQ(code(R"({"op":"publish","channel":"c"})"), "bad_frame");
}

// JSON has no infinity: 1e400 parses as one and would go out as the bare word Infinity (found by the
// ws_frame fuzzer), in the data and in the ref that answers echo.
TEST(WsProtocol, RefusesNumbersTooLargeForJson) {
  EXPECT_EQ(code(R"({"op":"publish","channel":"c","data":{"n":[1.5e39999,null]}})"), "bad_frame");
  EXPECT_EQ(code(R"({"op":"publish","channel":"c","data":-1e400})"), "bad_frame");
  EXPECT_EQ(code(R"({"op":"subscribe","channel":"c","ref":1e999})"), "bad_frame");
  auto largest = std::get<ClientFrame>(parse(R"({"op":"publish","channel":"c","data":[1.7e308,-1.7e308]})"));
  EXPECT_EQ(largest.data, "[1.7E308,-1.7E308]");
}

TEST(WsProtocol, AuthAndRefreshTakeATokenAndMayNameNoChannel) {
  auto auth = std::get<ClientFrame>(parse(R"({"op":"auth","token":"t"})"));
  EXPECT_EQ(auth.op, ClientFrame::Op::auth);
  EXPECT_EQ(auth.token, "t");
  auto refresh = std::get<ClientFrame>(parse(R"({"op":"refresh","channel":"private:x","token":"u"})"));
  EXPECT_EQ(refresh.op, ClientFrame::Op::refresh);
  EXPECT_EQ(refresh.channel, "private:x");
  EXPECT_EQ(code(R"({"op":"auth"})"), "bad_frame");
  EXPECT_EQ(code(R"({"op":"refresh","token":7})"), "bad_frame");
  EXPECT_EQ(ending_frame(R"({"channel":"c","code":"token_expired"})", false),
            R"({"op":"unsubscribed","channel":"c","code":"token_expired"})");
  EXPECT_EQ(refreshed_frame("", 12, "1"), R"({"op":"refreshed","expires_at":12,"ref":1})");
}

TEST(WsProtocol, ErrorFramesEchoTheRef) {
  std::string ref;
  auto result = parse_client_frame(R"({"op":"dance","channel":"c","ref":"abc"})", ref);
  ASSERT_TRUE(std::holds_alternative<Error>(result));
  EXPECT_EQ(error_frame(std::get<Error>(result), ref).substr(0, 25), R"({"op":"error","code":"bad)");
  EXPECT_NE(error_frame(std::get<Error>(result), ref).find(R"("ref":"abc"})"), std::string::npos);
  EXPECT_EQ(subscribed_frame("c", Cursor{1, 2}, true, ""),
            R"({"op":"subscribed","channel":"c","cursor":"00000001.2","gap":true})");
}

}  // namespace
}  // namespace herald
