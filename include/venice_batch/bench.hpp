// `venice-batch bench`: load generation against the API (or the emulator) in
// the manner of vegeta and oha. Closed loop (fixed concurrency) or open loop
// (constant arrival rate; latency counted from each request's intended start,
// so a slow server cannot hide queueing: no coordinated omission). Jobs cycle
// through the manifest. Prints a table and optionally writes it as JSON.
#pragma once

#include <chrono>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>

#include "venice_batch/config.hpp"

namespace venice_batch {

struct BenchOptions {
  Config config;                                  ///< base_url, timeouts, ca_file, defaults...
  std::filesystem::path manifest;
  std::string api_key;
  std::optional<std::chrono::milliseconds> duration;  ///< stop after this long (after warmup)...
  std::optional<std::uint64_t> requests;              ///< ...or after this many measured requests
  unsigned concurrency = 0;                       ///< closed loop when > 0
  double rate_per_second = 0;                     ///< open loop when > 0
  std::chrono::milliseconds warmup{0};            ///< requests finishing before this are not measured
  bool discard_images = false;                    ///< decode and check, but write nothing
  std::filesystem::path out_dir;                  ///< where images go unless discarded
  std::filesystem::path json_file;                ///< also write the results as JSON here
  unsigned max_in_flight = 4096;                  ///< open loop: cap on outstanding requests
};

/// Runs the benchmark, prints the table to `out`, returns an exit status (0, or 2 for usage
/// errors found before sending, 1 if no request succeeded). Throws ConfigError for usage errors.
int run_bench(const BenchOptions& options, std::ostream& out);

}  // namespace venice_batch
