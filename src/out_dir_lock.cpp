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
namespace {
constexpr std::string_view kWriting = "writing ";

std::string read_mark(int fd) {
  char buf[40] = {};
  const ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  std::string mark = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  while (!mark.empty() && (mark.back() == '\n' || mark.back() == ' ')) mark.pop_back();
  return mark;
}
}  // namespace

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
    std::string mark = read_mark(fd_);
    ::close(fd_);
    fd_ = -1;
    if (mark.starts_with(kWriting)) mark.erase(0, kWriting.size());
    // No pid: the holder has just taken the lock and not written it yet, or has ended its run.
    throw ConfigError(fmt::format("another run ({}) is using output directory '{}'; wait for it or use another --out",
                                  mark.empty() ? std::string("starting or finishing") : "pid " + mark, out_dir.string()));
  }
  // Whoever wrote this has let go of the lock: it cannot be writing any more.
  previous_interrupted_ = read_mark(fd_).starts_with(kWriting);
  // An interrupted run's mark is kept until this one ends: a kill of this run before its sweep
  // must not make the next one forget it.
  write_mark(fmt::format("{}{}", previous_interrupted_ ? kWriting : "", ::getpid()));
}

// The new text first, then the file cut to its length: a kill in between never leaves it empty.
void OutDirLock::write_mark(const std::string& text) {
  if (fd_ < 0) return;
  const std::string line = text + "\n";
  if (::pwrite(fd_, line.data(), line.size(), 0) == static_cast<ssize_t>(line.size()))
    (void)!::ftruncate(fd_, static_cast<off_t>(line.size()));
}

void OutDirLock::mark_writing() {
  write_mark(fmt::format("{}{}", kWriting, ::getpid()));
}

void OutDirLock::mark_ended() {
  if (fd_ >= 0) (void)!::ftruncate(fd_, 0);
}

OutDirLock::~OutDirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock; the file stays (removing it would race a new run)
}

}  // namespace venice_batch
