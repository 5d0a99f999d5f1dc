// The template grammar of sweeps: alternatives, nesting, escapes, empty options, pick-k,
// wildcards (files, comments, nesting, cycles, missing files) and the messages a user reads.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "test_expand_support.hpp"
#include "test_support.hpp"
#include "venice_batch/prompt_template.hpp"

using namespace venice_batch;

namespace {

using expand_test::files;

PromptTemplate parse_ok(std::string_view text, std::map<std::string, std::string> wildcards = {}) {
  auto t = PromptTemplate::parse(text, "sweep.json: prompt", files(std::move(wildcards)));
  if (!t) ADD_FAILURE() << t.error();
  return std::move(*t);
}

std::string parse_error(std::string_view text, std::map<std::string, std::string> wildcards = {}) {
  auto t = PromptTemplate::parse(text, "sweep.json: prompt", files(std::move(wildcards)));
  if (t) ADD_FAILURE() << "parsed, but an error was expected: " << text;
  return t ? std::string() : t.error();
}

std::vector<std::string> all(const PromptTemplate& t) {
  std::vector<std::string> out;
  TemplateExpansion e;
  for (std::uint64_t i = 0; i < t.count(); ++i) {
    t.expand(i, e);
    out.push_back(e.prompt);
  }
  return out;
}

using Prompts = std::vector<std::string>;

}  // namespace

TEST(PromptTemplateTest, PlainTextIsOneExpansion) {
  EXPECT_EQ(all(parse_ok("a cat on a mat")), Prompts{"a cat on a mat"});
}

TEST(PromptTemplateTest, AlternativesMultiplyFirstGroupFastest) {
  auto t = parse_ok("a {red|blue} {cat|dog}");
  EXPECT_EQ(t.count(), 4u);
  EXPECT_EQ(all(t), (Prompts{"a red cat", "a blue cat", "a red dog", "a blue dog"}));
}

TEST(PromptTemplateTest, NestedAlternativesAddTheirOptions) {
  EXPECT_EQ(all(parse_ok("{a|b{1|2|3}}!")), (Prompts{"a!", "b1!", "b2!", "b3!"}));
  EXPECT_EQ(all(parse_ok("{x{y{z|w}|v}|u}")), (Prompts{"xyz", "xyw", "xv", "u"}));
}

TEST(PromptTemplateTest, EmptyOptionsAreAllowed) {
  EXPECT_EQ(all(parse_ok("a{| very} big cat")), (Prompts{"a big cat", "a very big cat"}));
  EXPECT_EQ(all(parse_ok("{a|}")), (Prompts{"a", ""}));
  EXPECT_EQ(all(parse_ok("x{}y")), (Prompts{"xy"}));
}

TEST(PromptTemplateTest, EscapesMakeSyntaxLiteral) {
  EXPECT_EQ(all(parse_ok(R"(\{a\|b\} \_\_cat\_\_ \\ 2\:\:1 \$\$)")), (Prompts{R"({a|b} __cat__ \ 2::1 $$)"}));
  EXPECT_EQ(all(parse_ok(R"({\}|\|})")), (Prompts{"}", "|"}));
}

TEST(PromptTemplateTest, OtherBackslashesAndTopLevelBarsAreText) {
  EXPECT_EQ(all(parse_ok(R"(C:\photos\new a | b)")), (Prompts{R"(C:\photos\new a | b)"}));
}

TEST(PromptTemplateTest, UnclosedBraceNamesLineAndColumn) {
  EXPECT_EQ(parse_error("a portrait\n  of {a|b"),
            "sweep.json: prompt, line 2, column 6: '{' is never closed (write \\{ for a literal brace)");
}

TEST(PromptTemplateTest, StrayClosingBraceIsAnError) {
  EXPECT_EQ(parse_error("café } x"), "sweep.json: prompt, line 1, column 6: '}' closes no '{' (write \\} for a literal brace)");
}

TEST(PromptTemplateTest, WeightsAreRefusedWithAReason) {
  const auto e = parse_error("{a|2::b}");
  EXPECT_NE(e.find("line 1, column 4: weights ('2::a') are not supported"), std::string::npos) << e;
  EXPECT_NE(parse_error("{0.5::a|b}").find("weights"), std::string::npos);
}

TEST(PromptTemplateTest, PickKOfNListsCombinationsInOrder) {
  EXPECT_EQ(all(parse_ok("{2$$a|b|c}")), (Prompts{"a, b", "a, c", "b, c"}));
}

TEST(PromptTemplateTest, PickRangeWithSeparator) {
  EXPECT_EQ(all(parse_ok("{1-2$$ and $$red|blue}")), (Prompts{"red", "blue", "red and blue"}));
  EXPECT_EQ(all(parse_ok("{0-1$$a|b}")), (Prompts{"", "a", "b"}));
}

TEST(PromptTemplateTest, PickOptionsExpandThemselves) {
  auto t = parse_ok("{2$$x{1|2}|y|z}");
  EXPECT_EQ(t.count(), 5u);  // {x1,x2} with y or z (4), and y with z
  EXPECT_EQ(all(t), (Prompts{"x1, y", "x1, z", "x2, y", "x2, z", "y, z"}));
}

TEST(PromptTemplateTest, PickingMoreThanThereAreOptionsIsAnError) {
  EXPECT_EQ(parse_error("ok {1-4$$a|b|c}"), "sweep.json: prompt, line 1, column 4: picks up to 4 of only 3 options");
  EXPECT_NE(parse_error("{3-1$$a|b|c}").find("the first number must not exceed the second"), std::string::npos);
}

TEST(PromptTemplateTest, WildcardFileHasOneOptionPerLine) {
  auto t = parse_ok("a __animal__", {{"animal", "# animals\ncat\n\n   \n  dog  \r\n#bird\nfox"}});
  EXPECT_EQ(all(t), (Prompts{"a cat", "a dog", "a fox"}));
}

