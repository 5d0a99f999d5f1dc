// venice-batch: the command line. Each subcommand lives in its own src/cli/*_cmd.cpp
// (commands.hpp); main() protects the standard streams, parses and dispatches. Nothing here
// that a test needs.
#include <csignal>
#include <fcntl.h>
#include <iostream>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "expand_cmd.hpp"
#include "venice_batch/exit_status.hpp"

namespace vb = venice_batch;

namespace {

// A closed stdin, stdout or stderr (`2>&-`) would hand its number to the first file the run
// opens (the out-dir lock), and the log would be written into it: keep 0-2 taken.
bool keep_standard_fds_taken() {
  for (int fd = 0; fd <= 2; ++fd)
    if (::fcntl(fd, F_GETFD) == -1 && ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) == -1) return false;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (!keep_standard_fds_taken()) return vb::exit_stopped;
  // A file-size limit must surface as a write error (EFBIG) that stops the run cleanly, like a
  // full disk (ENOSPC), not as a signal that kills it between an image and its journal line.
  std::signal(SIGXFSZ, SIG_IGN);
  // `venice-batch run ... 2>&1 | head`: a closed pipe must not kill the run (EPIPE is an error
  // value on the write instead, and the log stream just stops printing).
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"venice-batch: turns a JSONL manifest of prompts into images with Venice's image API.\n"
               "The API key is read from VENICE_API_KEY and is never printed or written anywhere."};
  app.set_version_flag("--version", std::string("venice-batch ") + VENICE_BATCH_VERSION);
  app.require_subcommand(1);
  app.footer(vb::cli::kExitStatuses);
  const std::vector<vb::cli::Command> commands = {
      vb::cli::add_run_command(app),
      vb::cli::add_plan_command(app),
      vb::cli::add_bench_command(app),
      vb::cli::add_report_command(app),
      vb::cli::add_expand_command(app),
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return vb::exit_usage;
  }
  try {
    for (const auto& command : commands)
      if (command.app->parsed()) return command.execute();
  } catch (const vb::ConfigError& e) {
    std::cerr << "venice-batch: " << e.what() << "\n";
    return vb::exit_usage;
  } catch (const std::exception& e) {
    std::cerr << "venice-batch: internal error: " << e.what() << "\n";
    return vb::exit_stopped;
  }
  return vb::exit_usage;
}
