#include "venice_batch/run.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <csignal>
#include <deque>
#include <iomanip>
#include <iostream>
#include <random>
#include <sstream>

#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "venice_batch/http_pool.hpp"
#include "venice_batch/journal.hpp"
#include "venice_batch/manifest.hpp"
#include "venice_batch/metrics.hpp"
#include "venice_batch/pacing.hpp"
#include "venice_batch/progress.hpp"
#include "venice_batch/report.hpp"
#include "venice_batch/response.hpp"
#include "venice_batch/sink.hpp"

namespace venice_batch {

namespace net = boost::asio;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::int64_t epoch_ms_now() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Keeps the journal line short: the report shows the start of a prompt, the manifest has it whole.
std::string prompt_excerpt(const std::string& prompt) {
  constexpr std::size_t kMax = 300;
  if (prompt.size() <= kMax) return prompt;
  std::size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(prompt[cut]) & 0xC0) == 0x80) --cut;  // UTF-8 boundary
  return prompt.substr(0, cut) + "…";
}

// Runs on the CPU pool. A plain function taking its parameters by value (GCC 12 and
// coroutine lambdas don't mix).
net::awaitable<StoredResponse> decode_and_write(HttpResponse response, ExpectedImages expected, std::string id,
                                                const OutputSink* sink) {
  thread_local ResponseDecoder decoder;
  co_return decode_and_store(decoder, response, expected, id, sink);
}

bool is_retryable_status(int status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504 || status == 408;
}

struct Worker {
  explicit Worker(net::io_context& io) : timer(io) {}
  net::steady_timer timer;  // admission and backoff waits; cancelled to stop
};

class BatchRun {
 public:
  BatchRun(const RunOptions& options, std::ostream& log)
      : options_(options),
        config_(options.config),
        log_(log),
        sink_(options.out_dir, config_.durable_writes),
        pool_(io_.get_executor(), HttpEndpoint::from_base_url(config_.base_url), pool_settings_from(config_)),
        pacer_(pacing_settings(config_), Clock::now()),
        grace_timer_(io_),
        ticker_timer_(io_),
        signals_(io_, SIGINT, SIGTERM),
        rng_(std::random_device{}()) {
    ManifestOptions mo;
    mo.defaults_json = config_.defaults_json;
    mo.allow_unknown_fields = config_.allow_unknown_fields;
    manifest_ = std::make_unique<ManifestReader>(options.manifest, mo);
    authorization_ = "Bearer " + options.api_key;
  }

  int execute();

 private:
  static PacingSettings pacing_settings(const Config& c) {
    PacingSettings p;
    p.requests_per_minute = c.requests_per_minute;
    p.burst = c.burst;
    p.failure_window = c.failure_budget.window;
    p.max_failures = c.failure_budget.max_failures;
    return p;
  }

  std::optional<JobSpec> next_job();
  net::awaitable<void> worker_loop(Worker& w);
  net::awaitable<void> process(Worker& w, JobSpec job, Clock::time_point picked_at);
  net::awaitable<bool> admit(Worker& w, unsigned cost);
  net::awaitable<void> tick_loop();
  net::awaitable<void> signal_loop();
  void record(JobRecord& rec);
  void stop_admitting();
  void stop_run(int status, const std::string& reason);
  void finish_worker();
  void write_snapshots(bool final_snapshot);
  void print_summary();
  milliseconds backoff(unsigned attempt);

  const RunOptions& options_;
  const Config& config_;
  std::ostream& log_;
  net::io_context io_{1};
  net::thread_pool cpu_{2};
  OutputSink sink_;
  std::unique_ptr<ManifestReader> manifest_;
  std::unique_ptr<JournalWriter> journal_;
  JournalSummary previous_;
  HttpClientPool pool_;
  Pacer pacer_;
  RunMetrics metrics_;
  std::unique_ptr<ProgressPrinter> progress_;
  std::vector<std::unique_ptr<Worker>> workers_;
  net::steady_timer grace_timer_, ticker_timer_;
  net::signal_set signals_;
  std::mt19937_64 rng_;
  std::string authorization_;

