// results.jsonl for the report, streamed: one pass keeps per line a few numbers (48 bytes),
// the last line per id wins, and only the jobs the page lists are read again, by offset.
#include "venice_batch/report.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <queue>
#include <unordered_map>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <simdjson.h>

#include "venice_batch/journal.hpp"
#include "venice_batch/layout.hpp"
#include "venice_batch/line_reader.hpp"

namespace venice_batch {
namespace {

// A journal line this long is not a record the client writes (error bodies are capped).
constexpr std::size_t kMaxJournalLine = 64u << 20;

/// One journal line, as far as the counts need it: 40 bytes.
struct LineEntry {
  std::uint64_t id_hash = 0;
  std::uint64_t offset = 0;       ///< of the line in results.jsonl: a later line supersedes
  std::uint64_t line = 0;         ///< in the manifest
  std::uint32_t image_bytes = 0;  ///< of one job: under the response size cap
  std::uint32_t length = 0;       ///< of the journal line (under kMaxJournalLine)
  std::uint16_t images = 0;
  std::uint16_t kind = 0;         ///< index into Kinds, for a job not ok
  JobStatus status = JobStatus::failed;
};
static_assert(sizeof(LineEntry) <= 40);

/// Error kinds seen, each stored once.
class Kinds {
 public:
  std::uint16_t index(std::string_view kind) {
    auto it = index_.find(std::string(kind));
    if (it != index_.end()) return it->second;
    if (names_.size() == 0xFFFF) return index("other");  // never expected: kinds are a short list
    names_.emplace_back(kind);
    return index_.emplace(std::string(kind), static_cast<std::uint16_t>(names_.size() - 1)).first->second;
  }
  const std::string& name(std::uint16_t i) const { return names_[i]; }

 private:
  std::vector<std::string> names_;
  std::unordered_map<std::string, std::uint16_t> index_;
};

/// Reads the fields the counts need; false if the line is not a job record.
bool read_entry(simdjson::dom::element d, LineEntry& e, Kinds& kinds, JournalDigest& digest) {
  std::string_view id, status, kind;
  if (d["id"].get_string().get(id) || d["status"].get_string().get(status)) return false;
  auto parsed = parse_job_status(status);
  if (!parsed) return false;
  e.id_hash = std::hash<std::string_view>{}(id);
  e.status = *parsed;
  std::uint64_t n = 0;
  if (d["line"].get_uint64().get(n) == simdjson::SUCCESS) e.line = n;
  simdjson::dom::array files;
  if (d["files"].get_array().get(files) == simdjson::SUCCESS) {
    std::uint64_t bytes = 0;
    for (auto f : files) {
      std::string_view path;  // a blurred image kept in flagged/ is not the dataset's (as metrics.json)
      if (f["path"].get_string().get(path) == simdjson::SUCCESS && is_flagged_path(path)) continue;
      if (e.images < UINT16_MAX) ++e.images;
      if (f["bytes"].get_uint64().get(n) == simdjson::SUCCESS) bytes += n;
    }
    e.image_bytes = static_cast<std::uint32_t>(std::min<std::uint64_t>(bytes, UINT32_MAX));
  }
  double usd = 0;
  if (e.status == JobStatus::ok && d["estimated_price_usd"].get_double().get(usd) == simdjson::SUCCESS) {
    digest.ok_spend_usd += usd;
    ++digest.priced_ok_lines;
  }
  if (d["balance_usd"].get_double().get(usd) == simdjson::SUCCESS) {
    if (!digest.balance_first_usd) digest.balance_first_usd = usd;
    digest.balance_last_usd = usd;
  }
  if (e.status != JobStatus::ok) e.kind = kinds.index(d["error"]["kind"].get_string().get(kind) ? status : kind);
  simdjson::dom::array log;
  if (d["attempt_log"].get_array().get(log) == simdjson::SUCCESS) {
    std::size_t k = 0;
    for (auto a : log) {
      ++digest.attempts;
      if (k++ > 0) ++digest.retries;
      bool twice = false;
      if (a["maybe_billed_twice"].get_bool().get(twice) == simdjson::SUCCESS && twice) ++digest.maybe_billed_twice;
    }
  }
  return true;
}

/// Keeps the `cap` entries with the lowest manifest line.
class FirstByLine {
 public:
  explicit FirstByLine(std::size_t cap) : cap_(cap) {}
  void offer(const LineEntry& e) {
    if (cap_ == 0) return;
    if (heap_.size() < cap_) {
      heap_.push(e);
    } else if (e.line < heap_.top().line) {
      heap_.pop();
      heap_.push(e);
    }
  }
  std::vector<LineEntry> take() {
    std::vector<LineEntry> out;
    for (; !heap_.empty(); heap_.pop()) out.push_back(heap_.top());
    std::reverse(out.begin(), out.end());
    return out;
  }