TEST(PromptTemplateTest, WildcardLinesAreTemplatesThemselves) {
  auto t = parse_ok("__scene__", {{"scene", "a {red|blue} __animal__\nan empty room"}, {"animal", "cat\ndog"}});
  EXPECT_EQ(all(t), (Prompts{"a red cat", "a blue cat", "a red dog", "a blue dog", "an empty room"}));
}

TEST(PromptTemplateTest, TheSameWildcardTwiceIsLoadedOnce) {
  int loads = 0;
  WildcardSource counting = [&](std::string_view) -> boost::system::result<WildcardFile, std::string> {
    ++loads;
    return WildcardFile{"a\nb", "wildcards/x.txt"};
  };
  auto t = PromptTemplate::parse("__x__ and __x__", "p", counting);
  ASSERT_TRUE(t) << t.error();
  EXPECT_EQ(t->count(), 4u);
  EXPECT_EQ(loads, 1);
}

TEST(PromptTemplateTest, MissingWildcardFileNamesFileLineAndColumn) {
  EXPECT_EQ(parse_error("a portrait\nof a __animal__"),
            "sweep.json: prompt, line 2, column 6: wildcard __animal__: no file wildcards/animal.txt");
}

TEST(PromptTemplateTest, MissingWildcardInsideAWildcardFileNamesThatFile) {
  EXPECT_EQ(parse_error("__scene__", {{"scene", "# scenes\na __nope__ in the rain"}}),
            "wildcards/scene.txt, line 2, column 3: wildcard __nope__: no file wildcards/nope.txt");
}

TEST(PromptTemplateTest, SyntaxErrorInAWildcardFileNamesItsLine) {
  EXPECT_EQ(parse_error("x __w__", {{"w", "fine\n\n  {a|b"}}),
            "wildcards/w.txt, line 3, column 3: '{' is never closed (write \\{ for a literal brace)");
}

TEST(PromptTemplateTest, WildcardCycleIsAnError) {
  EXPECT_EQ(parse_error("__a__", {{"a", "x __b__"}, {"b", "y\n__a__"}}),
            "wildcards/b.txt, line 2, column 1: wildcard __a__: refers back to itself: __a__ -> __b__ -> __a__");
  EXPECT_NE(parse_error("__a__", {{"a", "__a__"}}).find("refers back to itself: __a__ -> __a__"), std::string::npos);
}

TEST(PromptTemplateTest, WildcardNestingIsBounded) {
  std::map<std::string, std::string> chain;
  for (int i = 0; i < 40; ++i) chain["w" + std::to_string(i)] = "__w" + std::to_string(i + 1) + "__";
  chain["w40"] = "end";
  EXPECT_NE(parse_error("__w0__", chain).find("wildcards nested more than 32 deep"), std::string::npos);
}

TEST(PromptTemplateTest, WildcardFileWithoutOptionsIsAnError) {
  EXPECT_EQ(parse_error("__e__", {{"e", "# nothing yet\n\n"}}),
            "sweep.json: prompt, line 1, column 1: wildcard __e__: wildcards/e.txt has no options "
            "(every line is blank or a # comment)");
}

TEST(PromptTemplateTest, UnderscoresThatNameNoWildcardStayText) {
  EXPECT_EQ(all(parse_ok("snake_case, a __ b, __../secret__, __.hidden__")),
            (Prompts{"snake_case, a __ b, __../secret__, __.hidden__"}));
  EXPECT_EQ(all(parse_ok("___x__", {{"x", "1"}})), (Prompts{"_1"}));
}

TEST(PromptTemplateTest, ChoicesAreRecordedByLabel) {
  auto t = parse_ok("{red|blue} __animal__ {a|b{1|2}} __animal__", {{"animal", "cat\ndog"}});
  TemplateExpansion e;
  t.expand(1 + 2 * 1 + 4 * 1 + 12 * 0, e);  // blue, dog, b1, cat (radices 2, 2, 3, 2)
  EXPECT_EQ(e.prompt, "blue dog b1 cat");
  std::vector<std::pair<std::string, std::string>> got;
  for (const auto& c : e.choices) got.emplace_back(t.label_text(c.label), e.prompt.substr(c.begin, c.end - c.begin));
  EXPECT_EQ(got, (std::vector<std::pair<std::string, std::string>>{
                     {"{1}", "blue"}, {"__animal__", "dog"}, {"{2}", "b1"}, {"__animal__", "cat"}}));
}

TEST(PromptTemplateTest, MoreThan2To64ExpansionsIsAnError) {
  std::string text;
  for (int i = 0; i < 65; ++i) text += "{a|b}";
  EXPECT_NE(parse_error(text).find("has more than 2^64-1 expansions"), std::string::npos);
  text.resize(63 * 5);
  EXPECT_EQ(parse_ok(text).count(), std::uint64_t{1} << 63);
}

TEST(PromptTemplateTest, WildcardDirectoryReadsNamesWithSubdirectories) {
  test_support::TempDir dir;
  std::filesystem::create_directories(dir / "colors");
  test_support::write_file(dir / "colors" / "warm.txt", "red\norange\n");
  auto t = PromptTemplate::parse("__colors/warm__ sky", "p", wildcard_directory(dir.path(), "wc"));
  ASSERT_TRUE(t) << t.error();
  EXPECT_EQ(all(*t), (Prompts{"red sky", "orange sky"}));
  auto missing = PromptTemplate::parse("__colors/cold__", "p", wildcard_directory(dir.path(), "wc"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), "p, line 1, column 1: wildcard __colors/cold__: no file wc/colors/cold.txt");
}
