// Group commit for files written under a temp name (ReplacementFile): many writer threads each
// hand over one file and block; the first of them to find no commit under way becomes the leader,
// takes every file queued so far, syncs their data, renames each over its final name, syncs each
// distinct directory once, and wakes the batch. A caller returns only when its own file and its
// directory entry are durable, or with that file's own error; a file whose sync failed is never
// renamed. Policy: no waiting for company; a batch is whatever queued while the last one ran
// (at most max_batch files), so one writer alone pays what it paid before and many share.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace venice_batch {

/// The calls that make a file durable, each returning 0 or an errno. The defaults are the
/// system's; tests replace them to count calls or to fail one file's sync.
struct DurabilityCalls {
  std::function<int(int fd)> start_writeback;  ///< on the writer's thread before it waits (may be a no-op)
  std::function<int(int fd)> sync_file;        ///< the file's data and what is needed to read it
  std::function<int(int dir_fd)> sync_dir;     ///< the directory's entries
  /// sync_file_range(SYNC_FILE_RANGE_WRITE) to start writeback, fdatasync for files, fsync for
  /// directories (bench/RESULTS.md, issue 10, says why fdatasync).
  static DurabilityCalls system();
};

/// One file handed to GroupCommitter::commit: written and open as `fd` (ownership passes to
/// commit(), which closes it), named `temp_name` in the directory open as `dir_fd` (not owned).
struct FileToCommit {
  int fd = -1;
  int dir_fd = -1;
  std::string temp_name, name;
  /// When >= 0, the directory (open, not owned) holding dir_fd's own entry, synced too: a folder
  /// made since its parent was last synced. One sync per batch serves every new folder in it.
  int parent_dir_fd = -1;
};

class GroupCommitter {
 public:
  explicit GroupCommitter(DurabilityCalls calls = DurabilityCalls::system(), std::size_t max_batch = 256);
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  /// Blocks until `file` is synced, renamed over `name` and its directory (and parent_dir_fd) synced. On failure the
  /// error is this file's: of its sync, close or rename (then the temp file is removed and
  /// `name` is unchanged), or of its directory's sync (then it is renamed, but not known durable).
  /// Safe to call from many threads at once; the more wait, the fewer syncs each pays.
  boost::system::result<void> commit(FileToCommit file);

  struct Counts {
    std::uint64_t batches = 0, files = 0, dir_syncs = 0;
    std::size_t largest_batch = 0;
    std::size_t waiting = 0;  ///< handed over and not done yet (queued, or in the batch under way)
  };
  /// What was done so far (for tests and benchmarks).
  Counts counts() const;

 private:
  struct Waiter {
    FileToCommit file;
    boost::system::error_code error;
    bool done = false;
  };
  std::uint64_t commit_batch(const std::vector<Waiter*>& batch);

  DurabilityCalls calls_;
  const std::size_t max_batch_;
  mutable std::mutex mutex_;
  std::condition_variable batch_done_;
  std::vector<Waiter*> queue_;  // handed over, not yet taken by a leader
  bool leader_active_ = false;
  Counts counts_;
};

}  // namespace venice_batch
