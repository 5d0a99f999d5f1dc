// results.jsonl: one line per finished job, appended as each job ends, every line valid JSON
// and UTF-8. It is also the journal a later run resumes from: read back tolerantly (a torn line,
// wherever it is, is skipped), keeping per job only what the resume decision needs, so a
// 1,000,000-job journal fits in little memory; compact_journal drops the lines resume no longer needs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

#include "venice_batch/id_map.hpp"
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
  /// the job went again, or the POST was resent after a stale keep-alive: the API may have
  /// charged for both. Defined by the attempt policy (attempt_policy.hpp); the report counts these
  /// attempts, the summary and metrics the POSTs behind them (AttemptDecision::maybe_billed_posts).
  bool maybe_billed_twice = false;
  /// The POST was written on a kept-alive connection the server had closed and sent again this
  /// many times within the attempt (each earlier one may have reached the API); 0: not written.
  unsigned resends = 0;
  double admission_rate_ms = 0;   ///< held by the pacer before it went out
  NetworkPhases network;
  double total_ms = 0;
  /// A regeneration (--regenerate-flagged): the seed this try was sent with.
  std::optional<std::int64_t> seed = std::nullopt;
  /// "blurred" or "content_violation": what the filter did to this try's answer.
  std::string flag = {};
  /// The catalog's price of this try, when it was billed (a blurred 200 is, a content violation is not).
  std::optional<double> price_usd = std::nullopt;
};

/// Client-side phase times of the final attempt plus the time spent queued, in milliseconds.
struct ClientTimings {
  double queued_ms = 0;     ///< from the job being read to its first request (admission waits)
  double admission_concurrency_ms = 0, admission_rate_ms = 0;
  NetworkPhases network;    ///< of the final attempt
  double decode_ms = 0, write_files_ms = 0;
  double total_ms = 0;      ///< first admission to journal record
};

/// Longest error message and API body text kept in a journal line (to_json_line cuts longer ones
/// at a character boundary: a 5 MB error must not make a 5 MB line). Same cap as the response stage.
inline constexpr std::size_t kJournalErrorTextBytes = kApiBodyKeptBytes;

struct JobError {
  std::string kind;          ///< "http_400", "timeout", "invalid_line", "truncated_image", ...
  std::string message;
  std::string api_body_json; ///< the API's error body when it was JSON (embedded as JSON)
  std::string api_body_text; ///< ... or its text when it was not (or too long to keep whole)
  bool retryable = false;    ///< a later run retries it without --retry-failed
  bool api_body_truncated = false;  ///< api_body_text is only the start of the body (ApiError::body_truncated)
};

struct JobRecord {
  std::string id;
  std::uint64_t line = 0;
  JobStatus status = JobStatus::failed;
  int http_status = 0;
  std::string request_hash;
  std::string line_key;  ///< JobSpec::line_key: a resume skips the unchanged line unparsed
  std::string model, prompt;
  std::string metadata;  ///< the manifest line's metadata object (JSON, as JobSpec::metadata); empty: none
  std::vector<FileRecord> files;
  std::string server_id;
  std::optional<ServerTiming> server_timing;
  ClientTimings timing;
  std::string cf_ray;
  std::optional<JobError> error;
  std::vector<AttemptRecord> attempts;
  std::optional<double> estimated_price_usd;  ///< the catalog's price of the request (all variants)
  std::optional<double> balance_usd;          ///< the last x-venice-balance-usd its answers carried
  std::vector<std::string> warnings;          ///< preflight's: wrong size family, deprecated model, ...
  /// --regenerate-flagged: the job stopped between two tries (a progress record, or a run that
  /// stopped): its next try is regeneration N, with a new seed. 0: not between tries. Read back
  /// by resume, so a rerun goes on from there and never pays for the flagged tries again.
  unsigned regenerating = 0;
};

/// The record as one JSON line (no newline), written with RapidJSON. Always valid JSON and UTF-8:
/// ill-formed bytes in any text (a cf-ray header, a prompt, an error body) become U+FFFD, an
/// api_body_json that is not JSON is written as api_body_text, and the error message and body text
/// are cut to kJournalErrorTextBytes ("api_body_truncated": true says the body was cut).
std::string to_json_line(const JobRecord& record);

/// Appends records to results.jsonl. A line is written with one write(2), but that does not make
/// it atomic: a process killed mid-write (SIGKILL, a power cut) or a full disk can leave part of
/// a line. The reader skips such a torn line wherever it is, so its job may be requested once
/// more; the writer starts the next line on a fresh line after any torn tail, its own included.
class JournalWriter {
 public:
  /// Opens (creating) `path` for appending. Throws std::runtime_error if it cannot, or if `path`
  /// is a symbolic link ("results.jsonl is a symbolic link; refusing to follow it").
  explicit JournalWriter(const std::filesystem::path& path);
  ~JournalWriter();
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  /// Writes the line. An error (disk full) is returned, never thrown; part of the line may be in
  /// the file then, and the next append starts on a fresh line.
  boost::system::result<void> append(const JobRecord& record);
  /// The same for lines of another JSONL file (metadata.jsonl), each ending with '\n'.
  boost::system::result<void> append_lines(std::string_view lines);
  /// fdatasync: called periodically and at the end, not per line, and before a webdataset shard
  /// is committed (from the packer's thread: it touches only the descriptor). The errno, if any.
  boost::system::result<void> sync();

