// The run's wiring (private to run.cpp and run_job.cpp): the stages, the
// decision units, the workers, signals and the ticker. The decisions are made
// by the units (AttemptPolicy, Pacer, resume_job); the coroutines only
// sequence I/O.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "venice_batch/admission.hpp"
#include "venice_batch/attempt_policy.hpp"
#include "venice_batch/catalog.hpp"
#include "venice_batch/exchange.hpp"
#include "venice_batch/http_pool.hpp"
#include "venice_batch/journal.hpp"
#include "venice_batch/lookahead.hpp"
#include "venice_batch/manifest.hpp"
#include "venice_batch/metrics.hpp"
#include "venice_batch/out_dir_lock.hpp"
#include "venice_batch/pacing.hpp"
#include "venice_batch/progress.hpp"
#include "venice_batch/regenerate.hpp"
#include "venice_batch/run.hpp"
#include "venice_batch/sink.hpp"
#include "venice_batch/spend.hpp"
#include "venice_batch/webdataset.hpp"

namespace venice_batch {

namespace net = boost::asio;
using RunClock = std::chrono::steady_clock;

/// Server text printed on stderr is escaped (no terminal control sequences) and capped.
inline constexpr std::size_t kMaxPrintedBytes = 1000;

inline double ms_between(RunClock::time_point a, RunClock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
inline std::int64_t us_between(RunClock::time_point a, RunClock::time_point b) {
  return std::chrono::duration_cast<std::chrono::microseconds>(b - a).count();
}
/// The start of a prompt for the journal line (the manifest has it whole).
std::string prompt_excerpt(const std::string& prompt);

struct Worker {
  explicit Worker(net::io_context& io) : timer(io) {}
  net::steady_timer timer;  // admission and backoff waits; cancelled to stop
};

/// A job read from the manifest, checked against its model and priced, waiting in the look-ahead.
struct PendingJob {
  JobSpec spec;
  std::string model;           // the model it is paced under: the catalog's id for an alias
  std::optional<Price> price;  // the catalog's price of the whole request (nullopt: unpriced)
  std::vector<std::string> warnings;
  RunClock::time_point read_at;
  unsigned regenerating = 0;  // resume_regeneration: the regeneration an earlier run stopped before
  bool redoes_ok = false;     // its line changed since it was recorded ok: that record and its images go first
};

/// One job's record as it is built, attempt by attempt.
struct JobInProgress {
  JobRecord rec;
  RunClock::time_point picked_at, started_at;
  std::chrono::milliseconds wait{0};  // before the next attempt
  unsigned attempt = 1;               // the number of the next real attempt
  bool counted_retrying = false;
  bool daily_cap = false;             // its model's requests per day ran out before a retry
  std::string paced_model;            // PendingJob::model: the catalog's id for an alias (rec.model is the line's)
  unsigned regenerations = 0;         // new-seed tries sent for flagged answers (--regenerate-flagged)
  std::optional<std::int64_t> seed;   // the seed of the try in flight when it is a regeneration (else the line's, or none)
  bool blurred = false;               // the last try's images were blurred: kept apart, not a dataset image
  bool between_tries = false;         // a regeneration is decided and not sent yet
  bool fresh_connection = false;      // the last answer was another request's: the next try on a new connection
};

class BatchRun {
 public:
  BatchRun(const RunOptions& options, std::ostream& log);
  /// Opens the journal and reads it back; throws ConfigError for what the user must fix.
  void prepare();
  int execute();

 private:
  // run_queue.cpp: reading, resuming, preflight, look-ahead. run_job.cpp: the job, one straight line.
  std::optional<PendingJob> next_job();
  std::optional<PendingJob> preflight(JobSpec&& spec);
  void record_invalid_line(const InvalidLine& bad);
  void record_refused(const JobSpec& spec, const std::string& reason);
  void note_warning(const std::string& warning);
  /// A line refused before sending ("line N: why"), printed for the first 20 such lines; then one
  /// note says the rest are only in results.jsonl (a manifest of a million bad lines is one screen).
  void note_refused_line(const std::string& text);
  void note_daily_cap(const PendingJob& job);
  // "model 'x' stopped for this run: <why>"; `named` as the line names it, `paced` the catalog's id.
  std::string daily_stop_message(std::string_view named, std::string_view paced) const;
  net::awaitable<std::optional<PendingJob>> take_job(Worker& w);
  net::awaitable<void> worker_loop(Worker& w);
  net::awaitable<void> run_job(Worker& w, PendingJob pending, RunClock::time_point admitted_at);
  net::awaitable<bool> admit(Worker& w, JobInProgress& job, const std::string& model, unsigned cost);
  void settle_spend(JobInProgress& job, Reservation reservation, const HttpExchange& ex, const AttemptDecision& d);
  void account(JobInProgress& job, const std::string& model, const HttpExchange& ex, const AttemptOutcome& outcome,
               const AttemptDecision& d);
  void add_attempt(JobInProgress& job, const HttpExchange& ex, const StoredResponse& stored, const ApiError& api,
                   const AttemptDecision& d);
  void finish_job(JobInProgress& job, const AttemptDecision* last, const std::string& body_sent);
  bool record(JobRecord& rec);  // false: the journal line could not be written
  void supersede_earlier_images(const JobRecord& rec);
  std::vector<std::string> superseded_files(const JobRecord& rec) const;
  bool append_to_journal(const JobRecord& rec);  // false: not written (the run is stopping)
  bool record_between_tries(const JobInProgress& job);  // false: the journal line could not be written
  net::awaitable<bool> withdraw_earlier_ok(const JobInProgress& job);  // false: the journal failed (the run stops)
  void note_regeneration_beyond_cap(const PendingJob& pending);
  void note_flag(JobInProgress& job, const PendingJob& pending, const StoredResponse& stored, ImageFlag flag);
  bool append_imagefolder_lines(const JobRecord& rec, const std::string& body_sent);
  void add_to_shards(const JobRecord& rec);
  void open_dataset();
  void remove_unrecorded_images(const std::function<bool(std::string_view)>& recorded_ok);
  int close_dataset();

  // run.cpp: wiring, signals, ticker, summary.
  net::awaitable<void> startup();
  /// `live`: just fetched, so its balance is today's; a saved one's (--catalog FILE) is not used.
  void use_catalog(const CatalogSources& sources, const std::vector<std::string>& problems, bool live = true);
  /// The key's balance and per-model limits as /api_keys/rate_limits stated them just now.
  void use_account_state(const Catalog& fetched);
  net::awaitable<void> tick_loop();
  net::awaitable<void> signal_loop();
  void spawn(net::awaitable<void> task);
  void stop_admitting();
  void stop_run(int status, const std::string& reason);
  void finish_worker();
  void write_snapshots(bool final_snapshot);
  void load_daily_usage();
  void save_daily_usage();
  void print_summary();
  double random_unit() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

  const RunOptions& options_;
  const Config& config_;
  std::ostream& log_;
  net::io_context io_{1};
  net::thread_pool cpu_{config_.durable_writes ? std::clamp(config_.concurrency, 2u, 64u) : 2u};  // durable: a thread per waiting file, so fsyncs batch (GroupCommitter)
  OutDirLock lock_;
  LayoutSettings layout_;  // the out dir's, settled under the lock before anything is written
  OutputSink sink_;
  std::unique_ptr<ManifestReader> manifest_;
  std::unique_ptr<JournalWriter> journal_;
  std::unique_ptr<JournalWriter> imagefolder_;  // metadata.jsonl (imagefolder layout)
  std::unique_ptr<ShardWriter> shards_;         // webdataset layout
  JournalSummary previous_;
  HttpClientPool pool_;
  std::optional<Catalog> catalog_;
  bool journal_failed_ = false;  // a record could not be appended or synced: its job's files may have none
  Admission admission_;
  Lookahead<PendingJob> lookahead_;
  SpendGuard spend_;
  std::mt19937_64 rng_;
  AttemptPolicy policy_;
  RunMetrics metrics_;
  std::unique_ptr<ProgressPrinter> progress_;
  std::vector<std::unique_ptr<Worker>> workers_;
  net::steady_timer grace_timer_, ticker_timer_;
  net::signal_set signals_;
  std::string authorization_;

  std::size_t live_workers_ = 0;
  bool stopping_ = false;      // no new requests
  // Answers echoing another prompt are refused once the API's echo has matched a prompt sent
  // (trusted), and never again once it has not where no stray answer could be (off).
  EchoCheck echo_check_;  // judged where answers are decoded (store_response's threads)
  bool hard_stopped_ = false;  // requests in flight cancelled
  int signal_status_ = 0;
  int stop_status_ = 0;
  std::string stop_reason_;
  std::uint64_t skipped_failed_ = 0, changed_ = 0;
  std::unordered_set<std::string> changed_ids_;  // jobs done again because their line changed (few)
  std::uint64_t waiting_for_regeneration_ = 0;  // not sent: a regeneration beyond this run's --regenerate-flagged
  unsigned highest_waiting_regeneration_ = 0;   // the --regenerate-flagged that would send them all
  std::uint64_t skipped_unparsed_ = 0;  // finished lines the manifest reader skipped, counted so far
  bool manifest_done_ = false;          // read to its end (or to --limit)
  std::uint64_t jobs_taken_ = 0;        // pending jobs read for this run (--limit counts these)
  std::uint64_t stopped_at_daily_cap_ = 0;
  int limit_status_ = 0;                // exit_user_limit once a model's daily cap stopped its jobs
  std::unordered_set<std::string> warnings_noted_;
  std::uint64_t warnings_repeated_ = 0;
  std::uint64_t refused_lines_noted_ = 0;
  bool metadata_superseded_ = false;  // imagefolder: a redone job's lines are in metadata.jsonl twice, or name a removed image
  bool unreachable_noted_ = false;
  std::size_t removed_temp_files_ = 0;
  std::string usage_day_;  // the UTC day the models' daily counts are for (daily_usage.hpp)
  std::chrono::system_clock::time_point next_day_at_{};  // when that day ends
  void notice_new_day();
  bool usage_write_warned_ = false;
};

}  // namespace venice_batch
