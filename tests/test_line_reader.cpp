// LineReader: a file or a pipe line by line, each line a view with simdjson padding after it,
// a line over the cap skipped with its length, never the whole file in memory.
#include <gtest/gtest.h>

#include <simdjson.h>

#include "test_support.hpp"
#include "venice_batch/line_reader.hpp"

using namespace venice_batch;
using test_support::TempDir;

namespace {

std::vector<LineReader::Line> all_lines(LineReader& reader, std::vector<std::string>* texts = nullptr) {
  std::vector<LineReader::Line> lines;
  while (auto line = reader.next()) {
    if (texts) texts->emplace_back(line->text);
    lines.push_back(*line);
  }
  return lines;
}

}  // namespace

TEST(LineReaderTest, LinesComeWithOffsetsAndCanBeParsedInPlace) {
  TempDir dir;
  test_support::write_file(dir / "f.jsonl", "{\"a\":1}\n\n{\"b\":[2,3]}\r\n{\"c\":\"last\"}");
  LineReader reader(dir / "f.jsonl", "journal", 1000, 16);  // 16-byte blocks: lines straddle reads
  simdjson::dom::parser parser;
  std::vector<std::string> texts;
  std::vector<std::uint64_t> offsets;
  while (auto line = reader.next()) {
    texts.emplace_back(line->text);
    offsets.push_back(line->offset);
    if (line->text.starts_with("{")) {
      simdjson::dom::element doc;
      std::string_view text = line->text;
      if (text.ends_with('\r')) text.remove_suffix(1);
      EXPECT_EQ(parser.parse(text.data(), text.size(), false).get(doc), simdjson::SUCCESS) << text;
    }
    EXPECT_EQ(line->newline, texts.size() < 4);
  }
  EXPECT_EQ(texts, (std::vector<std::string>{"{\"a\":1}", "", "{\"b\":[2,3]}\r", "{\"c\":\"last\"}"}));
  EXPECT_EQ(offsets, (std::vector<std::uint64_t>{0, 8, 9, 22}));
  EXPECT_TRUE(reader.is_regular_file());
}

TEST(LineReaderTest, LineLongerThanOneBlockButWithinTheCapIsKeptWhole) {
  TempDir dir;
  const std::string long_line(5000, 'x');
  test_support::write_file(dir / "f", "a\n" + long_line + "\nb\n");
  LineReader reader(dir / "f", "file", 5000, 64);
  std::vector<std::string> texts;
  auto lines = all_lines(reader, &texts);
  EXPECT_EQ(texts, (std::vector<std::string>{"a", long_line, "b"}));
  EXPECT_FALSE(lines[1].too_long);
}

TEST(LineReaderTest, LineOverTheCapIsSkippedWithItsLengthAndWhetherItWasBlank) {
  TempDir dir;
  test_support::write_file(dir / "f", std::string(300, 'x') + "\n" + std::string(300, ' ') + "\nafter\n" +
                                          std::string(70, 'y') + "\n" + std::string(250, 'z'));
  LineReader reader(dir / "f", "file", 100, 64);
  std::vector<std::string> texts;
  auto lines = all_lines(reader, &texts);
  ASSERT_EQ(lines.size(), 5u);
  EXPECT_TRUE(lines[0].too_long);
  EXPECT_EQ(lines[0].length, 300u);
  EXPECT_FALSE(lines[0].blank);
  EXPECT_EQ(texts[0], "") << "not kept";
  EXPECT_TRUE(lines[1].too_long);
  EXPECT_TRUE(lines[1].blank);
  EXPECT_EQ(lines[1].offset, 301u);
  EXPECT_EQ(texts[2], "after");
  EXPECT_EQ(lines[2].offset, 602u);
  EXPECT_EQ(texts[3], std::string(70, 'y'));
  EXPECT_TRUE(lines[4].too_long) << "a last line without newline, over the cap";
  EXPECT_EQ(lines[4].length, 250u);
  EXPECT_FALSE(lines[4].newline);
}

TEST(LineReaderTest, LineOverTheCapWithinOneBlockIsStillTooLong) {
  TempDir dir;
  test_support::write_file(dir / "f", std::string(150, 'x') + "\nok\n");
  LineReader reader(dir / "f", "file", 100, 4096);
  auto lines = all_lines(reader);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(lines[0].too_long);
  EXPECT_EQ(lines[1].text, "ok");
}

TEST(LineReaderTest, EmptyFileHasNoLines) {
  TempDir dir;
  test_support::write_file(dir / "f", "");
  LineReader reader(dir / "f", "file", 100);
  EXPECT_EQ(reader.next(), std::nullopt);
}

TEST(LineReaderTest, MissingFileIsAnErrorNamingIt) {
  try {
    LineReader reader("/nonexistent/m.jsonl", "manifest", 100);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot open manifest '/nonexistent/m.jsonl': No such file or directory");
  }
}

TEST(LineReaderTest, RangesThatMeetGiveEachLineToExactlyOneReader) {
  TempDir dir;
  const std::string text = "first\n\nthird line\n" + std::string(300, 'x') + "\nlast without newline";
  test_support::write_file(dir / "f", text);
  std::vector<std::string> whole;
  {
    LineReader reader(dir / "f", "journal", 100, 16);
    all_lines(reader, &whole);
  }
  // Every split point, the line starts and the bytes around them included: the two halves
  // together are the whole file's lines, in order, each once (the long line too).
  for (std::uint64_t split = 0; split <= text.size() + 1; ++split) {
    std::vector<std::string> texts;
    std::vector<LineReader::Line> lines;
    for (auto [start, stop] : {std::pair<std::uint64_t, std::uint64_t>{0, split}, {split, UINT64_MAX}}) {
      LineReader reader(dir / "f", "journal", 100, 16);
      reader.restrict_to(start, stop);
      for (auto& l : all_lines(reader, &texts)) lines.push_back(l);
    }
    EXPECT_EQ(texts, whole) << "split at " << split;
    ASSERT_EQ(lines.size(), 5u) << "split at " << split;
    EXPECT_TRUE(lines[3].too_long) << "split at " << split;
    EXPECT_FALSE(lines[4].newline) << "split at " << split;
  }
}
