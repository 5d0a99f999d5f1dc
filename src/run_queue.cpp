// Where jobs come from: the manifest read on, each line resumed (skip what is done), checked
// against its model and priced (preflight), then held in the look-ahead until its model may send.
#include <algorithm>

#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "batch_run.hpp"
#include "venice_batch/model_preflight.hpp"
#include "venice_batch/pricing.hpp"
#include "venice_batch/regenerate.hpp"
#include "venice_batch/resume.hpp"
#include "venice_batch/text.hpp"

namespace venice_batch {
namespace {
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
}  // namespace

std::optional<PendingJob> BatchRun::next_job() {
  while (!stopping_ && !(options_.limit && jobs_taken_ >= options_.limit)) {
    auto entry = manifest_->next();
    metrics_.counters().jobs_skipped += manifest_->skipped() - skipped_unparsed_;
    skipped_unparsed_ = manifest_->skipped();
    if (!entry) return std::nullopt;
    if (auto* bad = std::get_if<InvalidLine>(&*entry)) {
      record_invalid_line(*bad);
      continue;
    }
    auto& job = std::get<JobSpec>(*entry);
    auto prev = previous_.jobs.find(job.id);
    const JournalState* state = prev == previous_.jobs.end() ? nullptr : &prev->second;
    ResumeAction action = resume_job(state, hash_prefix64(job.request_hash), options_.retry_failed);
    if (action == ResumeAction::run_changed && layout_.kind == LayoutKind::webdataset &&
        state->status == JobStatus::ok) {
      // Its sample may be in a finished shard already, and shards are never rewritten: a second
      // sample under the same key would be a duplicate for every reader (and recovery, which
      // deletes staged files whose key the newest shard holds, could delete the paid new one).
      note_warning(fmt::format("job '{}' (line {}) changed since it was recorded ok; the webdataset layout keeps "
                               "the sample it has (give the new line another id to generate it)",
                               job.id, job.line));
      action = ResumeAction::skip_done;
    }
    switch (action) {
      case ResumeAction::run_changed:
        ++changed_;
        changed_ids_.insert(job.id);  // a later duplicate line's message must not say its record is kept
        if (!options_.quiet)
          log_ << fmt::format("venice-batch: job '{}' (line {}) changed since it was recorded; doing it again\n",
                              job.id, job.line);
        [[fallthrough]];
      case ResumeAction::run:
        if (auto pending = preflight(std::move(job))) {
          if (action == ResumeAction::run)
            pending->regenerating = resume_regeneration(state, hash_prefix64(pending->spec.request_hash));
          if (pending->regenerating > config_.regenerate_flagged) {
            note_regeneration_beyond_cap(*pending);  // this run allows fewer tries than the one that stopped
            break;
          }
          pending->redoes_ok = action == ResumeAction::run_changed && state->status == JobStatus::ok;
          ++jobs_taken_;
          return pending;
        }
        break;
      case ResumeAction::skip_failed: ++skipped_failed_; [[fallthrough]];
      default: ++metrics_.counters().jobs_skipped; break;
    }
  }
  return std::nullopt;
}

// The job against its model in the catalog (when there is one): refused lines are recorded
// invalid and never sent; the job is priced for the spend cap.
std::optional<PendingJob> BatchRun::preflight(JobSpec&& spec) {
  PendingJob pending;
  pending.read_at = RunClock::now();
  // A shard member is a file in staging/ first: its temp name ".<stem>_<k>.json.tmp-<16 hex>"
  // must fit a file name (255 bytes), and each '.' of an id takes three bytes in the key.
  // Refused before anything is paid.
  if (layout_.kind == LayoutKind::webdataset &&
      webdataset_key_stem(spec.id).size() + 7 + kTempNameOverhead > 255) {
    record_refused(spec, fmt::format("id '{}' makes a webdataset key over 255 bytes (each '.' is written %2E): "
                                     "use fewer dots",
                                     spec.id));
    return std::nullopt;
  }
  if (catalog_) {
    auto view = view_request(spec.body);
    if (!view) {
      record_refused(spec, view.error());
      return std::nullopt;
    }
    PreflightResult checked = preflight_job(*catalog_, *view);
    if (checked.refusal) {
      record_refused(spec, *checked.refusal);
      return std::nullopt;
    }
    for (auto& w : checked.warnings) note_warning(w);
    pending.warnings = std::move(checked.warnings);
    if (checked.model) {
      const JobPrice priced = price_job(*checked.model, *view);
      // Under a cap, a price that leaves out what the line asks for is no price (as unpriced jobs are).
      if (config_.max_spend_usd > 0 && !priced.unpriced_extras.empty()) {
        record_refused(spec, fmt::format("{} costs extra and the catalog has no price for it: not sent under "
                                         "--max-spend (remove it from the line, or run without a cap)",
                                         fmt::join(priced.unpriced_extras, " and ")));
        return std::nullopt;
      }
      pending.price = priced.total;
      pending.model = checked.model->id;
    }
  }
  if (pending.model.empty()) pending.model = spec.model;
  pending.spec = std::move(spec);
  return pending;
}

// Refused before sending (preflight, or unpriced under a spend cap): recorded invalid with the
// reason. The request hash is the line's: a later run checks it again (the catalog may change).
void BatchRun::record_refused(const JobSpec& spec, const std::string& reason) {
  JobRecord rec;
  rec.id = spec.id;
  rec.line = spec.line;
  rec.status = JobStatus::invalid;
  rec.request_hash = spec.request_hash;
  rec.model = spec.model;
  rec.prompt = prompt_excerpt(spec.prompt);
  rec.metadata = spec.metadata;
  rec.error = JobError{"preflight", reason, {}, {}, false};
  const auto earlier = previous_.jobs.find(spec.id);
  if (earlier != previous_.jobs.end() && resume_regeneration(&earlier->second, hash_prefix64(spec.request_hash)) > 0) {
    // Its record says which regeneration it waits for (the tries before were paid): an invalid
    // record would replace it, and a later run would start again from the line's own seed.
    note_refused_line(fmt::format("line {}: {} (job '{}' keeps waiting for its regeneration; not sent)", spec.line,
                                  escape_for_terminal(reason, kMaxPrintedBytes),
                                  escape_for_terminal(spec.id, kMaxPrintedBytes)));
    return;
  }
  const bool stays_done = earlier != previous_.jobs.end() && earlier->second.status == JobStatus::ok;
  note_refused_line(fmt::format("line {}: {}{}", spec.line, escape_for_terminal(reason, kMaxPrintedBytes),
                                stays_done ? fmt::format(" (job '{}' stays done from its earlier line; this line is not sent)",
                                                         escape_for_terminal(spec.id, kMaxPrintedBytes))
                                           : std::string()));
  // Not superseding: an ok record is never undone by an invalid one (journal.hpp, replaces), so
  // the earlier images stay its images; putting the line back costs nothing.
  record(rec);
}

// A job an earlier run stopped between two tries of --regenerate-flagged, waiting for a
// regeneration beyond this run's --regenerate-flagged: not sent, and not ended either (ending it
// blurred would leave only --retry-failed, which starts again from the line's own, flagged,
// request). It keeps waiting; the run ends with exit 4 and says how to go on.
void BatchRun::note_regeneration_beyond_cap(const PendingJob& pending) {
  ++waiting_for_regeneration_;
  highest_waiting_regeneration_ = std::max(highest_waiting_regeneration_, pending.regenerating);
  ++metrics_.counters().jobs_skipped;
  limit_status_ = exit_user_limit;
  // One warning for all of them (the same words); the summary says which N sends every one.
  note_warning(fmt::format("job(s) wait for a regeneration beyond --regenerate-flagged {} (an earlier run allowed "
                           "more): not sent (see the summary)",
                           config_.regenerate_flagged));
}

void BatchRun::note_refused_line(const std::string& text) {
  constexpr std::uint64_t kPrinted = 20;
  if (progress_ && refused_lines_noted_ < kPrinted) progress_->note(text);
  if (progress_ && refused_lines_noted_ == kPrinted)
    progress_->note("more lines are refused, not printed here: results.jsonl gives each new refusal's reason (status \"invalid\")");
  ++refused_lines_noted_;
}

// A warning is printed the first time it is met; the same words again are only counted.
void BatchRun::note_warning(const std::string& warning) {
  constexpr std::size_t kMaxDistinct = 50;
  if (warnings_noted_.size() >= kMaxDistinct || !warnings_noted_.insert(warning).second) {
    ++warnings_repeated_;
    return;
  }
  if (progress_) progress_->note("warning: " + escape_for_terminal(warning, kMaxPrintedBytes));
}

// The job's model used its requests per day: the job is not sent and not recorded, so a later
// run does it. Said once per model; the run ends with exit 4 unless something worse happens.
void BatchRun::note_daily_cap(const PendingJob& job) {
  ++stopped_at_daily_cap_;
  limit_status_ = exit_user_limit;
  if (warnings_noted_.insert("daily cap: " + job.model).second && progress_)
    progress_->note(escape_for_terminal(daily_stop_message(job.spec.model, job.model), 2 * kMaxPrintedBytes) +
                    "; its remaining jobs are not sent (run again when the limit resets to do them)");
}

std::string BatchRun::daily_stop_message(std::string_view named, std::string_view paced) const {
  const std::string model =
      named == paced ? fmt::format("'{}'", named) : fmt::format("'{}' (catalog id '{}')", named, paced);
  const std::string why = admission_.daily_stop_reason(paced);
  return fmt::format("model {} stopped for this run: {}", model, why.empty() ? "its daily limit" : why);
}

void BatchRun::record_invalid_line(const InvalidLine& bad) {
  auto prev = previous_.jobs.find(bad.id);
  const JournalState* state = prev == previous_.jobs.end() ? nullptr : &prev->second;
  switch (resume_invalid_line(state, hash_prefix64(bad.line_hash))) {
    case ResumeAction::skip_invalid: ++metrics_.counters().jobs_invalid; return;  // recorded by an earlier run
    case ResumeAction::keep_done:
      // A duplicate id of a job done earlier: say so, never overwrite its ok.
      ++metrics_.counters().jobs_invalid;
      note_refused_line(changed_ids_.contains(bad.id)
                            ? fmt::format("line {}: {} (job '{}' is done again in this run from its first line, "
                                          "which changed; this line is not sent)",
                                          bad.line, escape_for_terminal(bad.reason, kMaxPrintedBytes),
                                          escape_for_terminal(bad.id, kMaxPrintedBytes))
                            : fmt::format("line {}: {} (job '{}' is already done; its record is kept)", bad.line,
                                          escape_for_terminal(bad.reason, kMaxPrintedBytes),
                                          escape_for_terminal(bad.id, kMaxPrintedBytes)));
      return;
    default: break;
  }
  note_refused_line(fmt::format("line {}: {}", bad.line, escape_for_terminal(bad.reason, kMaxPrintedBytes)));
  JobRecord rec;
  rec.id = bad.id;
  rec.line = bad.line;
  rec.status = JobStatus::invalid;
  rec.request_hash = bad.line_hash;  // a fixed line has another hash: a later run sees the change
  rec.error = JobError{"invalid_line", fmt::format("line {}: {}", bad.line, bad.reason), {}, {}, false};
  record(rec);
}

// The next job that may start now, its start recorded by its model's pacer: jobs are read ahead
// (lookahead_jobs) so that a model waiting on its quota never holds back another model's jobs.
net::awaitable<std::optional<PendingJob>> BatchRun::take_job(Worker& w) {
  const auto start = RunClock::now();
  for (;;) {
    if (stopping_) co_return std::nullopt;
    while (!lookahead_.full() && !manifest_done_) {
      auto job = next_job();
      if (!job) {
        manifest_done_ = true;
        break;
      }
      std::string model = job->model;
      const auto cost = static_cast<unsigned>(job->spec.variants);  // each variant counts as one image
      lookahead_.push(std::move(*job), std::move(model), cost);
    }
    if (lookahead_.empty()) co_return std::nullopt;
    auto taken = lookahead_.take(RunClock::now(), admission_);
    for (const auto& capped : taken.stopped_at_daily_cap) note_daily_cap(capped);
    if (taken.job) {
      metrics_.record(Phase::admission_rate, us_between(start, RunClock::now()));
      co_return std::move(taken.job);
    }
    if (!taken.retry_at) continue;  // every queued job's model is capped: read on
    // Ask again when a model may go, or within a second: an answer meanwhile can free one sooner.
    w.timer.expires_at(std::min(*taken.retry_at, RunClock::now() + std::chrono::seconds(1)));
    co_await w.timer.async_wait(use_tuple);
  }
}

}  // namespace venice_batch
