// A batch run: manifest -> admission (pacing) -> client pool -> response
// decoding -> sink + journal -> metrics, on one io thread for the network and a
// small thread pool for decoding and file writes. Resumes from an existing
// results.jsonl in the out dir; SIGINT/SIGTERM stop it gracefully.
#pragma once

#include <filesystem>
#include <iosfwd>
#include <string>

#include "venice_batch/config.hpp"

namespace venice_batch {

/// Exit statuses of `venice-batch run` (documented in --help and the README).
enum ExitStatus : int {
  exit_ok = 0,            ///< every job succeeded (or was already done)
  exit_some_failed = 1,   ///< some jobs failed or were invalid; see results.jsonl
  exit_usage = 2,         ///< usage or configuration error: nothing was sent
  exit_stopped = 3,       ///< stopped early: bad key (401), no balance (402), certificate refused, disk full
  exit_sigint = 130,
  exit_sigterm = 143,
};

struct RunOptions {
  Config config;
  std::filesystem::path manifest;
  std::filesystem::path out_dir;
  std::string api_key;           ///< never printed, logged or written
  bool quiet = false;            ///< only errors and the summary
  bool retry_failed = false;     ///< also retry jobs that failed for good in an earlier run
  bool write_report = false;     ///< write report.html at the end
};

/// Runs the batch and returns its exit status. Throws ConfigError for usage errors found
/// before anything is sent (no key, unreadable manifest, unwritable out dir).
int run_batch(const RunOptions& options, std::ostream& log);

}  // namespace venice_batch
