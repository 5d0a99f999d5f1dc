// `venice-batch plan`: the tally (PlanBuilder, no I/O) and the command (run_plan: reads the
// catalog and the manifest, looks at the free space, prints, writes JSON).
#include "venice_batch/plan.hpp"

#include "venice_batch/catalog_fetch.hpp"

#include <sys/statvfs.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ostream>

#include <fmt/format.h>

#include "venice_batch/exchange.hpp"
#include "venice_batch/exit_status.hpp"
#include "venice_batch/layout.hpp"
#include "venice_batch/model_preflight.hpp"
#include "venice_batch/pricing.hpp"
#include "venice_batch/resume.hpp"
#include "venice_batch/sink.hpp"

namespace venice_batch {

void ReasonTally::add(const std::string& reason, std::uint64_t line) {
  auto it = entries_.find(reason);
  if (it == entries_.end()) it = entries_.try_emplace(entries_.size() < kReasonsKept ? reason : kOtherReasons).first;
  Entry& e = it->second;
  ++e.count;
  ++total_;
  if (e.first_lines.size() < kLinesKept) e.first_lines.push_back(line);
}

double ModelPlan::minutes() const {
  const std::uint64_t per_minute = rpm.value_or(kDefaultImageRpm);
  return per_minute ? static_cast<double>(images) / static_cast<double>(per_minute) : 0;
}

std::optional<std::uint64_t> ModelPlan::days() const {
  if (!rpd || *rpd == 0 || images <= *rpd) return std::nullopt;
  return (images + *rpd - 1) / *rpd;
}

// Bytes per pixel on disk, rounded up from what 1024x1024 generated images (detailed, photo-like
// or painterly: the usual output) typically take, so the plan errs toward "needs more":
//   webp 0.25: lossy at the API's default quality, typically 100-250 KB per megapixel;
//   jpeg 0.45: quality around 90, typically 200-450 KB per megapixel;
//   png  1.8:  lossless 24-bit, 3 bytes raw per pixel that detailed images compress to 50-60%.
// Flat or simple images take less. The journal adds about kJournalBytesPerJob a job.
std::uint64_t estimate_image_bytes(ImageFormat format, std::uint64_t pixels) {
  double per_pixel = 0.25;
  switch (format) {
    case ImageFormat::webp: per_pixel = 0.25; break;
    case ImageFormat::jpeg: per_pixel = 0.45; break;
    case ImageFormat::png: per_pixel = 1.8; break;
  }
  return static_cast<std::uint64_t>(std::ceil(static_cast<double>(pixels) * per_pixel));
}

namespace {

constexpr std::uint64_t kJournalBytesPerJob = 1024;  // one results.jsonl line, generously
constexpr std::int64_t kApiDefaultSide = 1024;       // width and height when a pixel model's line omits them

// The pixels of one image. Pixel models: width x height. The others: the resolution tier ("1K",
// "2K", "4K": about (N x 1024)^2 whatever the aspect ratio, since the tier sets the area).
std::uint64_t image_pixels(const ModelInfo& model, const RequestView& r) {
  if (model.family() == SizeFamily::pixels) {
    const auto w = static_cast<std::uint64_t>(r.width.value_or(kApiDefaultSide));
    const auto h = static_cast<std::uint64_t>(r.height.value_or(kApiDefaultSide));
    return w * h;
  }
  const std::string tier = r.resolution.value_or(model.constraints.default_resolution.value_or("1K"));
  std::uint64_t k = 0;
  const char* end = tier.data() + tier.size();
  auto [p, ec] = std::from_chars(tier.data(), end, k);
  if (ec != std::errc{} || k == 0 || k > 16 || p + 1 != end || (*p != 'K' && *p != 'k')) k = 1;  // unknown: 1K
  const std::uint64_t side = k * 1024;
  return side * side;
}

}  // namespace

PlanBuilder::PlanBuilder(const Catalog& catalog) : catalog_(catalog) {}

ModelPlan& PlanBuilder::model_plan(const std::string& id) {
  auto [it, inserted] = models_.try_emplace(id);
  if (inserted) {
    it->second.model = id;
    if (auto rl = catalog_.rate_limits.find(id); rl != catalog_.rate_limits.end()) {
      it->second.rpm = rl->second.rpm;
      it->second.rpd = rl->second.rpd;
    }
  }
  return it->second;
}

void PlanBuilder::add(const ManifestEntry& entry) {
  if (const auto* bad = std::get_if<InvalidLine>(&entry)) {
    manifest_invalid_.add(bad->reason, bad->line);
    return;
  }
  add_job(std::get<JobSpec>(entry));
}

void PlanBuilder::resume_from(const JournalSummary* previous, bool webdataset) {
  previous_ = previous;
  webdataset_ = webdataset;
}

void PlanBuilder::add_job(const JobSpec& job) {
  if (previous_) {
    // As the run's next_job: the journal's word on the id decides, before the line is checked
    // (a finished line is skipped unparsed there, so a catalog that changed since cannot refuse it).
    const auto it = previous_->jobs.find(job.id);
    const JournalState* state = it == previous_->jobs.end() ? nullptr : &it->second;
    ResumeAction action = resume_job(state, hash_prefix64(job.request_hash), retry_failed_);
    if (action == ResumeAction::run_changed && webdataset_ && state->status == JobStatus::ok)
      action = ResumeAction::skip_done;  // a webdataset keeps the sample it has (run_queue.cpp)
    switch (action) {
      case ResumeAction::skip_done: ++already_done_; return;
      case ResumeAction::skip_failed: ++failed_skipped_; return;
      case ResumeAction::run_changed: ++changed_; break;
      default: break;
    }
  }
  auto view = view_request(job.body);
  if (!view) {
    manifest_invalid_.add(view.error(), job.line);
    return;
  }
  const PreflightResult pre = preflight_job(catalog_, *view);
  ModelPlan& m = model_plan(pre.model ? pre.model->id : view->model);
  if (pre.refusal || !pre.model) {
    m.invalid.add(pre.refusal.value_or("unknown model"), job.line);
    return;
  }
  for (const auto& w : pre.warnings) m.warnings.add(w, job.line);
  if (pre.auto_remap) ++m.auto_remap_jobs;
  const JobPrice price = price_job(*pre.model, *view);
  ++m.jobs;
  m.images += price.images;
  if (price.total) {
    m.cost_usd += price.total->usd;
    if (price.total->diem) m.cost_diem += *price.total->diem;
  } else {
    ++m.unpriced_jobs;
    m.unpriced.add(price.unpriced_reason.empty() ? "no price listed" : price.unpriced_reason, job.line);
  }
  for (const auto& extra : price.unpriced_extras) ++m.unpriced_extras[extra];
  m.disk_bytes += price.images * estimate_image_bytes(job.format, image_pixels(*pre.model, *view)) + kJournalBytesPerJob;
}

PlanSummary PlanBuilder::summary(std::optional<std::uint64_t> free_bytes) const {
  PlanSummary s;
  s.catalog_fetched_at_ms = catalog_.fetched_at_ms;
  s.manifest_invalid = manifest_invalid_;
  s.invalid = manifest_invalid_.total();
  s.disk_bytes = manifest_invalid_.total() * kJournalBytesPerJob;
  for (const auto& [id, m] : models_) {
    s.models.push_back(m);
    s.jobs += m.jobs;
    s.images += m.images;
    s.invalid += m.invalid.total();
    s.unpriced_jobs += m.unpriced_jobs;
    s.disk_bytes += m.disk_bytes + m.invalid.total() * kJournalBytesPerJob;
    s.cost_usd += m.cost_usd;
    s.cost_diem += m.cost_diem;
    if (m.jobs) s.minutes = std::max(s.minutes, m.minutes());
    if (auto d = m.days()) s.days = std::max(s.days.value_or(0), *d);
  }
  s.free_bytes = free_bytes;
  s.journal = previous_ != nullptr;
  s.already_done = already_done_;
  s.failed_skipped = failed_skipped_;
  s.changed = changed_;
  return s;
}

namespace {

// Free bytes on the file system that holds `dir`, or its nearest existing parent (the out dir
// may not exist yet: the run creates it).
std::optional<std::uint64_t> free_bytes_at(std::filesystem::path dir) {
  std::error_code ec;
  dir = std::filesystem::absolute(dir, ec);
  if (ec) return std::nullopt;
  while (!std::filesystem::exists(dir, ec)) {
    if (!dir.has_parent_path() || dir.parent_path() == dir) return std::nullopt;
    dir = dir.parent_path();
  }
  struct statvfs fs {};
  if (::statvfs(dir.c_str(), &fs) != 0) return std::nullopt;
  return static_cast<std::uint64_t>(fs.f_bavail) * static_cast<std::uint64_t>(fs.f_frsize);
}

// The catalog: --catalog FILE, else config catalog_file. Throws ConfigError when there is none.
Catalog obtain_catalog(const PlanOptions& o, std::ostream& out) {
  std::filesystem::path file = o.catalog_file;
  if (file.empty()) file = o.config.catalog_file;
  if (file.empty() && o.api_key.empty())
    throw ConfigError("plan needs the catalog's prices: set VENICE_API_KEY to fetch the catalog, or give --catalog "
                      "FILE (a catalog.json saved in a run's out dir)");
  auto sources = file.empty() ? fetch_catalog_sources(o.config, o.api_key) : load_catalog_sources(file);
  if (!sources) throw ConfigError(fmt::format("plan needs the catalog's prices: {}", sources.error()));
  std::vector<std::string> warnings;
  auto catalog = build_catalog(*sources, &warnings);
  if (!catalog) throw ConfigError(fmt::format("plan needs the catalog's prices: {}: {}", file.string(), catalog.error()));
  for (const auto& w : warnings) out << fmt::format("plan: catalog: {}\n", w);
  return std::move(*catalog);
}

}  // namespace

int run_plan(const PlanOptions& o, std::ostream& out) {
  const Catalog catalog = obtain_catalog(o, out);
  PlanBuilder builder(catalog);
  // An out dir a run has used: plan what a run resuming there would send, not the whole manifest.
  JournalSummary previous;
  const auto journal_path = o.out_dir / "results.jsonl";
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::symlink_status(journal_path, ec))) {
    try {
      previous = read_journal(journal_path);
    } catch (const std::exception& e) {
      throw ConfigError(fmt::format("plan: cannot read the out dir's journal: {}", e.what()));
    }
    bool webdataset = false;
    std::string text;
    if (read_whole_file(o.out_dir / "layout.json", text) == 0)
      if (auto layout = parse_layout_json(text)) webdataset = layout->kind == LayoutKind::webdataset;
    builder.resume_from(&previous, webdataset);
  }
  builder.set_retry_failed(o.retry_failed);
  try {
    ManifestReader reader(o.manifest, manifest_options_from(o.config));
    reader.set_max_prompt_chars(kLargestPromptLimit);  // as `run` with a catalog: each model's own limit applies
    reader.set_model_sizes(model_sizes_from(catalog));
    while (auto entry = reader.next()) builder.add(*entry);
  } catch (const std::exception& e) {
    throw ConfigError(e.what());
  }
  PlanSummary plan = builder.summary(free_bytes_at(o.out_dir));
  plan.manifest = o.manifest.string();
  plan.out_dir = o.out_dir;
  out << format_plan(plan);
  if (!o.json_file.empty()) {
    auto w = write_file_atomically(o.json_file, plan_to_json(plan) + "\n", false);
    if (!w) {
      out << fmt::format("plan: cannot write {}: {}\n", o.json_file.string(), w.error().message());
      return exit_usage;
    }
  }
  return (plan.invalid == 0 && plan.fits()) ? exit_ok : exit_some_failed;
}

}  // namespace venice_batch
