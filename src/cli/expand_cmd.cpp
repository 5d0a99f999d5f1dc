// `venice-batch expand`: options, then Sweep::load + expand() into stdout or a file. A file is
// written under a temporary name and renamed only when complete, so a refusal, a collision or a
// full disk never leaves a half manifest where a run could pick it up.
#include "expand_cmd.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <unistd.h>

#include <fmt/format.h>

#include "venice_batch/exit_status.hpp"
#include "venice_batch/expand.hpp"

namespace venice_batch::cli {
namespace {

constexpr const char* kFooter =
    "The spec format is in the README (\"Sweeps: venice-batch expand\"). Each line's id is a hash of its\n"
    "request: re-expanding a grown spec keeps every old id, so `run` on the same out dir sends only the new jobs.\n"
    "Exit status: 0 written; 2 bad spec, refused (--max-jobs, --sample) or an id collision; 3 write failed.\n";

boost::system::result<ExpandSummary, ExpandError> write_failed(std::string why) {
  return {boost::system::in_place_error, ExpandError{ExpandFailure::write_failed, std::move(why)}};
}

int report(const ExpandError& e) {
  fmt::print(stderr, "venice-batch: expand: {}\n", e.message);
  return e.kind == ExpandFailure::write_failed ? exit_stopped : exit_usage;
}

/// What the command line says; CLI11 writes into it while parsing.
struct ExpandArgs {
  std::string spec, output, wildcards;
  std::optional<std::uint64_t> max_jobs, sample;
  std::uint64_t sample_seed = 0;
  bool count_only = false;
};

/// Writes the manifest to stdout or, through a temporary name renamed at the end, to args.output.
boost::system::result<ExpandSummary, ExpandError> write_manifest(const Sweep& sweep, const ExpandOptions& options,
                                                                 const ExpandArgs& args) {
  const std::string temporary = args.output.empty() ? "" : fmt::format("{}.tmp-{}", args.output, ::getpid());
  std::FILE* out = args.output.empty() ? stdout : std::fopen(temporary.c_str(), "wb");
  if (!out) return write_failed(fmt::format("cannot write {} ({})", args.output, std::strerror(errno)));
  auto result = expand(sweep, options, [&](std::string_view lines) {
    return std::fwrite(lines.data(), 1, lines.size(), out) == lines.size();
  });
  const bool flushed = std::fflush(out) == 0 && !std::ferror(out);
  if (args.output.empty()) {
    if (result && !flushed) return write_failed("cannot write the manifest to standard output");
    return result;
  }
  const bool closed = std::fclose(out) == 0;
  std::error_code ec;
  if (result && flushed && closed) std::filesystem::rename(temporary, args.output, ec);
  if (!result || !flushed || !closed || ec) std::filesystem::remove(temporary, ec);
  if (result && (!flushed || !closed || ec)) return write_failed(fmt::format("cannot write {}", args.output));
  return result;
}

int run_expand(const ExpandArgs& args) {
  auto sweep = Sweep::load(args.spec, args.wildcards);
  if (!sweep) {
    fmt::print(stderr, "venice-batch: expand: {}\n", sweep.error());
    return exit_usage;
  }
  ExpandOptions options;
  options.max_jobs = args.max_jobs;
  options.sample = args.sample;
  options.sample_seed = args.sample_seed;
  const auto planned = planned_lines(*sweep, options);
  if (!planned) return report(planned.error());
  if (args.count_only) {
    fmt::print("{}\n", *planned);
    return exit_ok;
  }
  const auto result = write_manifest(*sweep, options, args);
  if (!result) return report(result.error());
  fmt::print(stderr, "venice-batch: expand: {} lines written{}{}\n", result->lines,
             args.output.empty() ? "" : fmt::format(" to {}", args.output),
             result->duplicates ? fmt::format(" ({} combinations repeated an earlier request)", result->duplicates) : "");
  return exit_ok;
}

}  // namespace

Command add_expand_command(CLI::App& app) {
  auto args = std::make_shared<ExpandArgs>();
  auto* cmd = app.add_subcommand("expand", "Expand a sweep spec (prompt template x matrix of request fields) into a manifest");
  cmd->add_option("SPEC", args->spec, "JSON sweep spec")->required()->check(CLI::ExistingFile);
  cmd->add_option("-o,--output", args->output, "Manifest file to write (default: standard output)");
  cmd->add_option("--wildcards", args->wildcards,
                  "Directory of wildcard files (default: the spec's \"wildcards\", or wildcards/ next to the spec)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--max-jobs", args->max_jobs, "Refuse, writing nothing, a sweep of more lines than this")
      ->transform(kWholeNumber);
  auto* sample = cmd->add_option("--sample", args->sample, "Write only N combinations drawn at random (without replacement)")
                     ->transform(kWholeNumber)
                     ->check(kPositiveNumber);
  cmd->add_option("--sample-seed", args->sample_seed, "Seed of --sample's draw (default 0): same spec and seed, same manifest")
      ->transform(kWholeNumber)
      ->needs(sample);
  cmd->add_flag("--count", args->count_only, "Print how many lines the sweep makes and write nothing");
  cmd->footer(kFooter);
  return {cmd, [args] { return run_expand(*args); }};
}

}  // namespace venice_batch::cli
