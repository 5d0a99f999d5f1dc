#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "test_support.hpp"
#include "venice_batch/group_commit.hpp"
#include "venice_batch/sink.hpp"

using namespace venice_batch;
using test_support::TempDir;

namespace {

// Real close/rename in a temp dir; the syncs are counted (and may fail) instead of reaching the disk.
struct CountedSyncs {
  std::atomic<int> file_syncs{0}, dir_syncs{0};
  std::string failing_temp_prefix = "-";  // sync_file answers EIO for a temp file named so
  int failing_dir_fd = -1;                // sync_dir answers ENOSPC for this one
  std::chrono::microseconds file_sync_time{0};  // how long a file's sync takes (a disk's latency)

  DurabilityCalls calls() {
    DurabilityCalls c;
    c.start_writeback = [](int) { return 0; };
    c.sync_file = [this](int fd) {
      ++file_syncs;
      std::this_thread::sleep_for(file_sync_time);
      std::error_code ec;
      const auto path = std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(fd), ec);
      return path.filename().string().rfind(failing_temp_prefix, 0) == 0 ? EIO : 0;
    };
    c.sync_dir = [this](int fd) {
      ++dir_syncs;
      return fd == failing_dir_fd ? ENOSPC : 0;
    };
    return c;
  }
};

/// `p`, made first (with its parents) if missing.
std::filesystem::path created_dir(const std::filesystem::path& p) {
  std::filesystem::create_directories(p);
  return p;
}

struct OpenDir {
  explicit OpenDir(const std::filesystem::path& p) : fd(::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {}
  ~OpenDir() { ::close(fd); }
  int fd;
};

std::vector<std::string> names_in(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST(GroupCommitTest, ManyThreadsCommittingAtOnceAllGetTheirFileUnderItsFinalName) {
  TempDir dir;
  OpenDir d(dir.path());
  CountedSyncs syncs;
  syncs.file_sync_time = std::chrono::microseconds(300);  // others queue while a batch syncs
  GroupCommitter committer(syncs.calls());
  constexpr int kThreads = 16, kFilesEach = 20;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kFilesEach; ++i) {
        auto file = ReplacementFile::create(d.fd, "f" + std::to_string(t) + "_" + std::to_string(i));
        if (!file || !file->write(std::string_view("payload")) || !file->commit(committer)) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();

  EXPECT_EQ(failures, 0);
  const auto names = names_in(dir.path());
  ASSERT_EQ(names.size(), static_cast<std::size_t>(kThreads * kFilesEach)) << "every file renamed, no temp left";
  for (const auto& n : names) EXPECT_FALSE(is_temp_file_name(n)) << n;
  EXPECT_EQ(std::filesystem::file_size(dir.path() / "f3_7"), 7u);
  const auto counts = committer.counts();
  EXPECT_EQ(syncs.file_syncs, kThreads * kFilesEach) << "each file's data synced once";
  EXPECT_EQ(counts.files, static_cast<std::uint64_t>(kThreads * kFilesEach));
  EXPECT_EQ(static_cast<std::uint64_t>(syncs.dir_syncs), counts.batches) << "one directory sync per batch";
  EXPECT_LT(counts.batches, counts.files) << "writers waiting together share a batch";
}

TEST(GroupCommitTest, ABatchSyncsEachDistinctDirectoryOnce) {
  TempDir dir;
  OpenDir a(created_dir(dir.path() / "a")), b(created_dir(dir.path() / "b"));
  CountedSyncs syncs;
  // Hold the leader inside its first sync until every writer has handed its file over (queued
  // behind it, not only past start_writeback, which a CI run showed is not the same): two
  // batches at most, for sure.
  std::atomic<bool> first{true};
  DurabilityCalls calls = syncs.calls();
  auto counted_sync = calls.sync_file;
  GroupCommitter* committer = nullptr;
  calls.sync_file = [&](int fd) {
    if (first.exchange(false))
      while (committer->counts().waiting < 6) std::this_thread::yield();
    return counted_sync(fd);
  };
  GroupCommitter held(calls);
  committer = &held;
  // One writer first, alone: it leads and holds; the other five queue behind it.
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      auto file = ReplacementFile::create(i % 2 ? a.fd : b.fd, "img" + std::to_string(i));
      ASSERT_TRUE(file);
      ASSERT_TRUE(file->write(std::string_view("x")));
      EXPECT_TRUE(file->commit(held));
    });
  }
  for (auto& th : threads) th.join();

  const auto counts = held.counts();
  EXPECT_EQ(counts.files, 6u);
  // The first batch may be its leader's file alone (taken before the rest queued); the rest came
  // together while it was held. Either way each batch synced each of its directories once.
  EXPECT_LE(counts.batches, 2u);
  EXPECT_LE(counts.dir_syncs, 3u) << "6 files in 2 directories";
  EXPECT_EQ(syncs.dir_syncs, static_cast<int>(counts.dir_syncs));
  EXPECT_EQ(names_in(dir.path() / "a").size(), 3u);
  EXPECT_EQ(names_in(dir.path() / "b").size(), 3u);
}

