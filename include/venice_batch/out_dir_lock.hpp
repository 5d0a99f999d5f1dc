// One run per out dir: an exclusive flock on <out>/.venice-batch.lock, held for
// the run's life (the kernel drops it when the process dies, even by SIGKILL).
// A second run on the same out dir is refused and told the first one's pid.
#pragma once

#include <filesystem>

namespace venice_batch {

class OutDirLock {
 public:
  /// Creates `out_dir` if missing and takes the lock. Throws ConfigError naming the other
  /// run's pid when it is held, or why the lock file cannot be opened (a symlink is refused).
  explicit OutDirLock(const std::filesystem::path& out_dir);
  ~OutDirLock();
  OutDirLock(const OutDirLock&) = delete;
  OutDirLock& operator=(const OutDirLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace venice_batch
