// The plan as a table for the terminal and as JSON (`plan --json FILE`). Pure formatting.
#include <algorithm>
#include <ctime>

#include <fmt/format.h>

#include "json_fields.hpp"
#include "venice_batch/plan.hpp"
#include "venice_batch/spend.hpp"
#include "venice_batch/text.hpp"

namespace venice_batch {
namespace {

constexpr std::size_t kReasonsShown = 10;  // per group, on the terminal (JSON has them all)
constexpr std::size_t kTextShown = 300;    // bytes of one reason or model name on the terminal

// Manifest text (a model name, a reason quoting a field) reaches the terminal escaped.
std::string shown(std::string_view text) { return escape_for_terminal(text, kTextShown); }

using TallyRow = std::pair<const std::string*, const ReasonTally::Entry*>;

// Most frequent first; ties by text.
std::vector<TallyRow> by_count(const ReasonTally& t) {
  std::vector<TallyRow> rows;
  for (const auto& [reason, e] : t.entries()) rows.emplace_back(&reason, &e);
  std::stable_sort(rows.begin(), rows.end(), [](const TallyRow& a, const TallyRow& b) { return a.second->count > b.second->count; });
  return rows;
}

std::string line_list(const ReasonTally::Entry& e) {
  std::string s = fmt::format("{}", fmt::join(e.first_lines, ", "));
  if (e.count > e.first_lines.size()) s += ", ...";
  return fmt::format("line{} {}", e.count == 1 ? "" : "s", s);
}

void print_tally(std::string& s, const ReasonTally& t, std::string_view indent) {
  const auto rows = by_count(t);
  for (std::size_t i = 0; i < rows.size() && i < kReasonsShown; ++i)
    s += fmt::format("{}{} x {} ({})\n", indent, rows[i].second->count, shown(*rows[i].first), line_list(*rows[i].second));
  if (rows.size() > kReasonsShown) s += fmt::format("{}... and {} other reasons\n", indent, rows.size() - kReasonsShown);
}

std::string duration_text(double minutes) {
  if (minutes < 1) return fmt::format("{:.0f} s", std::ceil(minutes * 60));
  if (minutes < 120) return fmt::format("{:.0f} min", std::ceil(minutes));
  const auto m = static_cast<std::uint64_t>(std::ceil(minutes));
  return fmt::format("{} h {} min", m / 60, m % 60);
}

std::string time_text(const ModelPlan& m) {
  if (m.jobs == 0) return "-";
  std::string s = fmt::format("{} at {}/min{}", duration_text(m.minutes()), m.rpm.value_or(kDefaultImageRpm),
                              m.rpm ? "" : " (assumed)");
  if (auto d = m.days()) s += fmt::format("; {} days at {}/day", *d, *m.rpd);
  return s;
}

std::string jobs_text(std::uint64_t n) { return fmt::format("{} job{}", n, n == 1 ? "" : "s"); }

std::string diem_text(double diem) { return diem > 0 ? fmt::format("{:.2f}", diem) : "-"; }

std::string bytes_text(std::uint64_t b) {
  const double v = static_cast<double>(b);
  if (v >= 1e12) return fmt::format("{:.1f} TB", v / 1e12);
  if (v >= 1e9) return fmt::format("{:.1f} GB", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.1f} MB", v / 1e6);
  return fmt::format("{:.0f} kB", std::ceil(v / 1e3));
}

std::string utc_text(std::int64_t ms) {
  if (ms <= 0) return "of unknown date";
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm);
  return fmt::format("fetched {}", buf);
}

void print_table(std::string& s, const PlanSummary& p) {
  s += fmt::format("{:<24} {:>8} {:>8} {:>8} {:>12} {:>10}  {}\n", "model", "jobs", "images", "invalid", "cost USD",
                   "cost DIEM", "time at the stated limits");
  for (const auto& m : p.models)
    s += fmt::format("{:<24} {:>8} {:>8} {:>8} {:>12} {:>10}  {}\n", shown(m.model), m.jobs, m.images,
                     m.invalid.total(), format_usd(m.cost_usd), diem_text(m.cost_diem), time_text(m));
  if (p.manifest_invalid.total())
    s += fmt::format("{:<24} {:>8} {:>8} {:>8}\n", "(refused by the reader)", 0, 0, p.manifest_invalid.total());
  s += fmt::format("{:<24} {:>8} {:>8} {:>8} {:>12} {:>10}  {}{}\n", "total", p.jobs, p.images, p.invalid,
                   format_usd(p.cost_usd), diem_text(p.cost_diem), p.jobs ? duration_text(p.minutes) : "-",
                   p.days ? fmt::format("; {} days", *p.days) : "");
}

void print_details(std::string& s, const PlanSummary& p) {
  if (p.invalid) {
    s += fmt::format("\nInvalid lines ({}), recorded as invalid by a run and never sent:\n", p.invalid);
    for (const auto& m : p.models)
      if (m.invalid.total()) {
        s += fmt::format("  {}:\n", shown(m.model));
        print_tally(s, m.invalid, "    ");
      }
    if (p.manifest_invalid.total()) {
      s += "  refused by the manifest reader:\n";
      print_tally(s, p.manifest_invalid, "    ");
    }
  }
  bool unpriced_header = false;
  for (const auto& m : p.models) {
    if (!m.unpriced_jobs && m.unpriced_extras.empty()) continue;
    if (!unpriced_header) s += "\nNot in the estimate (the catalog lists no price):\n";
    unpriced_header = true;
    s += fmt::format("  {}:\n", shown(m.model));
    if (m.unpriced_jobs) {
      s += fmt::format("    {} without a price (run --max-spend refuses them):\n", jobs_text(m.unpriced_jobs));
      print_tally(s, m.unpriced, "      ");
    }
    for (const auto& [extra, n] : m.unpriced_extras)
      s += fmt::format("    {} ask for {}, which costs extra\n", jobs_text(n), extra);
  }
  for (const auto& m : p.models) {
    if (!m.warnings.total() && !m.auto_remap_jobs) continue;
    s += fmt::format("\nWarnings for {} (the jobs still go):\n", shown(m.model));
    print_tally(s, m.warnings, "    ");
    if (m.auto_remap_jobs)
      s += fmt::format("    {} on a deprecated model the API may silently serve with its replacement\n",
                       jobs_text(m.auto_remap_jobs));
  }
}

}  // namespace

