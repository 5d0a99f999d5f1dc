// report.html: one self-contained page (no network, no CDN: inline CSS, inline JS drawing SVG)
// that summarises a run from its out dir: summary, failures by kind, cost of retries, per-phase
// latency, throughput and errors over time, a gallery of the images (referenced by relative
// path, never embedded) and the failed jobs with their reasons. The journal is streamed and
// aggregated, and the page is capped (ReportLimits), so a 1,000,000-job run gives a page that opens.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace venice_batch {

/// What keeps the page small whatever the size of the run. Everything is counted; these cap
/// only what is listed.
struct ReportLimits {
  std::size_t gallery_jobs = 500;       ///< ok jobs in the gallery: the first by manifest line
  std::size_t failed_jobs = 1000;       ///< jobs listed as not ok: the first by manifest line
  std::size_t timeline_points = 1000;   ///< timeline.jsonl intervals, merged down to this many
  std::size_t text_bytes = 300;         ///< prompts and messages cut to this (at a character boundary)
};

/// A job as the page lists it (from its last journal line).
struct ReportJob {
  std::string id, status, prompt, kind, message;
  std::string metadata;  ///< the line's metadata object as compact JSON, cut like the prompt
  std::uint64_t line = 0;
  std::vector<std::string> files;  ///< relative to the out dir
};

/// results.jsonl read once as a stream. Job counts are of each id's last line; attempt counts
/// are of every line (every run's requests were made). Per job only a few numbers are held.
struct JournalDigest {
  std::uint64_t jobs = 0, ok = 0, failed = 0, invalid = 0, content_violation = 0;
  std::uint64_t images = 0, image_bytes = 0;
  std::uint64_t attempts = 0, retries = 0;
  /// Attempts marked maybe_billed_twice in attempt_log: the attempt policy's definition.
  std::uint64_t maybe_billed_twice = 0;
  /// Catalog prices (`estimated_price_usd`) of every ok line, every run's: what the images kept
  /// cost at catalog prices. Attempts whose outcome was unknown are in maybe_billed_twice.
  double ok_spend_usd = 0;
  std::uint64_t priced_ok_lines = 0;
  /// The first and last `balance_usd` header in file order (the balance before those requests).
  std::optional<double> balance_first_usd, balance_last_usd;
  std::uint64_t lines = 0, unreadable_lines = 0;
  std::map<std::string, std::uint64_t> failure_kinds;  ///< error kind (or status) of jobs not ok
  std::uint64_t gallery_total = 0;  ///< ok jobs with images
  std::vector<ReportJob> gallery;   ///< the first of them by line, at most limits.gallery_jobs
  std::vector<ReportJob> not_ok;    ///< jobs not ok, the first by line, at most limits.failed_jobs
};

/// Reads `results` (unreadable lines counted and skipped). nullopt with `error` set when it
/// cannot be read or holds no readable line.
std::optional<JournalDigest> digest_journal(const std::filesystem::path& results, const ReportLimits& limits,
                                            std::string* error = nullptr);

/// Reads results.jsonl, metrics.json and timeline.jsonl from `out_dir` and writes
/// `out_dir`/report.html atomically. Returns its path, or nullopt with `error` set when there
/// is nothing to report or it cannot be written.
std::optional<std::filesystem::path> write_report(const std::filesystem::path& out_dir, std::string* error = nullptr,
                                                  const ReportLimits& limits = {});

}  // namespace venice_batch
