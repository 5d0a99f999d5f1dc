// The journal on a disk that fills up: a real, small tmpfs (tests run as root here; skipped where
// mounting is not allowed).
#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include "test_support.hpp"
#include "venice_batch/journal.hpp"

using namespace venice_batch;

namespace {

/// A tmpfs of `bytes` mounted on a fresh directory, unmounted on destruction.
class SmallTmpfs {
 public:
  explicit SmallTmpfs(std::size_t bytes) : path_(dir_.path() / "mnt") {
    std::filesystem::create_directory(path_);
    const std::string options = "size=" + std::to_string(bytes);
    mounted_ = ::mount("tmpfs", path_.c_str(), "tmpfs", 0, options.c_str()) == 0;
    error_ = errno;
  }
  ~SmallTmpfs() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  std::string why_not() const { return std::strerror(error_); }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  test_support::TempDir dir_;
  std::filesystem::path path_;
  bool mounted_ = false;
  int error_ = 0;
};

/// Fills the file system holding `path` until `keep_free` bytes are left (as near as pages allow).
void fill_leaving(const std::filesystem::path& path, std::size_t keep_free) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  const std::string block(4096, 'f');
  off_t filled = 0;
  while (::write(fd, block.data(), block.size()) > 0) filled += static_cast<off_t>(block.size());
  ASSERT_EQ(errno, ENOSPC);
  ASSERT_EQ(::ftruncate(fd, filled - static_cast<off_t>(keep_free)), 0);
  ::close(fd);
}

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
