// One job, as one straight line: admit -> send -> decode -> decide -> record.
// What each outcome means is the attempt policy's; what to do with a journal
// line is resume's. This file only sequences I/O and keeps the books.
#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "batch_run.hpp"
#include "venice_batch/resume.hpp"
#include "venice_batch/text.hpp"

namespace venice_batch {
namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

double ms_between(RunClock::time_point a, RunClock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
std::int64_t us_between(RunClock::time_point a, RunClock::time_point b) {
  return std::chrono::duration_cast<std::chrono::microseconds>(b - a).count();
}

// Keeps the journal line short: the report shows the start of a prompt, the manifest has it whole.
std::string prompt_excerpt(const std::string& prompt) {
  constexpr std::size_t kMax = 300;
  if (prompt.size() <= kMax) return prompt;
  return std::string(truncate_utf8(prompt, kMax)) + "…";
}

}  // namespace

std::optional<JobSpec> BatchRun::next_job() {
  while (!stopping_) {
    auto entry = manifest_->next();
    if (!entry) return std::nullopt;
    if (auto* bad = std::get_if<InvalidLine>(&*entry)) {
      record_invalid_line(*bad);
      continue;
    }
    auto& job = std::get<JobSpec>(*entry);
    auto prev = previous_.jobs.find(job.id);
    const JournalState* state = prev == previous_.jobs.end() ? nullptr : &prev->second;
    switch (resume_job(state, hash_prefix64(job.request_hash), options_.retry_failed)) {
      case ResumeAction::run_changed:
        ++changed_;
        changed_ids_.insert(job.id);
        if (!options_.quiet)
          log_ << fmt::format("venice-batch: job '{}' (line {}) changed since it was recorded; doing it again\n",
                              job.id, job.line);
        return std::move(job);
      case ResumeAction::run: return std::move(job);
      case ResumeAction::skip_failed: ++skipped_failed_; [[fallthrough]];
      default: ++metrics_.counters().jobs_skipped; break;
    }
  }
  return std::nullopt;
}

void BatchRun::record_invalid_line(const InvalidLine& bad) {
  auto prev = previous_.jobs.find(bad.id);
  const JournalState* state = prev == previous_.jobs.end() ? nullptr : &prev->second;
  switch (resume_invalid_line(state, hash_prefix64(bad.line_hash))) {
    case ResumeAction::skip_invalid: ++metrics_.counters().jobs_invalid; return;  // recorded by an earlier run
    case ResumeAction::keep_done:
      // A duplicate id of a job done earlier: say so, never overwrite its ok.
      ++metrics_.counters().jobs_invalid;
      if (progress_) progress_->note(fmt::format("line {}: {} (job '{}' is already done; its record is kept)",
                                                 bad.line, bad.reason, bad.id));
      return;
    default: break;
  }
  JobRecord rec;
  rec.id = bad.id;
  rec.line = bad.line;
  rec.status = JobStatus::invalid;
  rec.request_hash = bad.line_hash;  // a fixed line has another hash: a later run sees the change
  rec.error = JobError{"invalid_line", fmt::format("line {}: {}", bad.line, bad.reason), {}, {}, false};
  record(rec);
}

net::awaitable<void> BatchRun::worker_loop(Worker& w) {
  for (;;) {
    const auto picked_at = RunClock::now();
    auto job = next_job();
    if (!job) break;
    co_await run_job(w, std::move(*job), picked_at);
  }
  finish_worker();
}

// Waits out the backoff, then for the pacer. False when the run is stopping.
net::awaitable<bool> BatchRun::admit(Worker& w, JobInProgress& job, unsigned cost) {
  if (job.wait.count() > 0) {
    w.timer.expires_after(job.wait);
    co_await w.timer.async_wait(use_tuple);
  }
  const auto start = RunClock::now();
  for (;;) {
    if (stopping_) co_return false;
    auto again = pacer_.try_start(RunClock::now(), cost);
    if (!again) break;
    w.timer.expires_at(*again);
    co_await w.timer.async_wait(use_tuple);
  }
  const auto sent_at = RunClock::now();
  metrics_.record(Phase::admission_rate, us_between(start, sent_at));
  job.rec.timing.admission_rate_ms += ms_between(start, sent_at);
  if (job.rec.attempts.empty()) job.rec.timing.queued_ms = ms_between(job.picked_at, sent_at);
  co_return true;
}

net::awaitable<void> BatchRun::run_job(Worker& w, JobSpec spec, RunClock::time_point picked_at) {
  JobInProgress job;
  job.picked_at = picked_at;
  job.started_at = RunClock::now();
  job.rec.id = spec.id;
  job.rec.line = spec.line;
  job.rec.request_hash = spec.request_hash;
  job.rec.model = spec.model;
  job.rec.prompt = prompt_excerpt(spec.prompt);
  job.rec.timing.admission_concurrency_ms = ms_between(picked_at, job.started_at);
  metrics_.record(Phase::admission_concurrency, us_between(picked_at, job.started_at));
  const ExpectedImages expected{spec.format, spec.variants, spec.return_binary};
  std::optional<AttemptDecision> last;
  // Each variant counts against the API's per-minute limit as one image.
  while (co_await admit(w, job, static_cast<unsigned>(spec.variants))) {
    ++metrics_.counters().in_flight;
    HttpExchange ex = co_await pool_.post("/image/generate", spec.body, authorization_);
    --metrics_.counters().in_flight;
    StoredResponse stored = co_await store_response(cpu_.get_executor(), ex, expected, spec.id, &sink_);
    ApiError api;
    if (ex.response && ex.response->status != 200) api = parse_api_error(ex.response->body);
    const AttemptOutcome outcome = attempt_outcome(ex, stored, api, epoch_ms_now());
    last = policy_.decide(outcome, job.attempt, stopping_, RunClock::now());
    account(job, ex, outcome, *last);
    if (last->step != NextStep::pause) add_attempt(job, ex, stored, api, *last);
    if (last->step == NextStep::pause) continue;  // not an attempt: the pacer holds everyone back
    if (last->step != NextStep::retry) break;
    job.wait = last->wait;
    ++job.attempt;
  }
  finish_job(job, last ? &*last : nullptr);
}

// The run's books after one attempt: the pacer, the run's counters, the run's stop.
void BatchRun::account(JobInProgress& job, const HttpExchange& ex, const AttemptOutcome& outcome,
                       const AttemptDecision& d) {
  auto& c = metrics_.counters();
  const auto now = RunClock::now();
  c.bytes_in += ex.bytes_in;
  c.bytes_out += ex.bytes_out;
  ++c.status_counts[ex.response ? ex.response->status : 0];
  record_exchange(metrics_, ex);
  if (d.pacer.kind == PacerFeedback::Kind::unreachable) pacer_.on_unreachable(now);
  if (d.pacer.kind == PacerFeedback::Kind::answer)
    pacer_.on_answer(now, d.pacer.status, outcome.limits, d.pacer.failure_lock, d.pacer.request_sent);
  if (d.step == NextStep::pause) {
    ++c.retry_causes[d.cause];
    if (!unreachable_noted_ && progress_)
      progress_->note(fmt::format("API unreachable ({}); waiting for it", escape_for_terminal(d.message, kMaxPrintedBytes)));
    unreachable_noted_ = true;
    return;
  }
  if (ex.response) unreachable_noted_ = false;
  if (d.step == NextStep::stop_run) stop_run(d.exit_status, d.message);
  ++c.attempts;
  if (job.attempt > 1) ++c.retries;
  ++c.attempt_causes[d.cause];
  if (d.maybe_billed_twice) ++c.retries_maybe_billed;
  if (d.step == NextStep::retry) {
    ++c.retry_causes[d.cause];
    if (!job.counted_retrying) {  // shown as "retrying" in the progress line until the job ends
      job.counted_retrying = true;
      ++c.retrying;
    }
  }
}

// The job's own record of one attempt: its attempt log entry, files, timings and error.
void BatchRun::add_attempt(JobInProgress& job, const HttpExchange& ex, const StoredResponse& stored,
                           const ApiError& api, const AttemptDecision& d) {
  auto& c = metrics_.counters();
  AttemptRecord a;
  a.http_status = ex.response ? ex.response->status : 0;
  a.cause = d.cause;
  a.wait_before_ms = job.wait.count();
  a.request_sent = ex.request_sent;
  a.maybe_billed_twice = d.maybe_billed_twice;
  const auto& t = ex.timings;
  a.network = NetworkPhases{t.connect_us / 1000.0, t.tls_us / 1000.0, t.write_us / 1000.0, t.ttfb_us / 1000.0,
                            t.download_us / 1000.0};
  a.total_ms = t.total_us / 1000.0;
  metrics_.record(Phase::attempt_total, t.total_us);
  auto& rec = job.rec;
  rec.timing.network = a.network;
  if (ex.response) {
    rec.http_status = ex.response->status;
    if (auto ray = ex.response->header("cf-ray")) rec.cf_ray = std::string(*ray);
  }
  if (ex.response && ex.response->status == 200) {
    metrics_.record(Phase::decode, stored.decode_us);
    rec.timing.decode_ms = stored.decode_us / 1000.0;
    rec.server_id = stored.server_id;
    rec.server_timing = stored.server_timing;
    if (stored.server_timing) metrics_.record_server_timing(*stored.server_timing);
    if (stored.ok) {
      metrics_.record(Phase::write_files, stored.write_us);
      rec.timing.write_files_ms = stored.write_us / 1000.0;
      rec.files = stored.files;
      c.images += stored.files.size();
      c.image_bytes += stored.image_bytes;
    }
  }
  if (d.step == NextStep::done) rec.error.reset();
  else rec.error = JobError{d.cause, d.message, api.body_json, api.body_text, d.retryable_later, api.body_truncated};
  rec.attempts.push_back(std::move(a));
}

void BatchRun::finish_job(JobInProgress& job, const AttemptDecision* last) {
  if (job.counted_retrying) --metrics_.counters().retrying;
  auto& rec = job.rec;
  if (rec.attempts.empty()) return;  // stopped before its first request: nothing to record
  if (last && last->step == NextStep::done) {
    rec.status = last->content_violation ? JobStatus::content_violation : JobStatus::ok;
  } else {
    rec.status = JobStatus::failed;
    if (!rec.error) rec.error = JobError{"interrupted", "the run stopped before this job finished", {}, {}, true};
    if (stopping_) rec.error->retryable = true;  // a later run does it
  }
  rec.timing.total_ms = ms_between(job.started_at, RunClock::now());
  record(rec);
  if (rec.status == JobStatus::ok && changed_ids_.erase(rec.id)) remove_superseded_images(rec);
}

// A changed line (another format, fewer variants) must not leave the old images beside the new
// ones: once the new ones are recorded, the job's other possible file names are removed.
void BatchRun::remove_superseded_images(const JobRecord& rec) {
  for (unsigned k = 0; k < 4; ++k) {
    for (auto format : {ImageFormat::webp, ImageFormat::png, ImageFormat::jpeg}) {
      const std::string name = image_file_name(rec.id, k, format);
      const bool current = std::any_of(rec.files.begin(), rec.files.end(),
                                       [&](const FileRecord& f) { return f.path == "images/" + name; });
      std::error_code ignored;
      if (!current) std::filesystem::remove(sink_.images_dir() / name, ignored);
    }
  }
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
  if (!appended) stop_run(exit_stopped, fmt::format("cannot append to results.jsonl: {}", appended.error().message()));
  if (rec.status == JobStatus::failed && !options_.quiet && progress_)
    progress_->note(fmt::format("job '{}' failed: {}", rec.id,
                                escape_for_terminal(rec.error ? rec.error->message : "?", kMaxPrintedBytes)));
}

}  // namespace venice_batch
