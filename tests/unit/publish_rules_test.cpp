#include "core/publish_rules.hpp"

#include <gtest/gtest.h>

namespace herald {
namespace {

std::string code_of(std::variant<PublishRequest, Error> result) {
  auto* error = std::get_if<Error>(&result);
  return error ? error->code : "";
}

TEST(PublishRules, AcceptsTextAndCompactsJson) {
  auto ok = make_publish_request("ch", "ev", "hello", false, 100);
  ASSERT_EQ(code_of(ok), "");
  auto json = std::get<PublishRequest>(make_publish_request("ch", "", "{ \"a\" :\n 1 }", true, 100));
  EXPECT_EQ(json.data, R"({"a":1})");
  EXPECT_TRUE(json.is_json);
}

TEST(PublishRules, RefusesWithACode) {
  EXPECT_EQ(code_of(make_publish_request("a b", "", "x", false, 100)), "bad_channel");
  EXPECT_EQ(code_of(make_publish_request("ch", "bad event", "x", false, 100)), "bad_event");
  EXPECT_EQ(code_of(make_publish_request("ch", "gap", "x", false, 100)), "bad_event");
  EXPECT_EQ(code_of(make_publish_request("ch", "", std::string(101, 'x'), false, 100)), "too_large");
  EXPECT_EQ(code_of(make_publish_request("ch", "", "\xff\xfe", false, 100)), "bad_utf8");
  EXPECT_EQ(code_of(make_publish_request("ch", "", "\xed\xa0\x80", false, 100)), "bad_utf8");  // a surrogate
  EXPECT_EQ(code_of(make_publish_request("ch", "", "\xc0\xaf", false, 100)), "bad_utf8");      // overlong
  EXPECT_EQ(code_of(make_publish_request("ch", "", "{", true, 100)), "bad_json");
  // Too large for a double: it would be forwarded as the bare word Infinity, which is not JSON.
  EXPECT_EQ(code_of(make_publish_request("ch", "", R"({"n":[1e400]})", true, 100)), "bad_json");
  EXPECT_EQ(code_of(make_publish_request("ch", "", "-1e400", true, 100)), "bad_json");
  EXPECT_EQ(code_of(make_publish_request("ch", "", "1e400", false, 100)), "");  // as text it is just text
}

TEST(PublishRules, AcceptsMultibyteUtf8) {
  EXPECT_EQ(code_of(make_publish_request("ch", "", "héllo 世界 🎉", false, 100)), "");
}

}  // namespace
}  // namespace herald

namespace herald {
namespace {

TEST(PublishRules, IdempotencyKeysAreShortVisibleAscii) {
  EXPECT_FALSE(refuse_idempotency_key("order-8812:shipped"));
  EXPECT_FALSE(refuse_idempotency_key(std::string(max_idempotency_key_bytes, 'k')));
  EXPECT_FALSE(refuse_idempotency_key("!~"));
  for (std::string bad : {std::string(), std::string(max_idempotency_key_bytes + 1, 'k'), std::string("a b"),
                          std::string("tab\there"), std::string("caf\xc3\xa9"), std::string("nul\0x", 5)}) {
    auto refused = refuse_idempotency_key(bad);
    ASSERT_TRUE(refused) << bad;
    EXPECT_EQ(refused->code, "bad_idempotency_key");
  }
}

}  // namespace
}  // namespace herald