// With the fan-out, most files of a short run are each in a folder made a moment ago, whose
// entry in images/ must be durable too. That parent was synced once per new folder, one at a
// time under the sink's lock; now each batch syncs it once for all its new folders.
TEST(GroupCommitTest, NewFoldersInOneBatchShareOneSyncOfTheirParent) {
  TempDir dir;
  OpenDir parent(dir.path());
  std::vector<std::unique_ptr<OpenDir>> folders;
  for (int i = 0; i < 6; ++i) folders.push_back(std::make_unique<OpenDir>(created_dir(dir.path() / std::to_string(i))));
  CountedSyncs syncs;
  std::atomic<int> parent_syncs{0};
  std::atomic<bool> first{true};
  DurabilityCalls calls = syncs.calls();
  auto counted_file = calls.sync_file;
  GroupCommitter* held = nullptr;
  calls.sync_file = [&](int fd) {
    if (first.exchange(false))
      while (held->counts().waiting < 6) std::this_thread::yield();  // held until all six are handed over
    return counted_file(fd);
  };
  auto counted_dir = calls.sync_dir;
  calls.sync_dir = [&](int fd) {
    if (fd == parent.fd) ++parent_syncs;
    return counted_dir(fd);
  };
  GroupCommitter committer(calls);
  held = &committer;
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i)
    threads.emplace_back([&, i] {
      auto file = ReplacementFile::create(folders[i]->fd, "img");
      ASSERT_TRUE(file);
      EXPECT_TRUE(file->commit(committer, parent.fd));
    });
  for (auto& th : threads) th.join();
  EXPECT_LE(committer.counts().batches, 2u);
  EXPECT_GE(parent_syncs, 1) << "the new folders' entries were never made durable";
  EXPECT_LE(parent_syncs, 2) << "once per batch, not once per folder";
  EXPECT_EQ(syncs.dir_syncs, 6 + parent_syncs) << "each folder once, and the parent";
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(std::filesystem::exists(dir.path() / std::to_string(i) / "img"));

  // A parent that cannot be synced is the error of each file that asked for it.
  syncs.failing_dir_fd = parent.fd;
  GroupCommitter failing(syncs.calls());
  auto asked = ReplacementFile::create(folders[0]->fd, "again");
  auto not_asked = ReplacementFile::create(folders[1]->fd, "again");
  ASSERT_TRUE(asked && not_asked);
  auto failed = asked->commit(failing, parent.fd);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error(), boost::system::error_code(ENOSPC, boost::system::system_category()));
  EXPECT_TRUE(not_asked->commit(failing));
}

