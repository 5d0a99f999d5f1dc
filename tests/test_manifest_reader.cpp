// The manifest as a stream: blank lines, BOM, CRLF, duplicate ids, lines longer than the API
// accepts, pipes; and count_manifest_jobs, the total for progress.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "test_manifest_support.hpp"

using namespace venice_batch;
using namespace manifest_test;

namespace {

// A pipe whose read end is opened by path, as `--manifest /dev/stdin` does.
class Pipe {
 public:
  Pipe() { EXPECT_EQ(::pipe(fds_), 0); }
  ~Pipe() {
    close_write_end();
    ::close(fds_[0]);
  }
  std::filesystem::path path() const { return "/proc/self/fd/" + std::to_string(fds_[0]); }
  void write(std::string_view text) { ASSERT_EQ(::write(fds_[1], text.data(), text.size()), static_cast<ssize_t>(text.size())); }
  void close_write_end() {
    if (fds_[1] >= 0) ::close(fds_[1]);
    fds_[1] = -1;
  }

 private:
  int fds_[2] = {-1, -1};
};

}  // namespace

// ---- the reader -------------------------------------------------------------------------------

TEST(ManifestTest, ReaderSkipsBlankLinesButKeepsCountingThem) {
  TempManifest file("\n   \t\n{\"prompt\":\"one\"}\n\r\n\n{\"prompt\":\"two\"}\n\n");
  auto entries = read_all(file.path());
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(std::get<JobSpec>(entries[0]).line, 3u);
  EXPECT_EQ(std::get<JobSpec>(entries[0]).id, "00000003");
  EXPECT_EQ(std::get<JobSpec>(entries[1]).line, 6u);
  EXPECT_EQ(std::get<JobSpec>(entries[1]).prompt, "two");
}

TEST(ManifestTest, ReaderToleratesUtf8BomOnFirstLine) {
  TempManifest file("\xEF\xBB\xBF{\"id\":\"first\",\"prompt\":\"p\"}\n");
  auto entries = read_all(file.path());
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(std::get<JobSpec>(entries[0]).id, "first");
}

TEST(ManifestTest, ReaderHandlesCrlfLineEndings) {
  TempManifest file("{\"prompt\":\"one\"}\r\n{\"prompt\":\"two\"}\r\n");
  auto entries = read_all(file.path());
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(std::get<JobSpec>(entries[0]).prompt, "one");
  EXPECT_EQ(std::get<JobSpec>(entries[1]).prompt, "two");
  EXPECT_EQ(std::get<JobSpec>(entries[1]).line, 2u);
}

TEST(ManifestTest, ReaderReadsLastLineWithoutNewline) {
  TempManifest file("{\"prompt\":\"one\"}\n{\"id\":\"last\",\"prompt\":\"no newline\"}");
  auto entries = read_all(file.path());
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(std::get<JobSpec>(entries[1]).id, "last");
}

TEST(ManifestTest, ReaderKeepsGoingPastBadLines) {
  TempManifest file("garbage\n[1]\n{\"prompt\":\"p\",\"width\":0}\n{\"prompt\":\"fine\"}\n");
  auto entries = read_all(file.path());
  ASSERT_EQ(entries.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(std::holds_alternative<InvalidLine>(entries[i])) << i;
    EXPECT_EQ(std::get<InvalidLine>(entries[i]).line, static_cast<std::uint64_t>(i + 1));
  }
  EXPECT_EQ(std::get<JobSpec>(entries[3]).prompt, "fine");
}

TEST(ManifestTest, ReaderRefusesLaterLineWithDuplicateId) {
  TempManifest file("{\"id\":\"a\",\"prompt\":\"one\"}\n\n{\"id\":\"a\",\"prompt\":\"two\"}\n");
  auto entries = read_all(file.path());
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(std::get<JobSpec>(entries[0]).prompt, "one");
  const auto& dup = std::get<InvalidLine>(entries[1]);
  EXPECT_EQ(dup.line, 3u);
  EXPECT_EQ(dup.id, "a");
  EXPECT_EQ(dup.reason, "duplicate id 'a' (first on line 1)");
  EXPECT_EQ(dup.line_hash, manifest_line_hash(R"({"id":"a","prompt":"two"})")) << "a later run can tell it changed";
}

TEST(ManifestTest, ReaderRefusesDerivedIdCollidingWithExplicitOne) {
  TempManifest file(
      "{\"prompt\":\"one\"}\n"
      "{\"id\":\"00000001\",\"prompt\":\"two\"}\n"
      "{\"id\":\"00000004\",\"prompt\":\"three\"}\n"
      "{\"prompt\":\"four\"}\n");
  auto entries = read_all(file.path());
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(std::get<JobSpec>(entries[0]).id, "00000001");
  EXPECT_EQ(std::get<InvalidLine>(entries[1]).reason, "duplicate id '00000001' (first on line 1)");
  EXPECT_EQ(std::get<JobSpec>(entries[2]).id, "00000004");
  EXPECT_EQ(std::get<InvalidLine>(entries[3]).reason, "duplicate id '00000004' (first on line 3)");
}

TEST(ManifestTest, ReaderAppliesDefaultsAndPassThroughOption) {
  TempManifest file("{\"prompt\":\"p\",\"future\":true}\n");
  ManifestOptions o = with_defaults(R"({"model":"m","format":"jpeg"})");
  o.allow_unknown_fields = true;
  auto entries = read_all(file.path(), o);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(std::get<JobSpec>(entries[0]).body, R"({"format":"jpeg","future":true,"model":"m","prompt":"p"})");
}

