#include "venice_batch/journal.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <future>
#include <stdexcept>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

#include "venice_batch/line_reader.hpp"
#include "venice_batch/text.hpp"

namespace venice_batch {

std::string_view to_string(JobStatus s) {
  switch (s) {
    case JobStatus::ok: return "ok";
    case JobStatus::failed: return "failed";
    case JobStatus::invalid: return "invalid";
    case JobStatus::content_violation: return "content_violation";
  }
  return "failed";
}

std::optional<JobStatus> parse_job_status(std::string_view s) {
  if (s == "ok") return JobStatus::ok;
  if (s == "failed") return JobStatus::failed;
  if (s == "invalid") return JobStatus::invalid;
  if (s == "content_violation") return JobStatus::content_violation;
  return std::nullopt;
}

std::uint64_t hash_prefix64(std::string_view hex) {
  // By table: two per journal line, 6% of a 1M-job resume when branching per digit.
  static constexpr auto kValue = [] {
    std::array<std::uint8_t, 256> t{};
    t.fill(0xff);
    for (int c = '0'; c <= '9'; ++c) t[c] = static_cast<std::uint8_t>(c - '0');
    for (int c = 'a'; c <= 'f'; ++c) t[c] = static_cast<std::uint8_t>(c - 'a' + 10);
    return t;
  }();
  if (hex.size() < 16) return 0;
  std::uint64_t v = 0;
  std::uint8_t bad = 0;
  for (int i = 0; i < 16; ++i) {
    const std::uint8_t d = kValue[static_cast<unsigned char>(hex[i])];
    bad |= d;
    v = (v << 4) | (d & 0x0f);
  }
  return (bad & 0xf0) ? 0 : v;
}

namespace {
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void key(Writer& w, const char* k) { w.Key(k); }
// Text from anywhere (headers, error bodies, prompts) as a JSON string: valid UTF-8 always.
void str(Writer& w, const char* k, std::string_view v) {
  w.Key(k);
  if (is_valid_utf8(v)) {
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  } else {
    const std::string clean = sanitize_utf8(v);
    w.String(clean.data(), static_cast<rapidjson::SizeType>(clean.size()));
  }
}
void num(Writer& w, const char* k, double v) {
  w.Key(k);
  // Milliseconds to the microsecond: enough, and keeps lines short.
  w.Double(static_cast<double>(static_cast<std::int64_t>(v * 1000.0 + (v >= 0 ? 0.5 : -0.5))) / 1000.0);
}
void network(Writer& w, const NetworkPhases& p) {
  num(w, "connect_ms", p.connect_ms);
  num(w, "tls_ms", p.tls_ms);
  num(w, "write_ms", p.write_ms);
  num(w, "ttfb_ms", p.ttfb_ms);
  num(w, "download_ms", p.download_ms);
}

void file(Writer& w, const FileRecord& f) {
  w.StartObject();
  str(w, "path", f.path);
  key(w, "bytes");
  w.Uint64(f.bytes);
  str(w, "format", to_string(f.format));
  if (f.requested_format) str(w, "requested_format", to_string(*f.requested_format));
  if (f.size.width != 0) {
    key(w, "width");
    w.Uint(f.size.width);
    key(w, "height");
    w.Uint(f.size.height);
  }
  if (f.requested_size) {
    key(w, "requested_width");
    w.Uint(f.requested_size->width);
    key(w, "requested_height");
    w.Uint(f.requested_size->height);
  }
  w.EndObject();
}

// `text` as one line of JSON, or nullopt if it is no JSON.
std::optional<std::string> minified_json(std::string_view text) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(text.data(), text.size(), true).get(root)) return std::nullopt;
  return simdjson::minify(root);
}

