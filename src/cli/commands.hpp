// The subcommands of `venice-batch`, one file each (run_cmd.cpp, plan_cmd.cpp, bench_cmd.cpp,
// report_cmd.cpp, expand_cmd.cpp). Each add_*_command registers its options on the app and
// returns what to do when it is the command given; main() only parses and dispatches.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "venice_batch/config.hpp"

namespace venice_batch::cli {

/// A registered subcommand: its CLI11 app and its action, which returns the exit status and may
/// throw ConfigError for a usage error (main turns it into exit 2).
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> execute;
};

Command add_run_command(CLI::App& app);
Command add_plan_command(CLI::App& app);
Command add_bench_command(CLI::App& app);
Command add_report_command(CLI::App& app);
// A new subcommand gets its own src/cli/<name>_cmd.cpp declaring its add_<name>_command (here or
// in its own header, as expand_cmd.hpp), a line in main()'s list and one in CMakeLists.txt.

/// A number that is finite, the whole text: CLI11's range checks let "nan" and "inf" through (a
/// --max-spend of nan was no cap at all), and print the largest double in full when they refuse.
extern const CLI::Validator kFiniteNumber;
/// A finite number above 0, or of 0 or more, the whole text; refused in plain words.
extern const CLI::Validator kPositiveNumber;
extern const CLI::Validator kNonNegativeNumber;
/// Digits only, within 64 bits, given on without leading zeros (a transform: add it with
/// ->transform): CLI11 2.1 reads "-5" into an unsigned option as 2^64 - 5 (a `--limit -5` bought
/// the whole manifest), 2^64 as the largest value and "010" as octal 8.
extern const CLI::Validator kWholeNumber;

/// The exit statuses, as every --help footer shows them (README's "Exit status" says the same).
extern const char* const kExitStatuses;

/// The options that say where and how to reach the API, shared by run, plan and bench:
/// --config, --base-url, --ca-file, --timeout. `load` reads the config and overlays them.
struct ConnectionOptions {
  std::string config_file, base_url, ca_file;
  double timeout_s = 0;
  void add_to(CLI::App* command);
  Config load(const CLI::App* command) const;
};

/// "90s", "5m", "1h", "250ms", or a plain number of seconds. Throws std::invalid_argument.
std::chrono::milliseconds parse_duration(const std::string& text);
/// "20", "20/s", "120/m": requests per second. Throws std::invalid_argument.
double parse_rate(const std::string& text);
/// VENICE_API_KEY, or "" when unset.
std::string api_key_from_env();

}  // namespace venice_batch::cli
