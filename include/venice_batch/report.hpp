// report.html: one self-contained page (no network, no CDN: inline CSS, inline JS drawing SVG)
// that summarises a run from its out dir: summary, failures by kind, cost of retries, per-phase
// latency, throughput and errors over time, a paginated and filterable gallery of the images
// (referenced by relative path, never embedded) and the failed jobs with their reasons.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace venice_batch {

/// Reads results.jsonl (last line per id wins; unreadable lines skipped), metrics.json and
/// timeline.jsonl from `out_dir` and writes `out_dir`/report.html atomically. Returns its path,
/// or nullopt with `error` set when there is nothing to report or it cannot be written.
std::optional<std::filesystem::path> write_report(const std::filesystem::path& out_dir, std::string* error = nullptr);

}  // namespace venice_batch