// The error, its message and the API's body capped (kJournalErrorTextBytes) and valid.
void error(Writer& w, const JobError& e) {
  w.StartObject();
  str(w, "kind", e.kind);
  str(w, "message", capped_utf8(e.message, kJournalErrorTextBytes));
  std::string_view text = e.api_body_text;
  bool truncated = e.api_body_truncated;
  if (!e.api_body_json.empty()) {
    auto json = e.api_body_json.size() <= kJournalErrorTextBytes ? minified_json(e.api_body_json) : std::nullopt;
    if (json) {
      key(w, "api_body");
      w.RawValue(json->data(), json->size(), rapidjson::kObjectType);
    } else {
      text = e.api_body_json;  // too long, or not JSON after all: its start, as text
    }
  }
  if (!text.empty()) {
    truncated = truncated || text.size() > kJournalErrorTextBytes;
    str(w, "api_body_text", valid_utf8_prefix(text, kJournalErrorTextBytes));
  }
  if (truncated) {
    key(w, "api_body_truncated");
    w.Bool(true);
  }
  w.EndObject();
}
}  // namespace

std::string to_json_line(const JobRecord& r) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  // The fields resume reads come first.
  str(w, "id", r.id);
  str(w, "status", to_string(r.status));
  key(w, "retryable");
  w.Bool(r.error && r.error->retryable);
  str(w, "request_hash", r.request_hash);
  if (!r.line_key.empty()) str(w, "line_key", r.line_key);
  if (r.regenerating > 0) {
    key(w, "regenerating");
    w.Uint(r.regenerating);
  }
  key(w, "line");
  w.Uint64(r.line);
  key(w, "http_status");
  w.Int(r.http_status);
  key(w, "attempts");
  w.Uint(static_cast<unsigned>(r.attempts.size()));
  if (!r.model.empty()) str(w, "model", r.model);
  if (!r.prompt.empty()) str(w, "prompt", r.prompt);
  if (!r.metadata.empty()) {
    // Embedded as the object it is; checked first, since the line must stay valid JSON whatever
    // a caller put there (anything else is kept as text).
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element m;
    if (!parser.parse(r.metadata).get(m) && m.is_object()) {
      key(w, "metadata");
      w.RawValue(r.metadata.data(), r.metadata.size(), rapidjson::kObjectType);
    } else {
      str(w, "metadata_text", r.metadata);
    }
  }
  key(w, "files");
  w.StartArray();
  for (const auto& f : r.files) file(w, f);
  w.EndArray();
  if (r.estimated_price_usd) {
    key(w, "estimated_price_usd");
    w.Double(*r.estimated_price_usd);
  }
  if (r.balance_usd) {
    key(w, "balance_usd");
    w.Double(*r.balance_usd);
  }
  if (!r.warnings.empty()) {
    key(w, "warnings");
    w.StartArray();
    for (const auto& warning : r.warnings) {
      const std::string clean = sanitize_utf8(warning);
      w.String(clean.data(), static_cast<rapidjson::SizeType>(clean.size()));
    }
    w.EndArray();
  }
  if (!r.server_id.empty()) str(w, "server_id", r.server_id);
  if (!r.cf_ray.empty()) str(w, "cf_ray", r.cf_ray);
  if (r.server_timing) {
    key(w, "server_timing");
    w.StartObject();
    num(w, "inference_ms", r.server_timing->inference_ms);
    num(w, "preprocessing_ms", r.server_timing->preprocessing_ms);
    num(w, "queue_ms", r.server_timing->queue_ms);
    num(w, "total_ms", r.server_timing->total_ms);
    w.EndObject();
  }
  key(w, "timing");
  w.StartObject();
  const auto& t = r.timing;
  num(w, "queued_ms", t.queued_ms);
  num(w, "admission_concurrency_ms", t.admission_concurrency_ms);
  num(w, "admission_rate_ms", t.admission_rate_ms);
  network(w, t.network);
  num(w, "decode_ms", t.decode_ms);
  num(w, "write_files_ms", t.write_files_ms);
  num(w, "total_ms", t.total_ms);
  w.EndObject();
  if (r.error) {
    key(w, "error");
    error(w, *r.error);
  }
  key(w, "attempt_log");
  w.StartArray();
  for (const auto& a : r.attempts) {
    w.StartObject();
    key(w, "http_status");
    w.Int(a.http_status);
    str(w, "cause", a.cause);
    key(w, "wait_ms");
    w.Int64(a.wait_before_ms);
    key(w, "sent");
    w.Bool(a.request_sent);
    if (a.maybe_billed_twice) {
      key(w, "maybe_billed_twice");
      w.Bool(true);
    }
    if (a.resends) {
      key(w, "resends");
      w.Uint(a.resends);
    }
    num(w, "admission_rate_ms", a.admission_rate_ms);
    network(w, a.network);
    num(w, "total_ms", a.total_ms);
    if (a.seed) {
      key(w, "seed");
      w.Int64(*a.seed);
    }
    if (!a.flag.empty()) str(w, "flag", a.flag);
    if (a.price_usd) num(w, "price_usd", *a.price_usd);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

JournalWriter::JournalWriter(const std::filesystem::path& path) {
  // Read and write on one descriptor: the tail checked below is the file appended to.
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd_ < 0 && errno == ELOOP) {
    throw std::runtime_error(fmt::format("cannot open '{}': {} is a symbolic link; refusing to follow it",
                                         path.string(), path.filename().string()));
  }
  if (fd_ < 0) throw std::runtime_error(fmt::format("cannot open '{}': {}", path.string(), std::strerror(errno)));
  // A crash may have left a torn last line; start ours on a fresh line so both stay separable.
  struct stat st {};
  if (::fstat(fd_, &st) == 0 && st.st_size > 0) {
    char last = '\n';
    if (::pread(fd_, &last, 1, st.st_size - 1) != 1) last = '\n';
    torn_tail_ = last != '\n';
  }
}

