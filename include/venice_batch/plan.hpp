// `venice-batch plan`: a dry run of a manifest against the model catalog (no generate request).
// Per model: jobs, images, invalid lines with reasons, the estimated cost, the time the known
// rate limits imply, warnings; and the disk space the images will need against what is free.
// PlanBuilder is the decision part (no I/O, fed entries); run_plan reads, prints and writes JSON.
#pragma once

#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "venice_batch/catalog.hpp"
#include "venice_batch/config.hpp"
#include "venice_batch/image_format.hpp"
#include "venice_batch/journal.hpp"
#include "venice_batch/manifest.hpp"

namespace venice_batch {

/// Counts of one kind of thing by its text (an invalid line's reason, a warning), with the first
/// few manifest line numbers of each, so a user can find them. Memory is bounded: past
/// kReasonsKept distinct texts (reasons quote numbers, so a million lines could give a million),
/// new ones are counted under kOtherReasons.
class ReasonTally {
 public:
  static constexpr std::size_t kLinesKept = 5;
  static constexpr std::size_t kReasonsKept = 200;
  static constexpr const char* kOtherReasons = "(other reasons)";
  struct Entry {
    std::uint64_t count = 0;
    std::vector<std::uint64_t> first_lines;  ///< at most kLinesKept
  };
  void add(const std::string& reason, std::uint64_t line);
  std::uint64_t total() const { return total_; }
  const std::map<std::string, Entry>& entries() const { return entries_; }

 private:
  std::map<std::string, Entry> entries_;
  std::uint64_t total_ = 0;
};

/// What one model's jobs come to.
struct ModelPlan {
  std::string model;             ///< the catalog id; for a refused unknown model, the name as written
  std::uint64_t jobs = 0;        ///< lines that pass preflight
  std::uint64_t images = 0;      ///< their variants: what is billed and counted against the rate limit
  ReasonTally invalid;           ///< lines refused by the model's preflight
  ReasonTally warnings;          ///< wrong size family, deprecation, ...
  double cost_usd = 0;           ///< the priced jobs
  double cost_diem = 0;          ///< the priced jobs whose price lists DIEM
  std::uint64_t unpriced_jobs = 0;
  ReasonTally unpriced;          ///< why a job has no price
  std::map<std::string, std::uint64_t> unpriced_extras;  ///< "enhance_prompt" -> jobs asking for it
  std::uint64_t auto_remap_jobs = 0;  ///< jobs on a deprecated model the API may silently remap
  std::optional<std::uint64_t> rpm, rpd;  ///< the catalog's stated limits for this model
  std::uint64_t disk_bytes = 0;  ///< the images' estimated size on disk
  /// The time the limits imply: images / RPM (at kDefaultImageRpm when no RPM is stated).
  double minutes() const;
  /// Days when the daily cap binds (images > RPD): the run stops at the cap and resumes.
  std::optional<std::uint64_t> days() const;
};

/// The whole plan. Models run side by side (each has its own pacer), so the plan's time is the
/// slowest model's.
struct PlanSummary {
  std::string manifest;
  std::int64_t catalog_fetched_at_ms = 0;
  std::vector<ModelPlan> models;  ///< by model id
  ReasonTally manifest_invalid;   ///< lines the manifest reader refused (no model to put them under)
  std::uint64_t jobs = 0, images = 0, invalid = 0, unpriced_jobs = 0, disk_bytes = 0;
  double cost_usd = 0, cost_diem = 0, minutes = 0;
  /// What the out dir's journal already holds (a run resumes there): jobs recorded ok for the
  /// same request, skipped by a run; jobs failed for good or recorded as a content violation,
  /// skipped unless --retry-failed; jobs recorded for another request (the line changed), sent
  /// again and counted in the figures above. `journal` is false when the out dir has none.
  bool journal = false;
  std::uint64_t already_done = 0, failed_skipped = 0, changed = 0;
  std::optional<std::uint64_t> days;
  std::filesystem::path out_dir;
  std::optional<std::uint64_t> free_bytes;  ///< on the out dir's file system (nullopt: unknown)
  bool fits() const { return !free_bytes || disk_bytes <= *free_bytes; }
};

/// Image models default to 20 requests a minute per account and model (VENICE_API.md).
inline constexpr std::uint64_t kDefaultImageRpm = 20;

/// The bytes one image of `pixels` pixels in `format` is estimated to take on disk (see plan.cpp
/// for the bytes-per-pixel figures and why).
std::uint64_t estimate_image_bytes(ImageFormat format, std::uint64_t pixels);

/// Tallies manifest entries against the catalog: view_request, preflight_job and price_job per
/// valid line. No I/O; the catalog must outlive the builder.
class PlanBuilder {
 public:
  explicit PlanBuilder(const Catalog& catalog);
  /// The out dir's journal (it must outlive the builder): each line is then judged as a run
  /// resuming there would (resume_job), and only what it would send is counted. `webdataset`:
  /// the out dir's layout is webdataset, where a changed line of an ok job keeps its sample.
  void resume_from(const JournalSummary* previous, bool webdataset);
  /// As `run --retry-failed`: jobs failed for good are planned, not skipped.
  void set_retry_failed(bool retry) { retry_failed_ = retry; }
  void add(const ManifestEntry& entry);
  /// The plan so far, totalled; `free_bytes` is what the caller found free on the out dir.
  PlanSummary summary(std::optional<std::uint64_t> free_bytes) const;

 private:
  ModelPlan& model_plan(const std::string& id);
  void add_job(const JobSpec& job);

  const Catalog& catalog_;
  const JournalSummary* previous_ = nullptr;
  bool webdataset_ = false, retry_failed_ = false;
  std::uint64_t already_done_ = 0, failed_skipped_ = 0, changed_ = 0;
  std::map<std::string, ModelPlan> models_;
  ReasonTally manifest_invalid_;
};

/// The plan as a table for a terminal, and as JSON (the shape `--json FILE` writes).
std::string format_plan(const PlanSummary& plan);
std::string plan_to_json(const PlanSummary& plan);

struct PlanOptions {
  Config config;                      ///< manifest defaults, catalog_file, base_url for a fetch
  std::filesystem::path manifest;
  std::filesystem::path catalog_file; ///< `--catalog FILE`; empty: config catalog_file, else fetch
  std::filesystem::path out_dir = ".";  ///< its free space; its journal, when it has one
  bool retry_failed = false;            ///< as `run --retry-failed`: jobs failed for good are counted
  std::filesystem::path json_file;    ///< also write the plan as JSON here
  std::string api_key;                ///< for fetching the catalog
};

/// Exit status of `plan`: 0 the plan was made, every line valid and the images fit; 1 some lines
/// are invalid or the images would not fit; 2 (ConfigError thrown) no catalog or no manifest.
int run_plan(const PlanOptions& options, std::ostream& out);

}  // namespace venice_batch
