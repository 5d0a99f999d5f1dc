// Helpers shared by the tests: temporary directories, files, a small disk that fills up, and
// running the real executables (venice-batch, venice-mock) as child processes.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace test_support {

/// A fresh directory removed (with its contents) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// A tmpfs of `bytes` mounted on a fresh directory, unmounted on destruction: a real disk that
/// fills up. Mounting needs root; a test skips when mounted() is false (why_not() says why).
class SmallTmpfs {
 public:
  explicit SmallTmpfs(std::size_t bytes);
  ~SmallTmpfs();
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;
  bool mounted() const { return mounted_; }
  std::string why_not() const;
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  TempDir dir_;
  std::filesystem::path path_;
  bool mounted_ = false;
  int error_ = 0;
};

/// Fills the file system holding `path` until `keep_free` bytes are left (as near as pages allow),
/// writing the filler to `path`; removing it gives the space back. Fails the test if it cannot.
void fill_leaving(const std::filesystem::path& path, std::size_t keep_free);

void write_file(const std::filesystem::path& path, const std::string& text);
std::string read_file(const std::filesystem::path& path);
std::vector<std::string> read_lines(const std::filesystem::path& path);

/// Polls `ready` every 50 ms until it holds or `limit` passes (then fails the test): waiting
/// on an event instead of sleeping a guessed time. Returns whether it held.
bool wait_until(const std::function<bool()>& ready, std::chrono::seconds limit = std::chrono::seconds(30));

struct ProcessResult {
  int exit_status = -1;  ///< exit code, or 128 + signal number
  std::string out, err;
  long peak_rss_kb = 0;  ///< the child's largest resident set (wait4's ru_maxrss)
};

/// Runs argv[0] with `env` added to (or replacing in) the environment; waits at most `timeout`
/// (then SIGKILLs it and fails the test).
ProcessResult run_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
                          std::chrono::seconds timeout = std::chrono::seconds(240));

/// A child process running in the background; killed (SIGKILL) on destruction if still running.
/// Its stdout is always a pipe; its stderr is one too when `capture_stderr` (otherwise inherited).
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
               bool capture_stderr = false);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  pid_t pid() const { return pid_; }
  /// Reads one line of the child's stdout (blocking, with a timeout). Empty on EOF or timeout.
  std::string read_stdout_line(std::chrono::seconds timeout = std::chrono::seconds(30));
  /// Reads stderr lines (capture_stderr only) until one contains `text`: an event to wait on
  /// instead of a guessed sleep. Returns that line, or nullopt on EOF or timeout.
  std::optional<std::string> wait_for_stderr(std::string_view text,
                                             std::chrono::seconds timeout = std::chrono::seconds(60));
  /// Everything read from stderr so far (capture_stderr only), whole lines or not.
  const std::string& stderr_seen() const { return err_seen_; }
  void kill(int signo);
  /// Waits for exit; returns the exit status (128 + signal if killed).
  int wait();
  /// Waits at most `timeout` for exit (reading the pipes meanwhile, so a chatty child never
  /// blocks on a full pipe); nullopt if it is still running.
  std::optional<int> wait_for(std::chrono::seconds timeout);

 private:
  struct Pipe {
    int fd = -1;
    std::string unread;  ///< read, not yet returned as a line
  };
  /// Reads what is there (up to `timeout` for the first byte); false on EOF or timeout.
  bool fill(Pipe& p, std::chrono::milliseconds timeout);
  std::optional<std::string> next_line(Pipe& p, std::chrono::steady_clock::time_point deadline);
  bool reap(int flags);
  void drain();

  pid_t pid_ = -1;
  Pipe out_, err_;
  std::string err_seen_;
  bool reaped_ = false;
  int status_ = -1;
};

}  // namespace test_support
