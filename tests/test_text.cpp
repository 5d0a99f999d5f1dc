#include <gtest/gtest.h>

#include "venice_batch/text.hpp"

using namespace venice_batch;

TEST(TextTest, ValidUtf8IsKeptAsIs) {
  const std::string text = "plain ✓ ünïcödé 𝄞 日本";
  EXPECT_TRUE(is_valid_utf8(text));
  EXPECT_EQ(sanitize_utf8(text), text);
}

TEST(TextTest, EveryIllFormedSequenceBecomesOneReplacementCharacter) {
  EXPECT_EQ(sanitize_utf8("ray-\xff\xfe-ams"), "ray-\uFFFD\uFFFD-ams");
  EXPECT_EQ(sanitize_utf8("\xC0\xAF"), "\uFFFD\uFFFD");            // overlong '/'
  EXPECT_EQ(sanitize_utf8("a\xED\xA0\x80z"), "a\uFFFD\uFFFD\uFFFDz");  // a surrogate
  EXPECT_EQ(sanitize_utf8("\xF4\x90\x80\x80"), "\uFFFD\uFFFD\uFFFD\uFFFD");  // past U+10FFFF
  // A cut character costs one replacement and never swallows the character after it.
  EXPECT_EQ(sanitize_utf8("\xE2\x9C" "a"), "\uFFFDa");
  EXPECT_EQ(sanitize_utf8("end \xF0\x9D\x84"), "end \uFFFD");
  EXPECT_TRUE(is_valid_utf8(sanitize_utf8("\x80\x81 \xE2\x28\xA1 \xF8\x88\x80\x80\x80")));
}

TEST(TextTest, TruncationNeverSplitsACharacter) {
  const std::string check = "ab✓";  // ✓ is 3 bytes
  EXPECT_EQ(truncate_utf8(check, 5), "ab✓");
  EXPECT_EQ(truncate_utf8(check, 4), "ab");
  EXPECT_EQ(truncate_utf8(check, 3), "ab");
  EXPECT_EQ(truncate_utf8(check, 2), "ab");
  EXPECT_EQ(truncate_utf8("𝄞𝄞", 7), "𝄞");
  EXPECT_EQ(truncate_utf8("xyz", 0), "");
  EXPECT_EQ(truncate_utf8("a\xff\xffz", 3), "a\xff\xff");  // ill-formed bytes count one each
}

TEST(TextTest, TerminalEscapesMakeControlCharactersVisible) {
  EXPECT_EQ(escape_for_terminal("\x1b[2J\x1b]0;pwned\x07 ok", 1000), "\\x1b[2J\\x1b]0;pwned\\x07 ok");
  EXPECT_EQ(escape_for_terminal(std::string("a\0b\rc\nd\te\x7f", 10), 1000), "a\\x00b\\rc\\nd\\te\\x7f");
  EXPECT_EQ(escape_for_terminal("csi \xC2\x9B" "31m", 1000), "csi \\u{009b}31m");  // C1 CSI
  EXPECT_EQ(escape_for_terminal("\xE2\x80\xAE" "evil", 1000), "\\u{202e}evil");      // right-to-left override
  EXPECT_EQ(escape_for_terminal("raw \x9b bytes \xff", 1000), "raw \\x9b bytes \\xff");
  EXPECT_EQ(escape_for_terminal("Caffè ✓ fine", 1000), "Caffè ✓ fine");
}

TEST(TextTest, TerminalTextIsCappedAndSaysHowMuchWasCut) {
  const std::string big(5'000'000, 'e');
  const auto shown = escape_for_terminal(big, 100);
  EXPECT_EQ(shown, std::string(100, 'e') + "… (4999900 bytes cut)");
  // An escape is never cut in half, and the count is of the original bytes.
  EXPECT_EQ(escape_for_terminal("ab\x1b" "cd", 4), "ab… (3 bytes cut)");
  EXPECT_EQ(escape_for_terminal("✓✓", 4), "✓… (3 bytes cut)");
}