  std::size_t live_workers_ = 0;
  bool stopping_ = false;      // no new requests
  bool hard_stopped_ = false;  // requests in flight cancelled
  int signal_status_ = 0;
  int stop_status_ = 0;
  std::string stop_reason_;
  std::uint64_t skipped_failed_ = 0, changed_ = 0;
  bool unreachable_noted_ = false;
};

std::optional<JobSpec> BatchRun::next_job() {
  while (!stopping_) {
    auto entry = manifest_->next();
    if (!entry) return std::nullopt;
    if (auto* bad = std::get_if<InvalidLine>(&*entry)) {
      auto prev = previous_.jobs.find(bad->id);
      if (prev != previous_.jobs.end() && prev->second.status == JobStatus::invalid) {
        ++metrics_.counters().jobs_invalid;  // recorded by an earlier run already
        continue;
      }
      JobRecord rec;
      rec.id = bad->id;
      rec.line = bad->line;
      rec.status = JobStatus::invalid;
      rec.error = JobError{"invalid_line", "line " + std::to_string(bad->line) + ": " + bad->reason, {}, {}, false};
      record(rec);
      continue;
    }
    auto& job = std::get<JobSpec>(*entry);
    auto prev = previous_.jobs.find(job.id);
    if (prev != previous_.jobs.end()) {
      const auto& state = prev->second;
      if (state.request_hash64 != 0 && state.request_hash64 != hash_prefix64(job.request_hash)) {
        ++changed_;
        if (!options_.quiet)
          log_ << "venice-batch: job '" << job.id << "' (line " << job.line
               << ") changed since it was recorded; doing it again\n";
        return std::move(job);
      }
      if (state.status == JobStatus::ok) {
        ++metrics_.counters().jobs_skipped;
        continue;
      }
      const bool retry = state.retryable || options_.retry_failed;
      if (!retry) {
        ++metrics_.counters().jobs_skipped;
        ++skipped_failed_;
        continue;
      }
    }
    return std::move(job);
  }
  return std::nullopt;
}

milliseconds BatchRun::backoff(unsigned attempt) {
  // Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^(attempt-1))].
  const auto& r = config_.retry;
  double ceiling = static_cast<double>(r.base_delay.count()) * std::pow(2.0, std::min(attempt - 1, 30u));
  ceiling = std::min(ceiling, static_cast<double>(r.max_delay.count()));
  std::uniform_real_distribution<double> dist(0.0, ceiling);
  return milliseconds(static_cast<std::int64_t>(dist(rng_)));
}

net::awaitable<bool> BatchRun::admit(Worker& w, unsigned cost) {
  for (;;) {
    if (stopping_) co_return false;
    auto again = pacer_.try_start(Clock::now(), cost);
    if (!again) co_return true;
    w.timer.expires_at(*again);
    co_await w.timer.async_wait(use_tuple);
  }
}

net::awaitable<void> BatchRun::worker_loop(Worker& w) {
  for (;;) {
    const auto picked_at = Clock::now();
    auto job = next_job();
    if (!job) break;
    co_await process(w, std::move(*job), picked_at);
  }
  finish_worker();
}

