// report.html from an out dir: the journal's digest (report_journal.cpp), metrics.json as
// written, timeline.jsonl merged down to a bounded number of points, all as one JSON object
// placed in the page (report_page.inc), whose script draws it.
#include "venice_batch/report.hpp"

#include <cmath>
#include <fstream>
#include <iterator>
#include <set>

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

#include "venice_batch/layout.hpp"
#include "venice_batch/line_reader.hpp"
#include "venice_batch/sink.hpp"
#include "venice_batch/webdataset.hpp"

namespace venice_batch {
namespace {

// The page: markup, style and the script that draws it, with @@DATA@@ where the run's data goes.
constexpr std::string_view kPage =
#include "report_page.inc"
    ;

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;
void key(Writer& w, std::string_view k) { w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())); }
void str(Writer& w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

/// One timeline.jsonl interval, as the charts use it; merged intervals add up.
struct TimelinePoint {
  double t_s = 0, interval_s = 0;
  double jobs = 0, jobs_ok = 0, images = 0, errors = 0, http_429 = 0, in_flight = 0, rate_limit_per_min = 0;
  double latency_p50_ms = NAN, latency_p99_ms = NAN;  // NAN: no request ended in the interval
  double weight = 0;                                  // intervals with a latency, for the p50 mean

  /// The fields read from and written to the page, by their timeline.jsonl names.
  static constexpr std::pair<const char*, double TimelinePoint::*> kFields[] = {
      {"t_s", &TimelinePoint::t_s}, {"interval_s", &TimelinePoint::interval_s}, {"jobs", &TimelinePoint::jobs},
      {"jobs_ok", &TimelinePoint::jobs_ok}, {"images", &TimelinePoint::images}, {"errors", &TimelinePoint::errors},
      {"http_429", &TimelinePoint::http_429}, {"in_flight", &TimelinePoint::in_flight},
      {"rate_limit_per_min", &TimelinePoint::rate_limit_per_min},
      {"latency_p50_ms", &TimelinePoint::latency_p50_ms}, {"latency_p99_ms", &TimelinePoint::latency_p99_ms}};

  static TimelinePoint read(simdjson::dom::element e) {
    TimelinePoint p;
    for (auto [name, field] : kFields) {
      double d;
      if (e[name].get_double().get(d) == simdjson::SUCCESS) p.*field = d;
    }
    p.weight = std::isnan(p.latency_p50_ms) ? 0 : 1;
    return p;
  }

  /// Adds the interval that follows this one: counts add, the latest gauges win, p99 is the
  /// worst, p50 the mean of the intervals that had one.
  void merge(const TimelinePoint& next) {
    t_s = next.t_s;
    interval_s += next.interval_s;
    jobs += next.jobs, jobs_ok += next.jobs_ok, images += next.images, errors += next.errors, http_429 += next.http_429;
    in_flight = next.in_flight;
    rate_limit_per_min = next.rate_limit_per_min;
    if (next.weight > 0) {
      latency_p50_ms = weight > 0 ? (latency_p50_ms * weight + next.latency_p50_ms) / (weight + 1) : next.latency_p50_ms;
      latency_p99_ms = weight > 0 ? std::max(latency_p99_ms, next.latency_p99_ms) : next.latency_p99_ms;
      weight += 1;
    }
  }

  void write(Writer& w) const {
    w.StartObject();
    for (auto [name, field] : kFields) {
      if (std::isnan(this->*field)) continue;
      key(w, name);
      w.Double(this->*field);
    }
    w.EndObject();
  }
};

/// timeline.jsonl, consecutive intervals merged so that at most `max_points` remain.
std::vector<TimelinePoint> read_timeline(const std::filesystem::path& path, std::size_t max_points) {
  std::vector<TimelinePoint> points;
  try {
    LineReader lines(path, "timeline", 1u << 20);
    simdjson::dom::parser parser;
    while (auto line = lines.next()) {
      simdjson::dom::element e;
      if (line->too_long || parser.parse(line->text.data(), line->text.size(), false).get(e) || !e.is_object()) continue;
      points.push_back(TimelinePoint::read(e));
    }
  } catch (const std::runtime_error&) {
    return points;  // no timeline (a run from an older version, or bench): the page says so
  }
  if (max_points == 0 || points.size() <= max_points) return points;
  const std::size_t group = (points.size() + max_points - 1) / max_points;
  std::vector<TimelinePoint> merged;
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (i % group == 0) merged.push_back(points[i]);
    else merged.back().merge(points[i]);
  }
  return merged;
}

