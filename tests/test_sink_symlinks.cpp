// Symbolic links planted in the out dir: nothing is ever written through one.
#include <gtest/gtest.h>

#include <unistd.h>

#include "test_support.hpp"
#include "venice_batch/sink.hpp"

using namespace venice_batch;
using test_support::TempDir;

namespace {
/// A file outside the out dir that a planted link points at.
struct Victim {
  explicit Victim(const TempDir& dir) : path(dir / "victim.txt") { test_support::write_file(path, "precious\n"); }
  bool untouched() const { return test_support::read_file(path) == "precious\n"; }
  std::filesystem::path path;
};
}  // namespace

TEST(SinkSymlinkTest, PlantedTempNamesAreNeverOpened) {
  TempDir dir;
  Victim victim(dir);
  const auto images = dir / "out/images";
  std::filesystem::create_directories(images);
  // Every name the sink used to derive from its pid and a counter.
  const auto pid = std::to_string(::getpid());
  std::filesystem::create_symlink(victim.path, images / (".probe.tmp-" + pid));
  for (int n = 0; n < 4; ++n)
    std::filesystem::create_symlink(victim.path, images / (".a_0.png.tmp-" + pid + "-" + std::to_string(n)));

  OutputSink sink(dir / "out", true);
  const std::vector<std::uint8_t> bytes(1000, 9);
  ASSERT_TRUE(sink.write_image("a_0.png", bytes));
  EXPECT_TRUE(victim.untouched());
  EXPECT_EQ(std::filesystem::file_size(images / "a_0.png"), bytes.size());
}

TEST(SinkSymlinkTest, ALinkAtTheFinalNameIsReplacedNotWrittenThrough) {
  TempDir dir;
  Victim victim(dir);
  OutputSink sink(dir / "out", false);
  std::filesystem::create_symlink(victim.path, dir / "out/images/a_0.png");
  ASSERT_TRUE(sink.write_image("a_0.png", std::vector<std::uint8_t>(10, 1)));
  EXPECT_TRUE(victim.untouched());
  EXPECT_FALSE(std::filesystem::is_symlink(dir / "out/images/a_0.png"));

  std::filesystem::create_symlink(victim.path, dir / "out/metrics.json");
  ASSERT_TRUE(write_file_atomically(dir / "out/metrics.json", "{}", false));
  EXPECT_TRUE(victim.untouched());
  EXPECT_EQ(test_support::read_file(dir / "out/metrics.json"), "{}");
}

TEST(SinkSymlinkTest, SideLogsAreNotAppendedThroughALink) {
  TempDir dir;
  Victim victim(dir);
  std::filesystem::create_symlink(victim.path, dir / "timeline.jsonl");
  append_text_line(dir / "timeline.jsonl", "{\"t\":1}\n");
  EXPECT_TRUE(victim.untouched());
}

TEST(SinkSymlinkTest, AnImagesDirThatIsALinkIsRefused) {
  TempDir dir;
  std::filesystem::create_directories(dir / "elsewhere");
  std::filesystem::create_directories(dir / "out");
  std::filesystem::create_directory_symlink(dir / "elsewhere", dir / "out/images");
  try {
    OutputSink sink(dir / "out", false);
    FAIL() << "images/ as a symlink was followed";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("is a symbolic link; refusing to follow it"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir / "elsewhere"));
}

TEST(SinkSymlinkTest, TempNamesAreUnpredictable) {
  TempDir dir;
  auto first = ReplacementFile::create(dir.path(), "x.png");
  auto second = ReplacementFile::create(dir.path(), "x.png");
  ASSERT_TRUE(first && second);
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) names.push_back(e.path().filename().string());
  ASSERT_EQ(names.size(), 2u);
  EXPECT_NE(names[0], names[1]);
  for (const auto& name : names) {
    EXPECT_TRUE(is_temp_file_name(name)) << name;
    EXPECT_EQ(name.find("tmp-" + std::to_string(::getpid()) + "-"), std::string::npos) << name;  // the old pattern
  }
}

// A link or a file planted at a fan-out folder's name failed the write only after the image was
// bought. folder_problem() says so before: the run checks it before each request.
TEST(SinkSymlinkTest, AFanOutFolderThatIsNotAFolderIsFoundBeforeAnyWrite) {
  TempDir dir;
  std::filesystem::create_directories(dir / "elsewhere");
  OutputSink sink(dir / "out", true);
  std::filesystem::create_directory_symlink(dir / "elsewhere", dir / "out/images/a3f");
  test_support::write_file(dir / "out/images/b00", "not a folder");
  std::filesystem::create_directories(dir / "out/images/c11");

  const auto link = sink.folder_problem("a3f");
  ASSERT_TRUE(link);
  EXPECT_NE(link->find("a symbolic link"), std::string::npos) << *link;
  const auto file = sink.folder_problem("b00");
  ASSERT_TRUE(file);
  EXPECT_NE(file->find("a file"), std::string::npos) << *file;
  EXPECT_FALSE(sink.folder_problem("c11"));  // a folder
  EXPECT_FALSE(sink.folder_problem("d22"));  // not made yet: the first write makes it
  EXPECT_FALSE(sink.folder_problem(""));     // no fan-out
  // What the check says is what the write meets.
  EXPECT_FALSE(sink.write_image("a3f/x_0.png", std::vector<std::uint8_t>(10, 1)));
  EXPECT_TRUE(std::filesystem::is_empty(dir / "elsewhere"));
  EXPECT_TRUE(sink.write_image("d22/x_0.png", std::vector<std::uint8_t>(10, 1)));
  EXPECT_FALSE(sink.folder_problem("d22"));
}
