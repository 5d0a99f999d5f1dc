// One run per out dir: an exclusive flock on <out>/.venice-batch.lock, held for
// the run's life (the kernel drops it when the process dies, even by SIGKILL).
// A second run on the same out dir is refused and told the first one's pid. The file holds
// "<pid>" while a run prepares, "writing <pid>" once it may write images, and is emptied when
// it ends: "writing" found there at start means the last run was killed while writing (or its
// books could not be closed). A bare pid (a run stopped before its jobs, or an older version)
// is not taken for one.
#pragma once

#include <filesystem>
#include <string>

namespace venice_batch {

class OutDirLock {
 public:
  /// Creates `out_dir` if missing and takes the lock. Throws ConfigError naming the other
  /// run's pid when it is held, or why the lock file cannot be opened (a symlink is refused).
  explicit OutDirLock(const std::filesystem::path& out_dir);
  ~OutDirLock();
  OutDirLock(const OutDirLock&) = delete;
  OutDirLock& operator=(const OutDirLock&) = delete;

  /// The run before this one did not end (SIGKILL, a crash, a power cut) or did not call
  /// mark_ended() after mark_writing(): files it wrote may have no record.
  bool previous_run_interrupted() const { return previous_interrupted_; }
  /// From here on this run may write files that a kill would leave unrecorded.
  void mark_writing();
  /// This run ended with every file it wrote either recorded or removed.
  void mark_ended();

 private:
  void write_mark(const std::string& text);
  int fd_ = -1;
  bool previous_interrupted_ = false;
};

}  // namespace venice_batch