net::awaitable<void> BatchRun::process(Worker& w, JobSpec job, Clock::time_point picked_at) {
  auto& counters = metrics_.counters();
  JobRecord rec;
  rec.id = job.id;
  rec.line = job.line;
  rec.request_hash = job.request_hash;
  rec.model = job.model;
  rec.prompt = prompt_excerpt(job.prompt);
  const ExpectedImages expected{job.format, job.variants, job.return_binary};
  const auto job_start = Clock::now();
  rec.timing.admission_concurrency_ms = ms_between(picked_at, job_start);
  metrics_.record(Phase::admission_concurrency, std::chrono::duration_cast<std::chrono::microseconds>(job_start - picked_at).count());
  milliseconds next_wait{0};
  bool done = false;
  bool counted_retrying = false;

  for (unsigned attempt = 1; attempt <= config_.retry.max_attempts && !done; ++attempt) {
    if (next_wait.count() > 0) {
      w.timer.expires_after(next_wait);
      co_await w.timer.async_wait(use_tuple);
    }
    const auto admission_start = Clock::now();
    // Each variant counts against the API's per-minute limit as one image.
    if (!co_await admit(w, static_cast<unsigned>(job.variants))) break;  // stopping: the job stays for the next run
    const auto sent_at = Clock::now();
    rec.timing.admission_rate_ms += ms_between(admission_start, sent_at);
    metrics_.record(Phase::admission_rate, std::chrono::duration_cast<std::chrono::microseconds>(sent_at - admission_start).count());
    if (attempt == 1) rec.timing.queued_ms = ms_between(picked_at, sent_at);

    AttemptRecord a;
    a.wait_before_ms = next_wait.count();
    a.admission_rate_ms = ms_between(admission_start, sent_at);
    ++counters.attempts;
    if (attempt > 1) ++counters.retries;
    ++counters.in_flight;
    HttpExchange ex = co_await pool_.post("/image/generate", job.body, authorization_);
    --counters.in_flight;
    a.request_sent = ex.request_sent;
    counters.bytes_in += ex.bytes_in;
    counters.bytes_out += ex.bytes_out;
    const auto& t = ex.timings;
    a.network = NetworkPhases{t.connect_us / 1000.0, t.tls_us / 1000.0, t.write_us / 1000.0, t.ttfb_us / 1000.0,
                              t.download_us / 1000.0};
    rec.timing.network = a.network;
    a.total_ms = t.total_us / 1000.0;
    if (!t.reused_connection) {
      metrics_.record(Phase::connect, t.connect_us);
      metrics_.record(Phase::tls, t.tls_us);
    }
    metrics_.record(Phase::write, t.write_us);
    if (ex.response) {
      metrics_.record(Phase::ttfb, t.ttfb_us);
      metrics_.record(Phase::download, t.download_us);
    }
    metrics_.record(Phase::attempt_total, t.total_us);

    bool retryable = false;
    milliseconds min_wait{0};
    JobError error;
    if (!ex.response && !ex.request_sent &&
        (ex.error == TransportError::connect_failed || ex.error == TransportError::resolve_failed) && !stopping_) {
      // Nothing reached the API: not an attempt at the job. The pacer holds everyone back
      // (backing off to 60 s) until the API answers again, and this job goes when it does.
      ++counters.status_counts[0];
      ++counters.retry_causes["unreachable"];
      pacer_.on_unreachable(Clock::now());
      if (!unreachable_noted_ && progress_) progress_->note("API unreachable (" + ex.error_message + "); waiting for it");
      unreachable_noted_ = true;
      next_wait = milliseconds(0);
      --attempt;
      continue;
    }
    if (!ex.response) {
      a.cause = std::string(to_string(ex.error));
      ++counters.status_counts[0];
      pacer_.on_answer(Clock::now(), 0, {}, false, ex.request_sent);
      error = JobError{a.cause, ex.error_message, {}, {}, true};
      if (ex.error == TransportError::certificate_rejected) {
        error.retryable = true;  // fix the trust setup and run again
        stop_run(exit_stopped, "the server's certificate was refused (" + ex.error_message +
                                   "); pass the right --ca-file or check --base-url");
      } else if (ex.error == TransportError::cancelled) {
        a.cause = "cancelled";
      } else {
        retryable = true;
      }
    } else {
      HttpResponse& response = *ex.response;
      const int status = response.status;
      unreachable_noted_ = false;
      a.http_status = status;
      rec.http_status = status;
      ++counters.status_counts[status];
      if (auto ray = response.header("cf-ray")) rec.cf_ray = std::string(*ray);
      const auto limits = parse_rate_limit_headers(response, epoch_ms_now());
      if (status == 200) {
        pacer_.on_answer(Clock::now(), status, limits, false, true);
        StoredResponse p = co_await net::co_spawn(
            cpu_.get_executor(), decode_and_write(std::move(response), expected, job.id, &sink_), net::use_awaitable);
        metrics_.record(Phase::decode, p.decode_us);
        rec.timing.decode_ms = p.decode_us / 1000.0;
        rec.server_id = p.server_id;
        rec.server_timing = p.server_timing;
        if (p.server_timing) metrics_.record_server_timing(*p.server_timing);
        if (p.ok) {
          metrics_.record(Phase::write_files, p.write_us);
          rec.timing.write_files_ms = p.write_us / 1000.0;
          rec.files = std::move(p.files);
          rec.status = JobStatus::ok;
          counters.images += rec.files.size();
          counters.image_bytes += p.image_bytes;
          a.cause = "ok";
          done = true;
        } else if (p.content_violation) {
          rec.status = JobStatus::content_violation;
          a.cause = "content_violation";
          done = true;
        } else {
          a.cause = p.error_kind;
          error = JobError{p.error_kind, p.error_message, {}, {}, p.retryable};
          retryable = p.retryable && !p.write_failed;
          if (p.write_failed) stop_run(exit_stopped, p.error_message + "; stopping so no more requests are wasted");
        }
      } else {
        ApiError api = parse_api_error(response.body);
        pacer_.on_answer(Clock::now(), status, limits, api.failure_lock, true);
        a.cause = api.failure_lock ? "failure_lock" : "http_" + std::to_string(status);
        error = JobError{a.cause, "HTTP " + std::to_string(status) + ": " + api.message, api.body_json, api.body_text,
                         is_retryable_status(status)};
        if (status == 422) {  // the older content-policy answer
          rec.status = JobStatus::content_violation;
          done = true;
        } else if (status == 401 || status == 402) {
          error.retryable = true;  // the run stays resumable once the key or balance is fixed
          stop_run(exit_stopped, status == 401 ? "the API refused the key (401): " + api.message
                                               : "payment required (402): " + api.message);
        } else if (is_retryable_status(status)) {
          retryable = true;
          if (status == 429) {
            min_wait = limits.retry_after ? *limits.retry_after : limits.reset_in.value_or(milliseconds(0));
            if (api.failure_lock)
              min_wait = std::max(limits.retry_after.value_or(milliseconds(0)), milliseconds(30000));
          }
        }
      }
    }
    if (!done) {
      if (retryable && attempt < config_.retry.max_attempts && !stopping_) {
        next_wait = std::max(backoff(attempt), min_wait);
        if (!counted_retrying) {  // shown as "retrying" in the progress line until the job ends
          counted_retrying = true;
          ++counters.retrying;
        }
        ++counters.retry_causes[a.cause];
        if (a.request_sent) ++counters.retries_maybe_billed;
      }
      rec.error = std::move(error);
      if (!retryable) {
        ++counters.attempt_causes[a.cause];
        rec.attempts.push_back(std::move(a));
        break;
      }
    }
    if (done) rec.error.reset();
    ++counters.attempt_causes[a.cause];
    rec.attempts.push_back(std::move(a));
  }

  if (counted_retrying) --counters.retrying;
  if (rec.attempts.empty()) co_return;  // stopped before its first request: nothing to record
  if (!done) {
    rec.status = JobStatus::failed;
    if (!rec.error) rec.error = JobError{"interrupted", "the run stopped before this job finished", {}, {}, true};
    if (stopping_ && rec.error) rec.error->retryable = true;
  }
  rec.timing.total_ms = ms_between(job_start, Clock::now());
  record(rec);
}

