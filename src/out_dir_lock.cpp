#include "venice_batch/out_dir_lock.hpp"

#include <cerrno>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>

#include "venice_batch/config.hpp"

namespace venice_batch {

OutDirLock::OutDirLock(const std::filesystem::path& out_dir) {
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) throw ConfigError(fmt::format("cannot create output directory '{}': {}", out_dir.string(), ec.message()));
  const auto path = out_dir / ".venice-batch.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    const int e = errno;
    if (e == ELOOP) throw ConfigError(fmt::format("'{}' is a symbolic link; refusing to follow it", path.string()));
    throw ConfigError(fmt::format("cannot open '{}': {}", path.string(), std::strerror(e)));
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    std::string pid = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "?";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    ::close(fd_);
    fd_ = -1;
    throw ConfigError(fmt::format("another run (pid {}) is using output directory '{}'; wait for it or use another "
                                  "--out", pid, out_dir.string()));
  }
  char mark = 0;
  previous_interrupted_ = ::pread(fd_, &mark, 1, 0) == 1;  // a pid left: that run never ended
  const std::string pid = fmt::format("{}\n", ::getpid());
  if (::ftruncate(fd_, 0) == 0) (void)!::pwrite(fd_, pid.data(), pid.size(), 0);
}

void OutDirLock::mark_ended() {
  if (fd_ >= 0) (void)!::ftruncate(fd_, 0);
}

OutDirLock::~OutDirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock; the file stays (removing it would race a new run)
}

}  // namespace venice_batch