JournalWriter::~JournalWriter() {
  if (fd_ >= 0) {
    ::fdatasync(fd_);
    ::close(fd_);
  }
}

boost::system::result<void> JournalWriter::append(const JobRecord& record) {
  return append_lines(to_json_line(record) + "\n");
}

boost::system::result<void> JournalWriter::append_lines(std::string_view lines) {
  std::string line;
  if (torn_tail_) line.push_back('\n');
  line += lines;
  // One write(2) per line, which still is not atomic: a kill or a full disk can cut it. After a
  // failure part of the line may be in the file (a short write before ENOSPC): whatever the disk
  // does next, the next record starts on a line of its own (a blank line costs nothing).
  auto written = write_fully(fd_, line.data(), line.size());
  torn_tail_ = !written;
  return written;
}

boost::system::result<void> JournalWriter::sync() {
  if (fd_ >= 0 && ::fdatasync(fd_) != 0) return boost::system::error_code(errno, boost::system::system_category());
  return {};
}

bool replaces(JobStatus earlier, JobStatus later) { return !(earlier == JobStatus::ok && later == JobStatus::invalid); }

bool replaces(const JournalState& earlier, const JournalState& later) { return replaces(earlier.status, later.status); }

bool worth_compacting(const JournalSummary& s) {
  return s.lines >= kCompactMinLines && 2 * (s.superseded_lines + s.unreadable_lines) > s.lines;
}