void BatchRun::record(JobRecord& rec) {
  auto& c = metrics_.counters();
  switch (rec.status) {
    case JobStatus::ok: ++c.jobs_ok; break;
    case JobStatus::failed: ++c.jobs_failed; break;
    case JobStatus::invalid: ++c.jobs_invalid; break;
    case JobStatus::content_violation: ++c.jobs_content_violation; break;
  }
  if (rec.error && rec.status != JobStatus::ok) ++c.failure_kinds[rec.error->kind];
  auto appended = journal_->append(rec);
  if (!appended) {
    stop_run(exit_stopped, "cannot append to results.jsonl: " + appended.error().message());
  }
  if (rec.status == JobStatus::failed && !options_.quiet && progress_) {
    progress_->note("job '" + rec.id + "' failed: " + (rec.error ? rec.error->message : std::string("?")));
  }
}

void BatchRun::stop_admitting() {
  if (stopping_) return;
  stopping_ = true;
  for (auto& w : workers_) w->timer.cancel();
}

void BatchRun::stop_run(int status, const std::string& reason) {
  if (stop_status_ == 0) {
    stop_status_ = status;
    stop_reason_ = reason;
    log_ << "venice-batch: stopping: " << reason << "\n";
  }
  stop_admitting();
}

void BatchRun::finish_worker() {
  if (--live_workers_ > 0) return;
  boost::system::error_code ignored;
  signals_.cancel(ignored);
  grace_timer_.cancel();
  ticker_timer_.cancel();
}

