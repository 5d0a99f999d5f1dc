// results.jsonl: one line per finished job, appended and flushed as each job
// ends. It is also the journal a later run resumes from: read back tolerantly
// (a torn last line from a crash is ignored), keeping per job only what the
// resume decision needs, so a 1,000,000-job journal fits in little memory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/system/result.hpp>

#include "venice_batch/image_format.hpp"
#include "venice_batch/response.hpp"
#include "venice_batch/sink.hpp"

namespace venice_batch {

/// How a job ended. `ok` is written only after every image file is durably in place.
enum class JobStatus { ok, failed, invalid, content_violation };
std::string_view to_string(JobStatus s);
std::optional<JobStatus> parse_job_status(std::string_view s);

/// The network phases of one attempt, in milliseconds (connect and TLS are 0 on a reused connection).
struct NetworkPhases {
  double connect_ms = 0, tls_ms = 0, write_ms = 0, ttfb_ms = 0, download_ms = 0;
};

/// One attempt at a job: what happened and how long the client waited before the next.
struct AttemptRecord {
  int http_status = 0;            ///< 0 when no response arrived
  std::string cause;              ///< "ok", "http_429", "timeout", "invalid_base64", ...
  std::int64_t wait_before_ms = 0;///< backoff / rate-limit wait before this attempt
  bool request_sent = false;      ///< the request reached the wire (it may have been billed)
  /// The outcome is unknown (sent, then the answer was lost, cut or timed out; or a 520/524) and
  /// the job went again: the API may have charged for both. Defined by the attempt policy
  /// (attempt_policy.hpp); the summary, metrics and report all count this field.
  bool maybe_billed_twice = false;
  double admission_rate_ms = 0;   ///< held by the pacer before it went out
  NetworkPhases network;
  double total_ms = 0;
};

/// Client-side phase times of the final attempt plus the time spent queued, in milliseconds.
struct ClientTimings {
  double queued_ms = 0;     ///< from the job being read to its first request (admission waits)
  double admission_concurrency_ms = 0, admission_rate_ms = 0;
  NetworkPhases network;    ///< of the final attempt
  double decode_ms = 0, write_files_ms = 0;
  double total_ms = 0;      ///< first admission to journal record
};

struct JobError {
  std::string kind;          ///< "http_400", "timeout", "invalid_line", "wrong_format", ...
  std::string message;
  std::string api_body_json; ///< the API's error body when it was JSON (embedded as JSON)
  std::string api_body_text; ///< ... or its text when it was not
  bool retryable = false;    ///< a later run retries it without --retry-failed
};

struct JobRecord {
  std::string id;
  std::uint64_t line = 0;
  JobStatus status = JobStatus::failed;
  int http_status = 0;
  std::string request_hash;
  std::string model, prompt;
  std::vector<FileRecord> files;
  std::string server_id;
  std::optional<ServerTiming> server_timing;
  ClientTimings timing;
  std::string cf_ray;
  std::optional<JobError> error;
  std::vector<AttemptRecord> attempts;
};

/// The record as one JSON line (no newline), written with RapidJSON.
std::string to_json_line(const JobRecord& record);

/// Appends records to results.jsonl, one write(2) per line so a crash tears at most the last one.
class JournalWriter {
 public:
  /// Opens (creating) `path` for appending. Throws std::runtime_error if it cannot.
  explicit JournalWriter(const std::filesystem::path& path);
  ~JournalWriter();
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  /// Writes the line. An error (disk full) is returned, never thrown.
  boost::system::result<void> append(const JobRecord& record);
  /// fdatasync: called periodically and at the end, not per line.
  void sync();

 private:
  int fd_ = -1;
  bool torn_tail_ = false;
};

/// What resume needs to know of a job's last record.
struct JournalState {
  JobStatus status = JobStatus::failed;
  bool retryable = false;
  std::uint64_t request_hash64 = 0;  ///< first 64 bits of request_hash (see hash_prefix64)
};

/// The first 16 hex digits of a request hash as a number (0 if malformed): enough to detect
/// a changed manifest line, in 8 bytes per job instead of 64.
std::uint64_t hash_prefix64(std::string_view hex);

/// Last state per id from an existing results.jsonl. Lines that do not parse (a torn last line)
/// are counted in `unreadable_lines` and skipped. A missing file is an empty journal.
struct JournalSummary {
  std::unordered_map<std::string, JournalState> jobs;
  std::uint64_t lines = 0;
  std::uint64_t unreadable_lines = 0;
  bool ends_without_newline = false;  ///< a torn last line: the writer starts on a fresh line
};
JournalSummary read_journal(const std::filesystem::path& path);

}  // namespace venice_batch