TEST(GroupCommitTest, AFailedFileSyncReachesOnlyThatCallerAndNeverRenamesIt) {
  TempDir dir;
  OpenDir d(dir.path());
  CountedSyncs syncs;
  syncs.failing_temp_prefix = ".f3.tmp-";
  GroupCommitter committer(syncs.calls());
  constexpr int kThreads = 8;
  std::vector<boost::system::error_code> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto file = ReplacementFile::create(d.fd, "f" + std::to_string(t));
      ASSERT_TRUE(file);
      ASSERT_TRUE(file->write(std::string_view("data")));
      auto committed = file->commit(committer);
      if (!committed) results[t] = committed.error();
    });
  }
  for (auto& th : threads) th.join();

  for (int t = 0; t < kThreads; ++t) {
    if (t == 3) EXPECT_EQ(results[t], boost::system::error_code(EIO, boost::system::system_category()));
    else EXPECT_FALSE(results[t]) << "file " << t << ": " << results[t].message();
  }
  const auto names = names_in(dir.path());
  EXPECT_EQ(names.size(), 7u) << "the failed file is neither renamed nor left as a temp file";
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "f3"));
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "f2"));
}

TEST(GroupCommitTest, AFailedDirectorySyncIsTheErrorOfThatDirectorysFilesOnly) {
  TempDir dir;
  OpenDir full(created_dir(dir.path() / "full")), fine(created_dir(dir.path() / "fine"));
  CountedSyncs syncs;
  syncs.failing_dir_fd = full.fd;
  GroupCommitter committer(syncs.calls());

  auto in_full = ReplacementFile::create(full.fd, "a");
  auto in_fine = ReplacementFile::create(fine.fd, "b");
  ASSERT_TRUE(in_full && in_fine);
  auto failed = in_full->commit(committer);
  auto ok = in_fine->commit(committer);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error(), boost::system::error_code(ENOSPC, boost::system::system_category()));
  EXPECT_TRUE(ok);
}

TEST(GroupCommitTest, OneWriterAlonePaysOneFileSyncAndOneDirectorySyncPerFile) {
  TempDir dir;
  OpenDir d(dir.path());
  CountedSyncs syncs;
  GroupCommitter committer(syncs.calls());
  for (int i = 0; i < 3; ++i) {
    auto file = ReplacementFile::create(d.fd, "solo" + std::to_string(i));
    ASSERT_TRUE(file);
    ASSERT_TRUE(file->commit(committer));
  }
  EXPECT_EQ(syncs.file_syncs, 3);
  EXPECT_EQ(syncs.dir_syncs, 3) << "no waiting for company: each lone file is committed at once";
  EXPECT_EQ(committer.counts().batches, 3u);
}

TEST(GroupCommitTest, DurableWriteImageThroughTheSinkLeavesOnlyFinalNames) {
  TempDir dir;
  OutputSink sink(dir.path() / "out", true);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::uint8_t> bytes(50000, static_cast<std::uint8_t>(t));
      EXPECT_TRUE(sink.write_image("img" + std::to_string(t) + "_0.webp", bytes));
    });
  }
  for (auto& th : threads) th.join();
  const auto names = names_in(dir.path() / "out/images");
  EXPECT_EQ(names.size(), 8u);
  for (const auto& n : names) EXPECT_FALSE(is_temp_file_name(n)) << n;
}

TEST(GroupCommitTest, ABatchThatThrowsFailsItsFilesAndTheNextCommitStillRuns) {
  // A leader that left by an exception (std::bad_alloc in the batch) used to keep the leader's
  // flag set: every later writer waited for ever. Now the batch fails and the next one leads.
  TempDir dir;
  OpenDir d(dir.path());
  std::atomic<int> calls{0};
  DurabilityCalls c;
  c.start_writeback = [](int) { return 0; };
  c.sync_file = [&](int) -> int {
    if (calls++ == 0) throw std::bad_alloc();
    return 0;
  };
  c.sync_dir = [](int) { return 0; };
  GroupCommitter committer(c);
  auto first = ReplacementFile::create(d.fd, "first");
  ASSERT_TRUE(first);
  auto failed = first->commit(committer);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error(), boost::system::error_code(ENOMEM, boost::system::system_category()));
  auto second = ReplacementFile::create(d.fd, "second");
  ASSERT_TRUE(second);
  EXPECT_TRUE(second->commit(committer)) << "the next writer leads";
  EXPECT_EQ(names_in(dir.path()), (std::vector<std::string>{"second"})) << "no temp file and no 'first'";
}
