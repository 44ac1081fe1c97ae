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
}

TEST(PublishRules, AcceptsMultibyteUtf8) {
  EXPECT_EQ(code_of(make_publish_request("ch", "", "héllo 世界 🎉", false, 100)), "");
}

}  // namespace
}  // namespace herald