void write_summary(Writer& w, const JournalDigest& d) {
  key(w, "summary");
  w.StartObject();
  const std::pair<const char*, std::uint64_t> counts[] = {
      {"jobs", d.jobs}, {"ok", d.ok}, {"failed", d.failed}, {"invalid", d.invalid},
      {"content_violation", d.content_violation}, {"images", d.images}, {"image_bytes", d.image_bytes},
      {"attempts", d.attempts}, {"retries", d.retries}, {"maybe_billed_twice", d.maybe_billed_twice},
      {"unreadable_lines", d.unreadable_lines}, {"gallery_total", d.gallery_total},
      {"not_ok_total", d.jobs - d.ok}};
  for (auto [k, v] : counts) {
    key(w, k);
    w.Uint64(v);
  }
  key(w, "priced_ok_jobs");
  w.Uint64(d.priced_ok_lines);
  key(w, "ok_spend_usd");
  w.Double(d.ok_spend_usd);
  for (auto [k, v] : {std::pair{"balance_first_usd", d.balance_first_usd}, std::pair{"balance_last_usd", d.balance_last_usd}}) {
    key(w, k);
    if (v) w.Double(*v);
    else w.Null();
  }
  key(w, "failure_kinds");
  w.StartObject();
  for (const auto& [k, v] : d.failure_kinds) {
    key(w, k);
    w.Uint64(v);
  }
  w.EndObject();
  w.EndObject();
}

// Jobs as compact arrays: [id, status, prompt, files, kind, message, line].
void write_jobs(Writer& w, std::string_view name, const std::vector<ReportJob>& jobs) {
  key(w, name);
  w.StartArray();
  for (const auto& j : jobs) {
    w.StartArray();
    str(w, j.id);
    str(w, j.status);
    str(w, j.prompt);
    w.StartArray();
    for (const auto& f : j.files) str(w, f);
    w.EndArray();
    str(w, j.kind);
    str(w, j.message);
    w.Uint64(j.line);
    str(w, j.metadata);
    w.EndArray();
  }
  w.EndArray();
}

void write_metrics(Writer& w, const std::filesystem::path& path) {
  key(w, "metrics");
  std::ifstream in(path, std::ios::binary);
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  simdjson::dom::parser parser;
  simdjson::dom::element m;
  if (text.empty() || parser.parse(text).get(m) != simdjson::SUCCESS || !m.is_object()) {
    w.Null();
    return;
  }
  const std::string minified = simdjson::minify(m);
  w.RawValue(minified.data(), minified.size(), rapidjson::kObjectType);
}

// Inside <script> the only sequence that can end the element early is "</": escape its slash
// (still valid JSON). "<!--" is neutralised the same way.
std::string script_safe(std::string_view data) {
  std::string safe;
  safe.reserve(data.size() + 64);
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (data[i] == '<' && i + 1 < data.size() && (data[i + 1] == '/' || data[i + 1] == '!')) safe += "\\u003c";
    else safe += data[i];
  }
  return safe;
}

// The out dir's layout, from its layout.json (files when there is none: made before layouts).
LayoutKind layout_of(const std::filesystem::path& out_dir) {
  std::string text;
  if (read_whole_file(out_dir / "layout.json", text) != 0) return LayoutKind::files;
  const auto settings = parse_layout_json(text);
  return settings ? settings->kind : LayoutKind::files;
}

// webdataset: each record's staged path as where its image is now (ShardPaths).
void point_at_shards(const std::filesystem::path& out_dir, std::vector<ReportJob>& jobs) {
  std::vector<std::string> paths;
  for (const auto& job : jobs) paths.insert(paths.end(), job.files.begin(), job.files.end());
  const ShardPaths where(out_dir, paths);
  for (auto& job : jobs)
    for (auto& f : job.files) f = where(f);
}

}  // namespace

std::optional<std::filesystem::path> write_report(const std::filesystem::path& out_dir, std::string* error,
                                                  const ReportLimits& limits) {
  const auto results = out_dir / "results.jsonl";
  if (!std::filesystem::exists(results)) {
    if (error) *error = fmt::format("no results.jsonl in '{}'", out_dir.string());
    return std::nullopt;
  }
  auto digest = digest_journal(results, limits, error);
  if (!digest) return std::nullopt;
  const LayoutKind layout = layout_of(out_dir);
  if (layout == LayoutKind::webdataset) point_at_shards(out_dir, digest->gallery);

  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  key(w, "out_dir");
  str(w, std::filesystem::absolute(out_dir).string());
  key(w, "layout");
  str(w, layout_kind_name(layout));
  write_summary(w, *digest);
  write_jobs(w, "gallery", digest->gallery);
  write_jobs(w, "not_ok", digest->not_ok);
  write_metrics(w, out_dir / "metrics.json");
  const auto timeline = read_timeline(out_dir / "timeline.jsonl", limits.timeline_points);
  key(w, "timeline");
  w.StartArray();
  for (const auto& p : timeline) p.write(w);
  w.EndArray();
  w.EndObject();

  std::string page(kPage);
  page.replace(page.find("@@DATA@@"), 8, script_safe(std::string_view(buf.GetString(), buf.GetSize())));
  const auto path = out_dir / "report.html";
  auto written = write_file_atomically(path, page, false);
  if (!written) {
    if (error) *error = fmt::format("cannot write '{}': {}", path.string(), written.error().message());
    return std::nullopt;
  }
  return path;
}

}  // namespace venice_batch