TEST(ManifestTest, ReaderReadsManyLinesAcrossReadBlocks) {
  std::string text;
  const int n = 30000;  // ~1.5 MB: lines straddle the reader's 1 MiB blocks
  for (int i = 0; i < n; ++i) text += R"({"prompt":"a watercolor of boat number )" + std::to_string(i) + R"( on a calm lake"})" + "\n";
  TempManifest file(text);
  ManifestReader reader(file.path(), with_defaults());
  int jobs = 0;
  while (auto e = reader.next()) {
    ASSERT_TRUE(std::holds_alternative<JobSpec>(*e)) << std::get<InvalidLine>(*e).reason;
    const auto& job = std::get<JobSpec>(*e);
    ASSERT_EQ(job.prompt, "a watercolor of boat number " + std::to_string(jobs) + " on a calm lake");
    ++jobs;
  }
  EXPECT_EQ(jobs, n);
  EXPECT_EQ(count_manifest_jobs(file.path()), static_cast<std::uint64_t>(n));
}

TEST(ManifestTest, ReaderRefusesLineLongerThanTheApiBodyLimitAndGoesOn) {
  std::string text = R"({"prompt":")" + std::string(36u << 20, 'a') + "\"}\n" + R"({"prompt":"next"})" + "\n";
  TempManifest file(text);
  text.clear();
  text.shrink_to_fit();
  auto entries = read_all(file.path());
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_TRUE(contains(std::get<InvalidLine>(entries[0]).reason, "longer than")) << std::get<InvalidLine>(entries[0]).reason;
  EXPECT_EQ(std::get<InvalidLine>(entries[0]).line_hash.size(), 64u) << "hashed by its length: its text is not kept";
  EXPECT_EQ(std::get<JobSpec>(entries[1]).line, 2u);
  EXPECT_EQ(count_manifest_jobs(file.path()), 2u);
}

TEST(ManifestTest, EmptyManifestHasNoEntries) {
  TempManifest file("");
  EXPECT_TRUE(read_all(file.path()).empty());
  EXPECT_EQ(count_manifest_jobs(file.path()), 0u);
}

TEST(ManifestTest, ReaderThrowsWhenDefaultsAreNotAnObject) {
  TempManifest file("{\"prompt\":\"p\"}\n");
  EXPECT_THROW(ManifestReader(file.path(), with_defaults("[1]")), std::runtime_error);
  EXPECT_THROW(ManifestReader(file.path(), with_defaults("\"model\"")), std::runtime_error);
  EXPECT_THROW(ManifestReader(file.path(), with_defaults("{")), std::runtime_error);
  EXPECT_THROW(ManifestReader(file.path(), with_defaults(R"({"id":"same-for-all"})")), std::runtime_error);
}

TEST(ManifestTest, ReaderThrowsWhenFileIsMissing) {
  EXPECT_THROW(ManifestReader(std::filesystem::path(testing::TempDir()) / "no-such-manifest.jsonl", with_defaults()),
               std::runtime_error);
}

// ---- count_manifest_jobs ----------------------------------------------------------------------

TEST(ManifestTest, CountSkipsBlankAndWhitespaceOnlyLines) {
  TempManifest file("\xEF\xBB\xBF\n{\"prompt\":\"a\"}\r\n \t \r\n\n   x\nnot json\n{\"prompt\":\"b\"}");
  EXPECT_EQ(count_manifest_jobs(file.path()), 4u);
  EXPECT_EQ(read_all(file.path()).size(), 4u) << "the count is the number of entries the reader yields";
}

TEST(ManifestTest, CountOfMissingFileIsUnknown) {
  EXPECT_EQ(count_manifest_jobs(std::filesystem::path(testing::TempDir()) / "no-such-manifest.jsonl"), std::nullopt);
}

// ---- pipes (--manifest /dev/stdin) ------------------------------------------------------------

TEST(ManifestTest, CountOfAPipeIsUnknownAndLeavesEveryLineToTheReader) {
  Pipe pipe;
  pipe.write("{\"prompt\":\"one\"}\n{\"prompt\":\"two\"}\n");
  pipe.close_write_end();
  EXPECT_EQ(count_manifest_jobs(pipe.path()), std::nullopt) << "a pipe can be read once";
  auto entries = read_all(pipe.path());
  ASSERT_EQ(entries.size(), 2u) << "the count consumed the pipe";
  EXPECT_EQ(std::get<JobSpec>(entries[1]).prompt, "two");
}

TEST(ManifestTest, CountOfANamedFifoIsUnknownWithoutWaitingForAWriter) {
  const auto fifo = std::filesystem::path(testing::TempDir()) / ("manifest-fifo-" + std::to_string(::getpid()));
  std::filesystem::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(count_manifest_jobs(fifo), std::nullopt);
  std::filesystem::remove(fifo);
}

TEST(ManifestTest, ReaderReadsAPipeWrittenByteByByte) {
  const std::string text = "\xEF\xBB\xBF{\"id\":\"first\",\"prompt\":\"one\"}\r\n\n  \nnot json\n{\"prompt\":\"last, no newline\"}";
  Pipe pipe;
  std::thread writer([&] {
    for (char c : text) pipe.write(std::string_view(&c, 1));
    pipe.close_write_end();
  });
  std::vector<ManifestEntry> entries;
  {
    ManifestReader reader(pipe.path(), with_defaults());
    while (auto e = reader.next()) entries.push_back(std::move(*e));
  }
  writer.join();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(std::get<JobSpec>(entries[0]).id, "first") << "the BOM is dropped even when it arrives a byte at a time";
  EXPECT_EQ(std::get<InvalidLine>(entries[1]).line, 4u);
  EXPECT_EQ(std::get<JobSpec>(entries[2]).prompt, "last, no newline");
  EXPECT_EQ(std::get<JobSpec>(entries[2]).line, 5u);
}
