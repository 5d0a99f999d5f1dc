// Helpers shared by the tests: temporary directories, files, and running the
// real executables (venice-batch, venice-mock) as child processes.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
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

void write_file(const std::filesystem::path& path, const std::string& text);
std::string read_file(const std::filesystem::path& path);
std::vector<std::string> read_lines(const std::filesystem::path& path);

struct ProcessResult {
  int exit_status = -1;  ///< exit code, or 128 + signal number
  std::string out, err;
};

/// Runs argv[0] with `env` added to (or replacing in) the environment; waits at most `timeout`
/// (then SIGKILLs it and fails the test).
ProcessResult run_process(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
                          std::chrono::seconds timeout = std::chrono::seconds(240));

/// A child process running in the background; killed (SIGKILL) on destruction if still running.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});
  ~ChildProcess();
  pid_t pid() const { return pid_; }
  /// Reads one line of the child's stdout (blocking, with a timeout). Empty on EOF or timeout.
  std::string read_stdout_line(std::chrono::seconds timeout = std::chrono::seconds(30));
  void kill(int signo);
  /// Waits for exit; returns the exit status (128 + signal if killed).
  int wait();

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string buffered_;
  bool reaped_ = false;
  int status_ = -1;
};

}  // namespace test_support