 private:
  struct ByLine {
    bool operator()(const LineEntry& a, const LineEntry& b) const { return a.line < b.line; }
  };
  std::size_t cap_;
  std::priority_queue<LineEntry, std::vector<LineEntry>, ByLine> heap_;
};

/// `s` cut to at most `max` bytes at a character boundary, with "…" when cut.
std::string cut_text(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // s[n] starts the part dropped
  return fmt::format("{}…", s.substr(0, n));
}

/// The listed jobs' lines read again (by offset) for what the page shows of them.
std::vector<ReportJob> read_jobs(int fd, const std::vector<LineEntry>& entries, std::size_t text_bytes) {
  std::vector<ReportJob> jobs;
  simdjson::dom::parser parser;
  std::string buf;
  for (const auto& e : entries) {
    buf.resize(e.length + simdjson::SIMDJSON_PADDING);
    simdjson::dom::element d;
    if (::pread(fd, buf.data(), e.length, static_cast<off_t>(e.offset)) != static_cast<ssize_t>(e.length) ||
        parser.parse(buf.data(), e.length, false).get(d))
      continue;  // the file changed under us: list what can still be read
    ReportJob j;
    std::string_view s;
    if (d["id"].get_string().get(s) == simdjson::SUCCESS) j.id = s;
    if (d["status"].get_string().get(s) == simdjson::SUCCESS) j.status = s;
    if (d["prompt"].get_string().get(s) == simdjson::SUCCESS) j.prompt = cut_text(s, text_bytes);
    if (d["error"]["kind"].get_string().get(s) == simdjson::SUCCESS) j.kind = s;
    if (d["error"]["message"].get_string().get(s) == simdjson::SUCCESS) j.message = cut_text(s, text_bytes);
    if (simdjson::dom::object m; d["metadata"].get_object().get(m) == simdjson::SUCCESS)
      j.metadata = cut_text(simdjson::minify(m), text_bytes);
    j.line = e.line;
    simdjson::dom::array files;
    if (d["files"].get_array().get(files) == simdjson::SUCCESS)
      for (auto f : files)
        if (f["path"].get_string().get(s) == simdjson::SUCCESS) j.files.emplace_back(s);
    jobs.push_back(std::move(j));
  }
  return jobs;
}

/// Reserves room for the whole journal, estimated from the lines read so far (`bytes_read`),
/// so the vector is not copied as it grows: that copy would double the peak memory.
void reserve_for_all(std::vector<LineEntry>& entries, const std::filesystem::path& results, std::uint64_t bytes_read) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(results, ec);
  if (ec || bytes_read == 0) return;
  entries.reserve(static_cast<std::size_t>(static_cast<double>(size) / static_cast<double>(bytes_read) *
                                           static_cast<double>(entries.size()) * 1.05));
}

/// Keeps the last entry per id (ids are told apart by a 64-bit hash: a collision among a
/// million ids has a chance of about 1 in 30 million).
void keep_last_per_id(std::vector<LineEntry>& entries) {
  std::sort(entries.begin(), entries.end(), [](const LineEntry& a, const LineEntry& b) {
    return a.id_hash != b.id_hash ? a.id_hash < b.id_hash : a.offset < b.offset;
  });
  // The journal's own rule (journal.hpp, replaces): a later line decides, except that an invalid
  // line (a changed line refused before sending, a duplicate id) never undoes an ok one.
  std::size_t out = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const bool first_of_id = out == 0 || entries[out - 1].id_hash != entries[i].id_hash;
    if (first_of_id) entries[out++] = entries[i];
    else if (replaces(entries[out - 1].status, entries[i].status)) entries[out - 1] = entries[i];
  }
  entries.resize(out);
}

}  // namespace

std::optional<JournalDigest> digest_journal(const std::filesystem::path& results, const ReportLimits& limits,
                                            std::string* error) {
  auto fail = [&](std::string why) -> std::optional<JournalDigest> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  JournalDigest digest;
  Kinds kinds;
  std::vector<LineEntry> entries;
  try {
    LineReader lines(results, "journal", kMaxJournalLine, std::size_t{8} << 20);
    simdjson::dom::parser parser;
    while (auto line = lines.next()) {
      if (line->length == 0) continue;
      ++digest.lines;
      LineEntry e;
      e.offset = line->offset;
      e.length = static_cast<std::uint32_t>(line->length);
      simdjson::dom::element d;
      if (line->too_long || parser.parse(line->text.data(), line->text.size(), false).get(d) ||
          !read_entry(d, e, kinds, digest)) {
        ++digest.unreadable_lines;  // a line torn by a crash
        continue;
      }
      entries.push_back(e);
      if (entries.size() == 1000) reserve_for_all(entries, results, line->offset + line->length);
    }
  } catch (const std::runtime_error& e) {
    return fail(e.what());
  }
  if (entries.empty()) return fail(fmt::format("'{}' has no readable line", results.string()));

  keep_last_per_id(entries);
  FirstByLine gallery(limits.gallery_jobs), not_ok(limits.failed_jobs);
  for (const auto& e : entries) {
    ++digest.jobs;
    digest.images += e.images;
    digest.image_bytes += e.image_bytes;
    switch (e.status) {
      case JobStatus::ok: ++digest.ok; break;
      case JobStatus::invalid: ++digest.invalid; break;
      case JobStatus::content_violation: ++digest.content_violation; break;
      case JobStatus::failed: ++digest.failed; break;
    }
    if (e.status != JobStatus::ok) {
      ++digest.failure_kinds[kinds.name(e.kind)];
      not_ok.offer(e);
    } else if (e.images > 0) {
      ++digest.gallery_total;
      gallery.offer(e);
    }
  }
  const int fd = ::open(results.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(fmt::format("cannot open journal '{}': {}", results.string(), std::strerror(errno)));
  digest.gallery = read_jobs(fd, gallery.take(), limits.text_bytes);
  digest.not_ok = read_jobs(fd, not_ok.take(), limits.text_bytes);
  ::close(fd);
  return digest;
}

}  // namespace venice_batch