namespace {

constexpr std::size_t kMaxJournalLine = std::size_t{64} << 20;  // above the manifest's 35 MiB line cap

struct Record {
  std::string_view id;
  JournalState state;
};

// The resume fields of one line. On-Demand: the whole line is checked for UTF-8 and closed
// strings and must end in '}', but only the first fields are parsed: they come first, and the
// fields are read in order until one that resume does not need, once id, status and the request
// hash are known (a missing optional field costs nothing; a field looked up by name that a line
// lacks would cost a scan of the whole line, attempt log and all).
std::optional<Record> parse_resume_fields(simdjson::ondemand::parser& parser, std::string_view text,
                                          std::size_t capacity) {
  using namespace simdjson;
  ondemand::document doc;
  ondemand::object obj;
  Record r;
  if (parser.iterate(padded_string_view(text.data(), text.size(), capacity)).get(doc) || doc.get_object().get(obj))
    return std::nullopt;
  bool have_id = false, have_status = false, have_hash = false;
  for (auto result : obj) {
    ondemand::field field;
    std::string_view key;
    if (std::move(result).get(field) || field.unescaped_key().get(key)) return std::nullopt;
    std::string_view text_value;
    if (key == "id") {
      if (field.value().get_string().get(r.id)) return std::nullopt;
      have_id = true;
    } else if (key == "status") {
      if (field.value().get_string().get(text_value)) return std::nullopt;
      auto parsed = parse_job_status(text_value);
      if (!parsed) return std::nullopt;
      r.state.status = *parsed;
      have_status = true;
    } else if (key == "retryable") {
      bool retryable = false;
      if (field.value().get_bool().get(retryable) == SUCCESS) r.state.retryable = retryable;
    } else if (key == "request_hash") {
      if (field.value().get_string().get(text_value) == SUCCESS) r.state.request_hash64 = hash_prefix64(text_value);
      have_hash = true;
    } else if (key == "line_key") {
      if (field.value().get_string().get(text_value) == SUCCESS) r.state.line_key64 = hash_prefix64(text_value);
    } else if (key == "regenerating") {
      std::uint64_t n = 0;
      if (field.value().get_uint64().get(n) == SUCCESS)
        r.state.regenerating = static_cast<std::uint32_t>(std::min<std::uint64_t>(n, UINT32_MAX));
    } else if (have_id && have_status && have_hash) {
      break;
    }
  }
  if (!have_id || !have_status) return std::nullopt;
  return r;
}

// Reads every line of the journal at `path`: counts lines in `counts`, and calls
// on_record(record, line) for each readable one. `line.text` is the line as it should be kept
// (ill-formed UTF-8 of an older version replaced). False if the file does not exist.
// Only the lines starting in [start, stop) when given (see LineReader::restrict_to).
template <class OnRecord>
bool scan_journal(const std::filesystem::path& path, JournalSummary& counts, OnRecord on_record,
                  std::uint64_t start = 0, std::uint64_t stop = UINT64_MAX) {
  if (::access(path.c_str(), F_OK) != 0 && errno == ENOENT) return false;
  LineReader reader(path, "journal", kMaxJournalLine, std::size_t{4} << 20);
  reader.restrict_to(start, stop);
  simdjson::ondemand::parser parser;
  simdjson::padded_string repaired;
  while (auto line = reader.next()) {
    std::string_view text = line->text;
    while (!text.empty() && is_line_space(text.back())) text.remove_suffix(1);
    if (!line->newline) counts.ends_without_newline = true;
    if (text.empty() && !line->too_long) continue;
    ++counts.lines;
    auto record = line->too_long ? std::nullopt : parse_resume_fields(parser, text, text.size() + LineReader::kPadding);
    if (!record && !line->too_long && !is_valid_utf8(text)) {
      repaired = simdjson::padded_string(sanitize_utf8(text));
      text = std::string_view(repaired.data(), repaired.size());
      record = parse_resume_fields(parser, text, text.size() + simdjson::SIMDJSON_PADDING);
    }
    if (!record) {
      ++counts.unreadable_lines;
      continue;
    }
    on_record(*record, text, line->offset);
  }
  return true;
}

}  // namespace