std::string format_plan(const PlanSummary& p) {
  std::string s = fmt::format("Plan for {} against the catalog {} (dry run: no image requested)\n\n", p.manifest,
                              utc_text(p.catalog_fetched_at_ms));
  if (p.journal) {
    s += fmt::format("Resuming in {}: {} already done (skipped)", p.out_dir.string(), jobs_text(p.already_done));
    if (p.failed_skipped) s += fmt::format(", {} failed for good (skipped; --retry-failed sends them)", jobs_text(p.failed_skipped));
    if (p.changed) s += fmt::format(", {} whose line changed since (sent again)", jobs_text(p.changed));
    s += ". The figures are for what a run would send now.\n\n";
  }
  print_table(s, p);
  print_details(s, p);
  s += fmt::format("\nTime: at least {} (models run side by side, each at its own limit; latency not counted)\n",
                   p.jobs ? duration_text(p.minutes) : "0 s");
  s += fmt::format("Disk: about {} for the images and the journal; ", bytes_text(p.disk_bytes));
  if (!p.free_bytes) s += fmt::format("free space on {} unknown\n", p.out_dir.string());
  else if (p.fits()) s += fmt::format("{} free on {}\n", bytes_text(*p.free_bytes), p.out_dir.string());
  else s += fmt::format("only {} free on {}: NOT ENOUGH\n", bytes_text(*p.free_bytes), p.out_dir.string());
  return s;
}

namespace {

using json::put;
using JsonWriter = json::Writer;

void write_tally(JsonWriter& w, const char* key, const ReasonTally& t) {
  w.Key(key);
  w.StartArray();
  for (const auto& [reason, e] : by_count(t)) {
    w.StartObject();
    put(w, "reason", *reason);
    put(w, "count", e->count);
    w.Key("first_lines");
    w.StartArray();
    for (auto l : e->first_lines) w.Uint64(l);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
}

void write_model(JsonWriter& w, const ModelPlan& m) {
  w.StartObject();
  put(w, "model", m.model);
  put(w, "jobs", m.jobs);
  put(w, "images", m.images);
  put(w, "invalid", m.invalid.total());
  write_tally(w, "invalid_reasons", m.invalid);
  put(w, "cost_usd", m.cost_usd);
  put(w, "cost_diem", m.cost_diem);
  put(w, "unpriced_jobs", m.unpriced_jobs);
  write_tally(w, "unpriced_reasons", m.unpriced);
  w.Key("unpriced_extras");
  w.StartObject();
  for (const auto& [extra, n] : m.unpriced_extras) put(w, extra.c_str(), n);
  w.EndObject();
  put(w, "rpm", m.rpm);
  put(w, "rpd", m.rpd);
  put(w, "minutes", m.minutes());
  put(w, "days", m.days());
  write_tally(w, "warnings", m.warnings);
  put(w, "auto_remap_jobs", m.auto_remap_jobs);
  put(w, "disk_bytes", m.disk_bytes);
  w.EndObject();
}

}  // namespace

std::string plan_to_json(const PlanSummary& p) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  put(w, "manifest", p.manifest);
  w.Key("catalog_fetched_at_ms");
  w.Int64(p.catalog_fetched_at_ms);
  w.Key("models");
  w.StartArray();
  for (const auto& m : p.models) write_model(w, m);
  w.EndArray();
  write_tally(w, "manifest_invalid", p.manifest_invalid);
  w.Key("totals");
  w.StartObject();
  put(w, "jobs", p.jobs);
  put(w, "images", p.images);
  put(w, "invalid", p.invalid);
  put(w, "unpriced_jobs", p.unpriced_jobs);
  put(w, "cost_usd", p.cost_usd);
  put(w, "cost_diem", p.cost_diem);
  put(w, "minutes", p.minutes);
  put(w, "days", p.days);
  put(w, "disk_bytes", p.disk_bytes);
  w.EndObject();
  w.Key("resume");
  w.StartObject();
  w.Key("journal");
  w.Bool(p.journal);
  put(w, "already_done", p.already_done);
  put(w, "failed_skipped", p.failed_skipped);
  put(w, "changed", p.changed);
  w.EndObject();
  w.Key("disk");
  w.StartObject();
  put(w, "out_dir", p.out_dir.string());
  put(w, "needed_bytes", p.disk_bytes);
  put(w, "free_bytes", p.free_bytes);
  w.Key("fits");
  w.Bool(p.fits());
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace venice_batch