net::awaitable<void> BatchRun::signal_loop() {
  while (live_workers_ > 0) {
    auto [ec, signo] = co_await signals_.async_wait(use_tuple);
    if (ec) co_return;
    if (signal_status_ == 0) {
      signal_status_ = signo == SIGINT ? exit_sigint : exit_sigterm;
      log_ << "\nvenice-batch: " << (signo == SIGINT ? "SIGINT" : "SIGTERM")
           << ": no new requests; waiting up to " << config_.grace_period.count() / 1000
           << " s for those in flight (SIGINT again cancels them now)\n";
      stop_admitting();
      grace_timer_.expires_after(config_.grace_period);
      grace_timer_.async_wait([this](boost::system::error_code e) {
        if (!e && !hard_stopped_) {
          hard_stopped_ = true;
          pool_.cancel_all();
        }
      });
    } else if (!hard_stopped_) {
      log_ << "venice-batch: cancelling requests in flight\n";
      hard_stopped_ = true;
      pool_.cancel_all();
    }
  }
}

void BatchRun::write_snapshots(bool final_snapshot) {
  const auto now = Clock::now();
  const std::string pacing = pacer_.describe(now);
  (void)write_file_atomically(sink_.out_dir() / "metrics.json", metrics_.to_json(pacing), false);
  (void)write_file_atomically(sink_.out_dir() / "metrics.prom", metrics_.to_prometheus(), false);
  std::string line = metrics_.next_timeline_line(pacer_.current_rate(), pacing);
  line.push_back('\n');
  append_text_line(sink_.out_dir() / "timeline.jsonl", line);
  if (final_snapshot) journal_->sync();
}

net::awaitable<void> BatchRun::tick_loop() {
  auto last_snapshot = Clock::now();
  auto last_sync = Clock::now();
  while (live_workers_ > 0) {
    ticker_timer_.expires_after(progress_->tick_interval());
    auto [ec] = co_await ticker_timer_.async_wait(use_tuple);
    if (ec || live_workers_ == 0) co_return;
    const auto now = Clock::now();
    progress_->update(metrics_.counters(), metrics_.elapsed_seconds(), pacer_.describe(now));
    if (now - last_snapshot >= config_.metrics_interval) {
      write_snapshots(false);
      last_snapshot = now;
    }
    if (now - last_sync >= std::chrono::seconds(1)) {
      journal_->sync();  // bound what a power cut can lose; a killed process loses nothing
      last_sync = now;
    }
  }
}

