#include "venice_batch/journal.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

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
  if (hex.size() < 16) return 0;
  std::uint64_t v = 0;
  for (char c : hex.substr(0, 16)) {
    v <<= 4;
    if (c >= '0' && c <= '9') v |= static_cast<std::uint64_t>(c - '0');
    else if (c >= 'a' && c <= 'f') v |= static_cast<std::uint64_t>(c - 'a' + 10);
    else return 0;
  }
  return v;
}

namespace {
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void key(Writer& w, const char* k) { w.Key(k); }
void str(Writer& w, const char* k, std::string_view v) {
  w.Key(k);
  w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
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
  key(w, "line");
  w.Uint64(r.line);
  key(w, "http_status");
  w.Int(r.http_status);
  key(w, "attempts");
  w.Uint(static_cast<unsigned>(r.attempts.size()));
  if (!r.model.empty()) str(w, "model", r.model);
  if (!r.prompt.empty()) str(w, "prompt", r.prompt);
  key(w, "files");
  w.StartArray();
  for (const auto& f : r.files) {
    w.StartObject();
    str(w, "path", f.path);
    key(w, "bytes");
    w.Uint64(f.bytes);
    str(w, "format", to_string(f.format));
    w.EndObject();
  }
  w.EndArray();
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
    w.StartObject();
    str(w, "kind", r.error->kind);
    str(w, "message", r.error->message);
    if (!r.error->api_body_json.empty()) {
      key(w, "api_body");
      w.RawValue(r.error->api_body_json.data(), r.error->api_body_json.size(), rapidjson::kObjectType);
    } else if (!r.error->api_body_text.empty()) {
      str(w, "api_body_text", r.error->api_body_text);
    }
    w.EndObject();
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
    num(w, "admission_rate_ms", a.admission_rate_ms);
    network(w, a.network);
    num(w, "total_ms", a.total_ms);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

JournalWriter::JournalWriter(const std::filesystem::path& path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw std::runtime_error("cannot open '" + path.string() + "': " + std::strerror(errno));
  // A crash may have left a torn last line; start ours on a fresh line so both stay separable.
  struct stat st {};
  if (::fstat(fd_, &st) == 0 && st.st_size > 0) {
    int rfd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    char last = '\n';
    if (rfd >= 0) {
      if (::pread(rfd, &last, 1, st.st_size - 1) != 1) last = '\n';
      ::close(rfd);
    }
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
  std::string line;
  if (torn_tail_) line.push_back('\n');
  line += to_json_line(record);
  line.push_back('\n');
  // One write(2) per line: a killed process leaves whole lines; only a power cut can tear one.
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return boost::system::error_code(errno, boost::system::system_category());
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  torn_tail_ = false;
  return {};
}

void JournalWriter::sync() {
  if (fd_ >= 0) ::fdatasync(fd_);
}

JournalSummary read_journal(const std::filesystem::path& path) {
  JournalSummary out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  simdjson::dom::parser parser;
  // Big blocks, lines parsed in place: the bytes after a line inside the block serve as
  // simdjson's padding, and the block keeps SIMDJSON_PADDING spare bytes at its end.
  constexpr std::size_t kBlock = 8 << 20;
  std::string buf(kBlock + simdjson::SIMDJSON_PADDING, '\0');
  std::size_t have = 0;
  bool eof = false;
  auto handle_line = [&](const char* p, std::size_t n) {
    while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ')) --n;
    if (n == 0) return;
    ++out.lines;
    simdjson::dom::element doc;
    if (parser.parse(p, n, false).get(doc)) {
      ++out.unreadable_lines;
      return;
    }
    std::string_view id, status, hash;
    if (doc["id"].get_string().get(id) || doc["status"].get_string().get(status)) {
      ++out.unreadable_lines;
      return;
    }
    auto parsed = parse_job_status(status);
    if (!parsed) {
      ++out.unreadable_lines;
      return;
    }
    JournalState state;
    state.status = *parsed;
    bool retryable = false;
    if (doc["retryable"].get_bool().get(retryable) == simdjson::SUCCESS) state.retryable = retryable;
    if (doc["request_hash"].get_string().get(hash) == simdjson::SUCCESS) state.request_hash64 = hash_prefix64(hash);
    out.jobs.insert_or_assign(std::string(id), state);
  };
  while (!eof) {
    ssize_t n = ::read(fd, buf.data() + have, kBlock - have);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (n == 0) eof = true;
    have += static_cast<std::size_t>(n);
    std::size_t start = 0;
    for (;;) {
      const void* nl = std::memchr(buf.data() + start, '\n', have - start);
      if (!nl) break;
      std::size_t end = static_cast<std::size_t>(static_cast<const char*>(nl) - buf.data());
      handle_line(buf.data() + start, end - start);
      start = end + 1;
    }
    if (eof) {
      if (start < have) {  // a last line with no newline: torn by a crash, or whole
        out.ends_without_newline = true;
        std::memset(buf.data() + have, 0, simdjson::SIMDJSON_PADDING);
        handle_line(buf.data() + start, have - start);
      }
      break;
    }
    std::memmove(buf.data(), buf.data() + start, have - start);
    have -= start;
    if (have == kBlock) {  // a single line longer than the block: skip it
      ++out.lines;
      ++out.unreadable_lines;
      have = 0;
    }
  }
  ::close(fd);
  return out;
}

}  // namespace venice_batch
