#include "test_support.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fcntl.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

extern char** environ;

namespace test_support {

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "venice-test-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::permissions(path_, std::filesystem::perms::owner_all, std::filesystem::perm_options::add, ec);
  std::filesystem::remove_all(path_, ec);
}

SmallTmpfs::SmallTmpfs(std::size_t bytes) : path_(dir_.path() / "mnt") {
  std::filesystem::create_directory(path_);
  const std::string options = "size=" + std::to_string(bytes);
  mounted_ = ::mount("tmpfs", path_.c_str(), "tmpfs", 0, options.c_str()) == 0;
  error_ = errno;
}

SmallTmpfs::~SmallTmpfs() {
  if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
}

std::string SmallTmpfs::why_not() const { return std::strerror(error_); }

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

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> read_lines(const std::filesystem::path& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

bool wait_until(const std::function<bool()>& ready, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!ready()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ADD_FAILURE() << "condition not reached in " << limit.count() << " s";
      return false;
    }
    ::poll(nullptr, 0, 50);
  }
  return true;
}

namespace {

std::vector<std::string> make_env(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    auto name = kv.substr(0, kv.find('='));
    if (!extra.count(name)) env.push_back(kv);
  }
  for (const auto& [k, v] : extra)
    if (v != "\x01unset") env.push_back(k + "=" + v);
  return env;
}

pid_t spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env, int out_fd,
            int err_fd) {
  auto envs = make_env(env);
  std::vector<char*> cargv, cenv;
  for (auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (auto& e : envs) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    if (out_fd >= 0) ::dup2(out_fd, 1);
    if (err_fd >= 0) ::dup2(err_fd, 2);
    // Nothing else of the test process's: an inherited listening socket (an emulator's) would
    // keep its port bound after the emulator stops, and an inherited pipe end would hold off EOF.
    ::close_range(3, ~0U, 0);
    ::setpgid(0, 0);
    ::execve(cargv[0], cargv.data(), cenv.data());
    std::_Exit(127);
  }
  return pid;
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                          std::chrono::seconds timeout) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  pid_t pid = spawn(argv, env, out_pipe[1], err_pipe[1]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ProcessResult result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  bool timed_out = false;
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      ::kill(-pid, SIGKILL);
      break;
    }
    int n = ::poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[65536];
      ssize_t r = ::read(fds[i].fd, buf, sizeof buf);
      if (r <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? result.out : result.err).append(buf, static_cast<std::size_t>(r));
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  int status = 0;
  struct rusage usage {};
  ::wait4(pid, &status, 0, &usage);
  result.exit_status = decode_status(status);
  result.peak_rss_kb = usage.ru_maxrss;
  EXPECT_FALSE(timed_out) << argv[0] << " did not finish in time; stderr so far:\n" << result.err;
  return result;
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                           bool capture_stderr) {
  int out_pipe[2], err_pipe[2] = {-1, -1};
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  if (capture_stderr && ::pipe2(err_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  pid_ = spawn(argv, env, out_pipe[1], err_pipe[1]);
  ::close(out_pipe[1]);
  out_.fd = out_pipe[0];
  if (capture_stderr) {
    ::close(err_pipe[1]);
    err_.fd = err_pipe[0];
  }
}

ChildProcess::~ChildProcess() {
  if (!reaped_ && pid_ > 0) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    wait();
  }
  for (int fd : {out_.fd, err_.fd})
    if (fd >= 0) ::close(fd);
}

bool ChildProcess::fill(Pipe& p, std::chrono::milliseconds timeout) {
  if (p.fd < 0) return false;
  pollfd pfd{p.fd, POLLIN, 0};
  const int n = ::poll(&pfd, 1, static_cast<int>(std::max<std::int64_t>(timeout.count(), 0)));
  if (n <= 0) return false;
  char buf[4096];
  const ssize_t r = ::read(p.fd, buf, sizeof buf);
  if (r <= 0) {
    ::close(p.fd);
    p.fd = -1;
    return false;
  }
  p.unread.append(buf, static_cast<std::size_t>(r));
  if (&p == &err_) err_seen_.append(buf, static_cast<std::size_t>(r));
  return true;
}

std::optional<std::string> ChildProcess::next_line(Pipe& p, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    if (auto nl = p.unread.find('\n'); nl != std::string::npos) {
      std::string line = p.unread.substr(0, nl);
      p.unread.erase(0, nl + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (p.fd < 0 || left.count() <= 0) return std::nullopt;
    fill(p, left);
  }
}

std::string ChildProcess::read_stdout_line(std::chrono::seconds timeout) {
  return next_line(out_, std::chrono::steady_clock::now() + timeout).value_or("");
}

std::optional<std::string> ChildProcess::wait_for_stderr(std::string_view text, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (auto line = next_line(err_, deadline))
    if (line->find(text) != std::string::npos) return line;
  return std::nullopt;
}

void ChildProcess::kill(int signo) {
  if (!reaped_) ::kill(pid_, signo);
}

bool ChildProcess::reap(int flags) {
  if (reaped_) return true;
  int status = 0;
  pid_t r;
  while ((r = ::waitpid(pid_, &status, flags)) < 0 && errno == EINTR) {
  }
  if (r != pid_) return false;
  reaped_ = true;
  status_ = decode_status(status);
  return true;
}

int ChildProcess::wait() {
  // Keep the pipes drained: a child blocked on a full pipe would never exit.
  while (!reap(WNOHANG)) {
    if (!fill(out_, std::chrono::milliseconds(20)) && !fill(err_, std::chrono::milliseconds(20)) && out_.fd < 0 &&
        err_.fd < 0)
      reap(0);
  }
  drain();
  return status_;
}

std::optional<int> ChildProcess::wait_for(std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!reap(WNOHANG)) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    const bool got = fill(out_, std::chrono::milliseconds(20)) | fill(err_, std::chrono::milliseconds(20));
    if (!got && out_.fd < 0 && err_.fd < 0) ::poll(nullptr, 0, 20);  // both pipes closed: just wait
  }
  drain();
  return status_;
}

void ChildProcess::drain() {
  // The child is gone: what it wrote last is in the pipes, up to their end.
  while (fill(out_, std::chrono::milliseconds(1000))) {
  }
  while (fill(err_, std::chrono::milliseconds(1000))) {
  }
}

}  // namespace test_support
