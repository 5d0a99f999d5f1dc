#include "venice_batch/group_commit.hpp"

#include <algorithm>
#include <cerrno>
#include <utility>

#include <fcntl.h>
#include <unistd.h>

namespace venice_batch {
namespace {

int errno_of(int rc) { return rc == 0 ? 0 : errno; }

int retry_eintr(int (*call)(int), int fd) {
  int rc;
  do rc = call(fd);
  while (rc != 0 && errno == EINTR);
  return errno_of(rc);
}

boost::system::error_code as_error(int err) { return {err, boost::system::system_category()}; }

}  // namespace

DurabilityCalls DurabilityCalls::system() {
  DurabilityCalls c;
  // Starts the disk on this file while the writer waits for its batch: by the time the leader
  // syncs, most of the data is on its way. Advice only: an error here is found again by the sync.
  c.start_writeback = [](int fd) {
    (void)::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    return 0;
  };
  c.sync_file = [](int fd) { return retry_eintr(::fdatasync, fd); };
  c.sync_dir = [](int fd) { return retry_eintr(::fsync, fd); };
  return c;
}

GroupCommitter::GroupCommitter(DurabilityCalls calls, std::size_t max_batch)
    : calls_(std::move(calls)), max_batch_(std::max<std::size_t>(1, max_batch)) {}

boost::system::result<void> GroupCommitter::commit(FileToCommit file) {
  if (calls_.start_writeback) (void)calls_.start_writeback(file.fd);
  Waiter self{std::move(file), {}, false};
  std::unique_lock lock(mutex_);
  queue_.push_back(&self);
  ++counts_.waiting;
  while (!self.done) {
    if (leader_active_) {
      batch_done_.wait(lock);
      continue;
    }
    // Lead: take what queued (oldest first; this file may wait for the next round if the queue
    // is over max_batch), commit it unlocked, then wake everyone: the next leader is whoever
    // still waits.
    leader_active_ = true;
    const auto take = std::min(queue_.size(), max_batch_);
    std::vector<Waiter*> batch(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(take));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(take));
    lock.unlock();
    std::uint64_t dir_syncs = 0;
    try {
      dir_syncs = commit_batch(batch);
    } catch (...) {
      // Out of memory mid-batch (or a call that throws): the batch fails as a whole rather than
      // leaving the leader's flag set, which would hang every writer for good. A file not yet
      // renamed never is; one that was is the caller's error all the same (its job is not ok).
      for (Waiter* w : batch) {
        if (!w->error) w->error = as_error(ENOMEM);
        if (w->file.fd >= 0) ::close(std::exchange(w->file.fd, -1));
        ::unlinkat(w->file.dir_fd, w->file.temp_name.c_str(), 0);
      }
    }
    lock.lock();
    counts_.dir_syncs += dir_syncs;
    for (Waiter* w : batch) w->done = true;
    ++counts_.batches;
    counts_.files += batch.size();
    counts_.waiting -= batch.size();
    counts_.largest_batch = std::max(counts_.largest_batch, batch.size());
    leader_active_ = false;
    batch_done_.notify_all();
  }
  if (self.error) return self.error;
  return {};
}

// Every file's data first, so one journal commit covers the batch's allocations; then the
// renames; then each directory once, which makes the renames durable together.
// Returns how many directory syncs it made.
std::uint64_t GroupCommitter::commit_batch(const std::vector<Waiter*>& batch) {
  for (Waiter* w : batch) {
    if (int err = calls_.sync_file(w->file.fd)) w->error = as_error(err);
  }
  std::vector<int> dirs;
  for (Waiter* w : batch) {
    FileToCommit& f = w->file;
    if (::close(std::exchange(f.fd, -1)) != 0 && !w->error) w->error = as_error(errno);
    if (!w->error && ::renameat(f.dir_fd, f.temp_name.c_str(), f.dir_fd, f.name.c_str()) != 0)
      w->error = as_error(errno);
    if (w->error) {
      ::unlinkat(f.dir_fd, f.temp_name.c_str(), 0);  // never renamed: the final name is unchanged
      continue;
    }
    for (int dir : {f.dir_fd, f.parent_dir_fd})
      if (dir >= 0 && std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) dirs.push_back(dir);
  }
  std::uint64_t synced = 0;
  for (int dir : dirs) {
    ++synced;
    const int err = calls_.sync_dir(dir);
    if (err == 0) continue;
    for (Waiter* w : batch)
      if (!w->error && (w->file.dir_fd == dir || w->file.parent_dir_fd == dir)) w->error = as_error(err);
  }
  return synced;
}

GroupCommitter::Counts GroupCommitter::counts() const {
  std::lock_guard lock(mutex_);
  return counts_;
}

}  // namespace venice_batch
