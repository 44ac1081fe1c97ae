#include "core/channel_name.hpp"

#include <gtest/gtest.h>

namespace herald {

TEST(ChannelName, AcceptsTheWholeAlphabet) {
  EXPECT_TRUE(is_valid_channel_name("a"));
  EXPECT_TRUE(is_valid_channel_name("AZaz09_-.:@"));
  EXPECT_TRUE(is_valid_channel_name(std::string(128, 'x')));
}

TEST(ChannelName, RefusesEmptyLongAndForeignCharacters) {
  EXPECT_FALSE(is_valid_channel_name(""));
  EXPECT_FALSE(is_valid_channel_name(std::string(129, 'x')));
  for (std::string bad : {"a b", "a/b", "a$b", "a\nb", "ü", "a\"b", "a%20"})
    EXPECT_FALSE(is_valid_channel_name(bad)) << bad;
}

TEST(ChannelName, NamespaceIsThePartBeforeTheFirstColon) {
  EXPECT_EQ(namespace_of("chat:lobby:east"), "chat");
  EXPECT_EQ(namespace_of("plain"), "");
  EXPECT_EQ(namespace_of(":x"), "");
}

}  // namespace herald
