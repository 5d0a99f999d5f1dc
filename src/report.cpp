#include "venice_batch/report.hpp"

#include <fstream>
#include <map>
#include <sstream>
#include <unordered_map>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

#include "venice_batch/sink.hpp"

namespace venice_batch {
namespace {

// The page: markup, style and the script that draws it, with @@DATA@@ where the run's data goes.
constexpr std::string_view kPage =
#include "report_page.inc"
    ;

struct ReportJob {
  std::string id, status, prompt, kind, message;
  std::uint64_t line = 0;
  std::vector<std::string> files;
};

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;
void str(Writer& w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

}  // namespace

std::optional<std::filesystem::path> write_report(const std::filesystem::path& out_dir, std::string* error) {
  auto fail = [&](std::string why) -> std::optional<std::filesystem::path> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  const auto results_path = out_dir / "results.jsonl";
  std::ifstream in(results_path, std::ios::binary);
  if (!in) return fail("no results.jsonl in '" + out_dir.string() + "'");

  std::vector<ReportJob> jobs;
  std::unordered_map<std::string, std::size_t> index;
  std::uint64_t attempts = 0, retries = 0, maybe_billed = 0;
  simdjson::dom::parser parser;
  for (std::string line; std::getline(in, line);) {
    simdjson::dom::element d;
    if (parser.parse(line).get(d) || !d.is_object()) continue;  // torn line from a crash
    ReportJob j;
    std::string_view s;
    if (d["id"].get_string().get(s)) continue;
    j.id = s;
    if (d["status"].get_string().get(s) == simdjson::SUCCESS) j.status = s;
    if (d["prompt"].get_string().get(s) == simdjson::SUCCESS) j.prompt = s;
    uint64_t n;
    if (d["line"].get_uint64().get(n) == simdjson::SUCCESS) j.line = n;
    if (d["error"]["kind"].get_string().get(s) == simdjson::SUCCESS) j.kind = s;
    if (d["error"]["message"].get_string().get(s) == simdjson::SUCCESS) j.message = s;
    simdjson::dom::array files;
    if (d["files"].get_array().get(files) == simdjson::SUCCESS)
      for (auto f : files)
        if (f["path"].get_string().get(s) == simdjson::SUCCESS) j.files.emplace_back(s);
    simdjson::dom::array log;
    if (d["attempt_log"].get_array().get(log) == simdjson::SUCCESS) {
      std::size_t k = 0;
      for (auto a : log) {
        ++attempts;
        bool sent = false;
        if (k++ > 0) {
          ++retries;
          if (a["sent"].get_bool().get(sent) == simdjson::SUCCESS && sent) ++maybe_billed;
        }
      }
    }
    auto [it, inserted] = index.try_emplace(j.id, jobs.size());
    if (inserted) jobs.push_back(std::move(j));
    else jobs[it->second] = std::move(j);  // the last line per id is the job's state
  }
  if (jobs.empty()) return fail("results.jsonl in '" + out_dir.string() + "' has no readable line");

  std::map<std::string, std::uint64_t> kinds;
  std::uint64_t ok = 0, failed = 0, invalid = 0, violation = 0, images = 0, image_bytes = 0;
  for (const auto& j : jobs) {
    if (j.status == "ok") ++ok;
    else if (j.status == "invalid") ++invalid;
    else if (j.status == "content_violation") ++violation;
    else ++failed;
    if (j.status != "ok") ++kinds[j.kind.empty() ? j.status : j.kind];
    images += j.files.size();
    for (const auto& f : j.files) {
      std::error_code ec;
      auto size = std::filesystem::file_size(out_dir / f, ec);
      if (!ec) image_bytes += size;
    }
  }

  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("out_dir");
  str(w, std::filesystem::absolute(out_dir).string());
  w.Key("summary");
  w.StartObject();
  const std::pair<const char*, std::uint64_t> counts[] = {
      {"jobs", jobs.size()}, {"ok", ok}, {"failed", failed}, {"invalid", invalid}, {"content_violation", violation},
      {"images", images}, {"image_bytes", image_bytes}, {"attempts", attempts}, {"retries", retries},
      {"maybe_billed", maybe_billed}};
  for (auto [k, v] : counts) {
    w.Key(k);
    w.Uint64(v);
  }
  w.Key("failure_kinds");
  w.StartObject();
  for (const auto& [k, v] : kinds) {
    w.Key(k.c_str());
    w.Uint64(v);
  }
  w.EndObject();
  w.EndObject();
  // Jobs as compact arrays: [id, status, prompt, files, kind, message, line].
  w.Key("jobs");
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
    w.EndArray();
  }
  w.EndArray();
  w.Key("metrics");
  {
    const std::string metrics = read_text(out_dir / "metrics.json");
    simdjson::dom::element m;
    if (!metrics.empty() && parser.parse(metrics).get(m) == simdjson::SUCCESS) {
      const std::string minified = simdjson::minify(m);
      w.RawValue(minified.data(), minified.size(), rapidjson::kObjectType);
    } else {
      w.Null();
    }
  }
  w.Key("timeline");
  w.StartArray();
  {
    std::ifstream tl(out_dir / "timeline.jsonl", std::ios::binary);
    for (std::string line; std::getline(tl, line);) {
      simdjson::dom::element e;
      if (parser.parse(line).get(e) || !e.is_object()) continue;
      const std::string minified = simdjson::minify(e);
      w.RawValue(minified.data(), minified.size(), rapidjson::kObjectType);
    }
  }
  w.EndArray();
  w.EndObject();

  // Inside <script> the only sequence that can end the element early is "</": escape its slash
  // (still valid JSON). "<!--" is neutralised the same way.
  std::string data(buf.GetString(), buf.GetSize());
  std::string safe;
  safe.reserve(data.size() + 64);
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (data[i] == '<' && i + 1 < data.size() && (data[i + 1] == '/' || data[i + 1] == '!')) {
      safe += "\\u003c";
      continue;
    }
    safe += data[i];
  }
  std::string page(kPage);
  const auto at = page.find("@@DATA@@");
  page.replace(at, 8, safe);
  const auto path = out_dir / "report.html";
  auto written = write_file_atomically(path, page, false);
  if (!written) return fail("cannot write '" + path.string() + "': " + written.error().message());
  return path;
}

}  // namespace venice_batch
