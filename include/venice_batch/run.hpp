// A batch run: manifest -> admission (pacing) -> client pool -> response
// decoding -> sink + journal -> metrics, on one io thread for the network and a
// small thread pool for decoding and file writes. Resumes from an existing
// results.jsonl in the out dir; SIGINT/SIGTERM stop it gracefully.
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>

#include "venice_batch/config.hpp"
#include "venice_batch/exit_status.hpp"

namespace venice_batch {

struct RunOptions {
  Config config;
  std::filesystem::path manifest;
  std::filesystem::path out_dir;
  std::string api_key;           ///< never printed, logged or written
  bool quiet = false;            ///< only errors and the summary
  bool retry_failed = false;     ///< also retry jobs that failed for good in an earlier run
  bool write_report = false;     ///< write report.html at the end
  bool openai_batch_results = false;  ///< `--results-format openai-batch`: also batch_output.jsonl, batch_errors.jsonl
  std::uint64_t limit = 0;       ///< `--limit N`: only the first N pending jobs are sent (0: all)
};

/// Runs the batch and returns its exit status. Throws ConfigError for usage errors found
/// before anything is sent (no key, unreadable manifest, unwritable out dir).
int run_batch(const RunOptions& options, std::ostream& log);

}  // namespace venice_batch