// A big journal is read by two threads: the second half's lines are parsed on another core
// while this thread parses the first half into the map, then they join the map in file order
// (the order `replaces` needs).
JournalSummary read_journal(const std::filesystem::path& path, std::uint64_t split_at_bytes) {
  JournalSummary out;
  std::uint64_t readable = 0;
  std::error_code ec;
  const std::uint64_t file_bytes = std::filesystem::file_size(path, ec);
  auto keep = [&](std::string id, const JournalState& state) {
    auto [it, fresh] = out.jobs.try_emplace(std::move(id), state);
    if (!fresh && replaces(it->second, state)) it->second = state;
  };
  const std::uint64_t split = !ec && file_bytes >= split_at_bytes && file_bytes >= 2 ? file_bytes / 2 : UINT64_MAX;
  struct Parsed {
    std::string id;
    JournalState state;
  };
  JournalSummary tail_counts;
  std::future<std::vector<Parsed>> tail;
  if (split != UINT64_MAX) {
    // A throw in either half reaches the caller: get() rethrows the tail's; the future's
    // destructor waits for the tail thread before the head's unwinds past what it references.
    tail = std::async(std::launch::async, [&path, &tail_counts, split] {
      std::vector<Parsed> parsed;
      scan_journal(
          path, tail_counts,
          [&](const Record& r, std::string_view, std::uint64_t) { parsed.push_back({std::string(r.id), r.state}); },
          split);
      return parsed;
    });
  }
  scan_journal(
      path, out,
      [&](const Record& r, std::string_view, std::uint64_t offset) {
        // Size the map once from the first lines' length: rehashing a million entries costs
        // more than parsing their lines.
        constexpr std::uint64_t kSample = 256;
        if (++readable == kSample && !ec)
          out.jobs.reserve(file_bytes / std::max<std::uint64_t>(offset / (kSample - 1), 1) * 9 / 8);
        keep(std::string(r.id), r.state);
      },
      0, split);
  if (tail.valid()) {
    std::vector<Parsed> parsed = tail.get();
    readable += parsed.size();
    for (auto& p : parsed) keep(std::move(p.id), p.state);
    out.lines += tail_counts.lines;
    out.unreadable_lines += tail_counts.unreadable_lines;
    out.ends_without_newline = out.ends_without_newline || tail_counts.ends_without_newline;
  }
  out.superseded_lines = readable - out.jobs.size();
  return out;
}

DecidingLines for_each_deciding_line(const std::filesystem::path& path,
                                     const std::function<void(std::string_view line)>& on_line) {
  DecidingLines result;
  // Pass 1: which line decides each id (its offset).
  struct Deciding {
    JournalState state;
    std::uint64_t offset;
  };
  IdMap<Deciding> deciding;
  JournalSummary counts;
  if (!scan_journal(path, counts, [&](const Record& r, std::string_view, std::uint64_t offset) {
        auto [it, fresh] = deciding.try_emplace(std::string(r.id), Deciding{r.state, offset});
        if (!fresh && replaces(it->second.state, r.state)) it->second = Deciding{r.state, offset};
      }))
    return result;
  result.found = true;
  result.lines = counts.lines;
  std::vector<std::uint64_t> keep;
  keep.reserve(deciding.size());
  for (const auto& [id, d] : deciding) keep.push_back(d.offset);
  deciding = {};
  std::sort(keep.begin(), keep.end());
  // Pass 2: those lines, in file order.
  JournalSummary again;
  auto next = keep.begin();
  scan_journal(path, again, [&](const Record&, std::string_view text, std::uint64_t offset) {
    if (next == keep.end() || *next != offset) return;
    ++next;
    ++result.kept;
    on_line(text);
  });
  result.changed = next != keep.end() || again.lines != counts.lines;
  return result;
}

boost::system::result<CompactionResult> compact_journal(const std::filesystem::path& path) {
  CompactionResult result;
  std::error_code size_error;
  result.bytes_before = std::filesystem::file_size(path, size_error);
  if (size_error) return result;  // nothing to compact
  // The deciding lines, in file order, to a temp file that replaces the journal at the end.
  auto out = ReplacementFile::create(path.parent_path(), path.filename().string());
  if (!out) return out.error();
  std::string buf;
  boost::system::error_code write_error;
  auto flush = [&] {
    if (!write_error) {
      if (auto w = out->write(buf); !w) write_error = w.error();
    }
    result.bytes_after += buf.size();
    buf.clear();
  };
  const DecidingLines scan = for_each_deciding_line(path, [&](std::string_view text) {
    buf.append(text).push_back('\n');
    if (buf.size() >= (std::size_t{1} << 20)) flush();
  });
  flush();
  result.lines_before = scan.lines;
  result.lines_after = scan.kept;
  if (!scan.found) return CompactionResult{};
  if (write_error) return write_error;  // the temp file goes, the journal stays as it was
  if (scan.changed)  // written to meanwhile: no lock held?
    return boost::system::errc::make_error_code(boost::system::errc::device_or_resource_busy);
  if (auto c = out->commit(true); !c) return c.error();
  return result;
}

}  // namespace venice_batch
