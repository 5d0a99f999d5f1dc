// `venice-batch expand`: options, then Sweep::load + expand() into stdout or a file. A file is
// written under a temporary name and renamed only when complete, so a refusal, a collision or a
// full disk never leaves a half manifest where a run could pick it up.
#include "expand_cmd.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
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

}  // namespace

ExpandCommand::ExpandCommand(CLI::App& app) {
  command_ = app.add_subcommand("expand", "Expand a sweep spec (prompt template x matrix of request fields) into a manifest");
  command_->add_option("SPEC", spec_, "JSON sweep spec")->required()->check(CLI::ExistingFile);
  command_->add_option("-o,--output", output_, "Manifest file to write (default: standard output)");
  command_->add_option("--wildcards", wildcards_, "Directory of wildcard files (default: the spec's \"wildcards\", "
                                                  "or wildcards/ next to the spec)")
      ->check(CLI::ExistingDirectory);
  command_->add_option("--max-jobs", max_jobs_, "Refuse, writing nothing, a sweep of more lines than this");
  auto* sample = command_->add_option("--sample", sample_, "Write only N combinations drawn at random (without replacement)")
                     ->check(CLI::PositiveNumber);
  command_->add_option("--sample-seed", sample_seed_, "Seed of --sample's draw (default 0): same spec and seed, same manifest")
      ->needs(sample);
  command_->add_flag("--count", count_only_, "Print how many lines the sweep makes and write nothing");
  command_->footer(kFooter);
}

int ExpandCommand::run() const {
  auto sweep = Sweep::load(spec_, wildcards_);
  if (!sweep) {
    fmt::print(stderr, "venice-batch: expand: {}\n", sweep.error());
    return exit_usage;
  }
  ExpandOptions options;
  options.max_jobs = max_jobs_;
  options.sample = sample_;
  options.sample_seed = sample_seed_;
  const auto planned = planned_lines(*sweep, options);
  if (!planned) return report(planned.error());
  if (count_only_) {
    fmt::print("{}\n", *planned);
    return exit_ok;
  }

  const std::filesystem::path target = output_;
  const std::string temporary = output_.empty() ? "" : fmt::format("{}.tmp-{}", output_, ::getpid());
  std::FILE* out = output_.empty() ? stdout : std::fopen(temporary.c_str(), "wb");
  if (!out) {
    fmt::print(stderr, "venice-batch: expand: cannot write {} ({})\n", temporary, std::strerror(errno));
    return exit_usage;
  }
  auto result = expand(*sweep, options, [&](std::string_view lines) {
    return std::fwrite(lines.data(), 1, lines.size(), out) == lines.size();
  });
  const bool flushed = std::fflush(out) == 0 && !std::ferror(out);
  if (!output_.empty()) {
    const bool closed = std::fclose(out) == 0;
    std::error_code ec;
    if (result && flushed && closed) std::filesystem::rename(temporary, target, ec);
    if (!result || !flushed || !closed || ec) std::filesystem::remove(temporary, ec);
    if (result && (!flushed || !closed || ec)) result = write_failed(fmt::format("cannot write {}", output_));
  } else if (result && !flushed) {
    result = write_failed("cannot write the manifest to standard output");
  }
  if (!result) return report(result.error());
  fmt::print(stderr, "venice-batch: expand: {} lines written{}{}\n", result->lines,
             output_.empty() ? "" : fmt::format(" to {}", output_),
             result->duplicates ? fmt::format(" ({} combinations repeated an earlier request)", result->duplicates) : "");
  return exit_ok;
}

}  // namespace venice_batch::cli
