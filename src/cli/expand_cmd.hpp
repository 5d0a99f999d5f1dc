// `venice-batch expand SPEC [-o manifest.jsonl]`: the subcommand's options (CLI11) and its run:
// a sweep spec to a manifest on standard output or, all or nothing, into a file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace venice_batch::cli {

/// Registers `expand` on `app` (before app.parse); after parsing, run() it if parsed().
/// CLI11 keeps pointers into this object: keep it alive and in place until run() returns.
class ExpandCommand {
 public:
  explicit ExpandCommand(CLI::App& app);
  ExpandCommand(const ExpandCommand&) = delete;
  ExpandCommand& operator=(const ExpandCommand&) = delete;

  bool parsed() const { return command_->parsed(); }
  /// Expands the spec; messages go to stderr. Returns the exit status: 0 written, 2 a bad spec,
  /// a refusal (--max-jobs, --sample) or an id collision, 3 the output could not be written.
  int run() const;

 private:
  CLI::App* command_ = nullptr;
  std::string spec_, output_, wildcards_;
  std::optional<std::uint64_t> max_jobs_, sample_;
  std::uint64_t sample_seed_ = 0;
  bool count_only_ = false;
};

}  // namespace venice_batch::cli
