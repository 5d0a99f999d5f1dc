// The journal on a disk that fills up: a real, small tmpfs (tests run as root here; skipped where
// mounting is not allowed).
#include <gtest/gtest.h>

#include <cerrno>

#include "test_support.hpp"
#include "venice_batch/journal.hpp"

using namespace venice_batch;
using test_support::fill_leaving;
using test_support::SmallTmpfs;

namespace {

JobRecord record(std::string id, std::size_t prompt_bytes) {
  JobRecord r;
  r.id = std::move(id);
  r.status = JobStatus::ok;
  r.http_status = 200;
  r.request_hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  r.prompt = std::string(prompt_bytes, 'p');
  return r;
}

}  // namespace

TEST(JournalDiskFullTest, ARecordAfterATornWriteStartsOnItsOwnLine) {
  SmallTmpfs fs(256 * 1024);
  if (!fs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here: " << fs.why_not();
  const auto path = fs / "results.jsonl";
  JournalWriter w(path);
  ASSERT_TRUE(w.append(record("before", 100)));
  fill_leaving(fs / "filler", 4096);
  auto torn = w.append(record("torn", 20'000));  // a page fits: a short write, then ENOSPC
  ASSERT_FALSE(torn);
  EXPECT_EQ(torn.error(), boost::system::error_code(ENOSPC, boost::system::system_category()));
  ASSERT_GT(std::filesystem::file_size(path), 4096u) << "expected part of the line in the file";

  std::filesystem::remove(fs / "filler");  // space comes back before the run ends
  ASSERT_TRUE(w.append(record("after", 100)));
  w.sync();

  auto j = read_journal(path);
  EXPECT_EQ(j.unreadable_lines, 1u);  // the torn fragment, on its own line
  EXPECT_TRUE(j.jobs.contains("before"));
  EXPECT_TRUE(j.jobs.contains("after")) << "the record after the torn write was glued onto it";
  EXPECT_FALSE(j.jobs.contains("torn"));
}

TEST(JournalDiskFullTest, CompactionOnAFullDiskLeavesTheJournalAsItWas) {
  SmallTmpfs fs(512 * 1024);
  if (!fs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here: " << fs.why_not();
  const auto path = fs / "results.jsonl";
  {
    JournalWriter w(path);
    for (int round = 0; round < 3; ++round) {
      for (int i = 0; i < 40; ++i) ASSERT_TRUE(w.append(record("job-" + std::to_string(i), 1000)));
    }
  }
  const auto before = test_support::read_file(path);
  fill_leaving(fs / "filler", 4096);  // the compacted journal (about 45 KB) does not fit

  auto compacted = compact_journal(path);
  ASSERT_FALSE(compacted);
  EXPECT_EQ(compacted.error(), boost::system::error_code(ENOSPC, boost::system::system_category()));
  EXPECT_EQ(test_support::read_file(path), before);
  std::size_t entries = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(path.parent_path())) ++entries;
  EXPECT_EQ(entries, 2u) << "a temp file was left behind";  // results.jsonl and the filler
}