void BatchRun::print_summary() {
  const auto& c = metrics_.counters();
  const double secs = metrics_.elapsed_seconds();
  const auto& lat = metrics_.histogram(Phase::attempt_total);
  std::ostringstream s;
  s << std::fixed << std::setprecision(1);
  s << "venice-batch: " << c.jobs_ok << " ok, " << c.jobs_failed << " failed, " << c.jobs_invalid << " invalid";
  if (c.jobs_content_violation) s << ", " << c.jobs_content_violation << " content violations";
  if (c.jobs_skipped) s << ", " << c.jobs_skipped << " skipped (done in an earlier run)";
  s << "\n  images: " << c.images << " written, " << static_cast<double>(c.image_bytes) / 1e6 << " MB; wall "
    << secs << " s; " << (secs > 0 ? static_cast<double>(c.images) / secs : 0.0) << " images/s\n";
  if (lat.count() > 0) {
    s << "  latency per request: p50 " << lat.value_at_percentile(50) / 1000.0 << " ms, p90 "
      << lat.value_at_percentile(90) / 1000.0 << " ms, p99 " << lat.value_at_percentile(99) / 1000.0 << " ms";
    s << "; " << c.attempts << " requests, " << c.retries << " retries\n";
  }
  s << "  results: " << (sink_.out_dir() / "results.jsonl").string() << "\n  images:  " << sink_.images_dir().string()
    << "/\n";
  log_ << s.str();
}

int BatchRun::execute() {
  const auto removed = sink_.remove_stale_temp_files();
  const auto journal_path = sink_.out_dir() / "results.jsonl";
  previous_ = read_journal(journal_path);
  journal_ = std::make_unique<JournalWriter>(journal_path);
  metrics_.counters().jobs_total = count_manifest_jobs(options_.manifest);
  progress_ = std::make_unique<ProgressPrinter>(log_, options_.quiet, ::isatty(STDERR_FILENO) == 1 && &log_ == &std::cerr,
                                                 config_.progress_interval);
  if (!options_.quiet) {
    if (removed) log_ << "venice-batch: removed " << removed << " temp file(s) left by an interrupted run\n";
    if (!previous_.jobs.empty())
      log_ << "venice-batch: resuming: " << previous_.jobs.size() << " job(s) already recorded in "
           << journal_path.string() << "\n";
  }
  {
    // Start a fresh timeline for this run; earlier runs' lines would mislead a plot.
    (void)write_file_atomically(sink_.out_dir() / "timeline.jsonl", "", false);
  }

  const unsigned n = config_.concurrency;
  live_workers_ = n;
  auto on_done = [this](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        stop_run(exit_stopped, std::string("internal error: ") + ex.what());
      }
    }
  };
  // The signal and tick loops first: if every job is already done the workers finish at
  // once, and their end must find those loops' waits pending to cancel them.
  net::co_spawn(io_, signal_loop(), on_done);
  net::co_spawn(io_, tick_loop(), on_done);
  for (unsigned i = 0; i < n; ++i) {
    workers_.push_back(std::make_unique<Worker>(io_));
    net::co_spawn(io_, worker_loop(*workers_.back()), on_done);
  }
  io_.run();
  cpu_.join();

  write_snapshots(true);
  progress_->finish();
  if (options_.write_report) {
    std::string why;
    if (auto report = write_report(sink_.out_dir(), &why)) log_ << "venice-batch: report: " << report->string() << "\n";
    else log_ << "venice-batch: no report: " << why << "\n";
  }
  print_summary();
  if (stop_status_ != 0) return stop_status_;
  if (signal_status_ != 0) return signal_status_;
  const auto& c = metrics_.counters();
  if (c.jobs_failed || c.jobs_invalid || c.jobs_content_violation || skipped_failed_) return exit_some_failed;
  return exit_ok;
}

}  // namespace

int run_batch(const RunOptions& options, std::ostream& log) {
  if (options.api_key.empty())
    throw ConfigError("no API key: set VENICE_API_KEY (it is never printed or written anywhere)");
  validate_config(options.config);
  {
    std::ifstream probe(options.manifest);
    if (!probe) throw ConfigError("cannot read manifest '" + options.manifest.string() + "'");
  }
  std::unique_ptr<BatchRun> run;
  try {
    run = std::make_unique<BatchRun>(options, log);
  } catch (const ConfigError&) {
    throw;
  } catch (const std::exception& e) {
    throw ConfigError(e.what());  // unwritable out dir, bad CA file, bad defaults
  }
  return run->execute();
}

}  // namespace venice_batch