 private:
  int fd_ = -1;
  bool torn_tail_ = false;
};

/// What resume needs to know of a job's last record.
struct JournalState {
  JobStatus status = JobStatus::failed;
  bool retryable = false;
  std::uint64_t request_hash64 = 0;  ///< first 64 bits of request_hash (see hash_prefix64)
  std::uint64_t line_key64 = 0;      ///< line_key as a number (0: not recorded, older journal)
  std::uint32_t regenerating = 0;    ///< JobRecord::regenerating
  /// Not from the journal: the first manifest line naming the id, noted by a resume's manifest
  /// pass (ManifestReader::RecordedJob::first_line); 0 until then.
  std::uint64_t manifest_line = 0;
};

/// The first 16 hex digits of a request hash as a number (0 if malformed): enough to detect
/// a changed manifest line, in 8 bytes per job instead of 64.
std::uint64_t hash_prefix64(std::string_view hex);

/// The journal's rule for one id, record by record in file order: does `later` replace the
/// state `earlier` gave? Always, except that an ok job is never undone by an `invalid` record
/// (a duplicate id on another manifest line): from ok the state moves only by a record of a
/// request that was sent (ok, failed, content_violation), i.e. a changed line or a user's choice.
bool replaces(const JournalState& earlier, const JournalState& later);
/// The same rule on the statuses alone (the report reads the journal with its own, smaller entries).
bool replaces(JobStatus earlier, JobStatus later);

/// Last state per id from an existing results.jsonl (by `replaces`). Lines that do not parse (torn
/// by a crash or a full disk, anywhere in the file) are counted in `unreadable_lines` and skipped;
/// a line with ill-formed UTF-8 (written by an older version) is read with its bytes replaced.
/// Only the fields resume needs are read (they come first in each line). A missing file is an
/// empty journal; one that exists but cannot be read to its end (a directory, an I/O error)
/// throws std::runtime_error: a journal read in part would send finished jobs again.
struct JournalSummary {
  IdMap<JournalState> jobs;
  std::uint64_t lines = 0;             ///< non-blank lines
  std::uint64_t unreadable_lines = 0;
  std::uint64_t superseded_lines = 0;  ///< readable lines that no longer decide their id's state
  bool ends_without_newline = false;   ///< a torn last line: the writer starts on a fresh line
};
/// A journal of `split_at_bytes` or more is read by two threads, each half of the file (tests set
/// it low; the result is the same).
inline constexpr std::uint64_t kSplitJournalBytes = std::uint64_t{64} << 20;
JournalSummary read_journal(const std::filesystem::path& path, std::uint64_t split_at_bytes = kSplitJournalBytes);

/// Calls `on_line` with the line that decides each id's state (by `replaces`), in file order,
/// as valid UTF-8 (two passes over the file; unreadable lines are skipped). What compaction
/// keeps and what batch results list. Throws std::runtime_error as read_journal.
struct DecidingLines {
  bool found = false;       ///< the journal exists
  std::uint64_t lines = 0;  ///< its non-blank lines, at the first pass
  std::uint64_t kept = 0;   ///< lines given to on_line
  bool changed = false;     ///< the file changed between the passes (another writer: no lock held?)
};
DecidingLines for_each_deciding_line(const std::filesystem::path& path,
                                     const std::function<void(std::string_view line)>& on_line);

/// Worth compacting: at least kCompactMinLines lines, most of them superseded or unreadable.
inline constexpr std::uint64_t kCompactMinLines = 1000;
bool worth_compacting(const JournalSummary& summary);

struct CompactionResult {
  std::uint64_t lines_before = 0, lines_after = 0;
  std::uint64_t bytes_before = 0, bytes_after = 0;
};

/// Rewrites the journal at `path` keeping, per id, only the line that decides its state (by
/// `replaces`), in file order, each valid UTF-8; unreadable lines are dropped. Atomic: the new
/// journal is written under a temp name beside it (".results.jsonl.tmp-<random>"), fsynced, and
/// renamed over it, then the directory is fsynced; a kill at any moment leaves the old journal or
/// the new one, whole (and maybe a temp file, which OutputSink::remove_stale_temp_files removes).
/// Call it before a JournalWriter opens the file, under the out dir's lock. A missing file is
/// nothing to do; an error (disk full; the file written to meanwhile) is returned and leaves the
/// journal as it was; a journal that cannot be read throws std::runtime_error, as read_journal.
boost::system::result<CompactionResult> compact_journal(const std::filesystem::path& path);

}  // namespace venice_batch
