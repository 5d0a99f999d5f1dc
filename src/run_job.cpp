// One job, as one straight line: admit -> send -> decode -> decide -> record.
// What each outcome means is the attempt policy's; what to do with a journal
// line is resume's. This file only sequences I/O and keeps the books.
#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "batch_run.hpp"
#include "venice_batch/imagefolder.hpp"
#include "venice_batch/resume.hpp"
#include "venice_batch/text.hpp"

namespace venice_batch {
namespace {
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
}  // namespace

// Keeps the journal line short: the report shows the start of a prompt, the manifest has it whole.
std::string prompt_excerpt(const std::string& prompt) {
  constexpr std::size_t kMax = 300;
  if (prompt.size() <= kMax) return prompt;
  return std::string(truncate_utf8(prompt, kMax)) + "…";
}

net::awaitable<void> BatchRun::worker_loop(Worker& w) {
  for (;;) {
    auto job = co_await take_job(w);
    if (!job) break;
    co_await run_job(w, std::move(*job), RunClock::now());
  }
  finish_worker();
}

// Before a retry: waits out the backoff, then for the job's model. False when the run is
// stopping or the model reached its daily cap.
net::awaitable<bool> BatchRun::admit(Worker& w, JobInProgress& job, const std::string& model, unsigned cost) {
  if (admission_.daily_cap_reached(model)) {  // not after a backoff: a 429 that stopped the model set it
    job.daily_cap = true;
    co_return false;
  }
  if (job.wait.count() > 0) {
    w.timer.expires_after(job.wait);
    co_await w.timer.async_wait(use_tuple);
  }
  const auto start = RunClock::now();
  for (;;) {
    if (stopping_) co_return false;
    notice_new_day();
    const AdmitResult r = admission_.try_start(model, RunClock::now(), cost);
    if (r.kind == AdmitResult::Kind::go) break;
    if (r.kind == AdmitResult::Kind::daily_cap_reached) {
      job.daily_cap = true;
      co_return false;
    }
    w.timer.expires_at(r.until);
    co_await w.timer.async_wait(use_tuple);
  }
  const auto sent_at = RunClock::now();
  metrics_.record(Phase::admission_rate, us_between(start, sent_at));
  job.rec.timing.admission_rate_ms += ms_between(start, sent_at);
  co_return true;
}

net::awaitable<void> BatchRun::run_job(Worker& w, PendingJob pending, RunClock::time_point admitted_at) {
  const JobSpec& spec = pending.spec;
  JobInProgress job;
  job.picked_at = pending.read_at;
  job.started_at = admitted_at;
  job.rec.id = spec.id;
  job.rec.line = spec.line;
  job.rec.request_hash = spec.request_hash;
  job.rec.line_key = spec.line_key;
  job.rec.model = spec.model;
  job.paced_model = pending.model;
  job.rec.prompt = prompt_excerpt(spec.prompt);
  job.rec.metadata = spec.metadata;
  job.rec.warnings = std::move(pending.warnings);
  if (pending.price) job.rec.estimated_price_usd = pending.price->usd;
  job.rec.timing.queued_ms = ms_between(pending.read_at, admitted_at);
  metrics_.record(Phase::admission_concurrency, us_between(pending.read_at, admitted_at));
  const ExpectedImages expected{spec.format, spec.variants, spec.return_binary, spec.size};
  // Views into `pending`, which lives in this frame until the job ends.
  const bool webdataset = layout_.kind == LayoutKind::webdataset;
  // A webdataset sample carries its prompt and record with it: staged beside the image, packed together.
  const SidecarKinds sidecar_kinds = webdataset ? SidecarKinds{true, true} : config_.sidecars;
  SidecarSource sidecars{sidecar_kinds, spec.id, spec.prompt, pending.model, spec.body, spec.metadata,
                               pending.price ? std::optional<double>(pending.price->usd) : std::nullopt};
  const std::string file_prefix = webdataset ? webdataset_key_stem(spec.id) : spec.id;
  if (webdataset) sidecars.key_stem = file_prefix;
  const std::string folder = webdataset ? std::string() : fanout_folder(spec.id, layout_.fanout_digits);
  std::optional<ImageMetadata> embed;
  if (config_.embed_metadata || config_.regenerate_flagged > 0) job.seed = spec.seed;  // recorded with each try
  if (config_.embed_metadata) embed = image_metadata_from_request(spec.body, {});
  StoreTarget target;
  target.file_prefix = file_prefix;
  target.folder = folder;
  target.sink = &sink_;
  target.sidecars = sidecar_kinds.any() ? &sidecars : nullptr;
  target.sidecars_required = webdataset;  // <key>.txt and <key>.json are members of the sample
  target.keep_flagged = config_.keep_flagged_images;
  const auto cost = static_cast<unsigned>(spec.variants);
  std::optional<AttemptDecision> last;
  std::string regenerated_body;  // the line's body with a new seed, once a flagged answer is asked again
  const std::string* body = &spec.body;
  if (pending.regenerating > 0) {
    // An earlier run stopped between two tries of this job: go on with the regeneration it had
    // decided on. The flagged tries it paid for are in its records (and flagged/), never sent again.
    job.regenerations = pending.regenerating;
    ++metrics_.counters().regenerations;
    job.seed = random_seed([this] { return random_unit(); });
    regenerated_body = request_with_seed(spec.body, *job.seed);
    body = &regenerated_body;
  }
  // The first attempt was admitted by take_job; each later one waits for its model again.
  for (bool first = true;; first = false) {
    if (!first) {
      // Not in the loop's condition: GCC 12 evaluates a co_await inside `a || co_await b` even when
      // `a` holds (the first attempt would take a second start from the pacer).
      const bool admitted = co_await admit(w, job, pending.model, cost);
      if (!admitted) break;
    }
    // Before anything is paid for: a file or a link at the job's fan-out folder would fail the
    // write only once the image is bought (and each later run would buy it again).
    if (auto problem = sink_.folder_problem(folder)) {
      stop_run(exit_stopped, fmt::format("{}; nothing was sent for job '{}'", *problem, spec.id));
      break;
    }
    const SpendDecision spend = spend_.reserve(pending.price);
    if (spend.kind == SpendDecision::Kind::refuse_unpriced) {
      if (job.rec.attempts.empty()) record_refused(spec, spend.message);
      break;
    }
    if (spend.kind == SpendDecision::Kind::stop) {
      stop_run(exit_user_limit, spend.message);
      break;
    }
    // After every check that could refuse it: a changed line refused before sending keeps the
    // earlier record and images (README), as an invalid record never undoes an ok one.
    if (first && pending.redoes_ok && !co_await withdraw_earlier_ok(job)) {
      spend_.settle(spend.reservation, Billing::not_billed);  // never sent
      break;  // the journal failed: the run stops
    }
    if (embed) {
      if (job.seed) embed->seed = *job.seed;
      target.embed = &*embed;
    }
    target.regeneration = job.regenerations;
    ++metrics_.counters().in_flight;
    // A POST written on a connection the server had closed is sent again on a fresh one by the
    // pool: the first may have been billed, so each resend takes its own place under the cap.
    std::vector<Reservation> resends;
    auto may_resend = [this, &pending, &resends] {
      const SpendDecision again = spend_.reserve(pending.price);
      if (again.kind != SpendDecision::Kind::go) return false;
      resends.push_back(again.reservation);
      return true;
    };
    HttpClientPool::PostOptions post_options{may_resend};
    post_options.fresh_connection = std::exchange(job.fresh_connection, false);
    post_options.hold_connection = true;  // until its answer's echo is judged: closed before anyone reuses it
    HttpExchange ex = co_await pool_.post("/image/generate", *body, authorization_, std::move(post_options));
    for (const Reservation& r : resends) spend_.settle(r, Billing::unknown);
    --metrics_.counters().in_flight;
    job.between_tries = false;  // this try is under way: its outcome decides from here
    // When this try is over (its images decoded and written), its body buffer serves the next answer.
    struct BodyBack {
      HttpClientPool& pool;
      HttpExchange& ex;
      ~BodyBack() {
        if (ex.response) pool.recycle_body(std::move(ex.response->body));
      }
    } body_back{pool_, ex};
    const auto& t = ex.timings;
    sidecars.request_body = *body;  // with the seed of a regeneration
    sidecars.timings_ms = std::array<double, 6>{t.connect_us / 1000.0, t.tls_us / 1000.0, t.write_us / 1000.0,
                                                t.ttfb_us / 1000.0, t.download_us / 1000.0, t.total_us / 1000.0};
    // An answer that echoes another prompt was another request's (EchoCheck): not kept, its
    // connection never used again and the job sent again on a new one.
    target.echo_check = &echo_check_;
    target.paced_model = pending.model;
    target.sent = RequestEcho{spec.prompt, job.seed ? job.seed : spec.seed,
                              spec.model.empty() ? std::nullopt : std::optional<std::string_view>(spec.model)};
    target.reused_connection = ex.timings.reused_connection;
    StoredResponse stored = co_await store_response(cpu_.get_executor(), ex, expected, &target);
    const bool another_requests = stored.echo.verdict == EchoCheck::Verdict::refuse;
    pool_.release(ex, !another_requests);  // held until now: nobody wrote on it before this verdict
    if (another_requests) job.fresh_connection = true;  // counted in attempt_causes as answer_for_another_request
    for (const auto field : {EchoCheck::Field::prompt, EchoCheck::Field::seed, EchoCheck::Field::model})
      if (stored.echo.turned_off[static_cast<std::size_t>(field)])
        note_warning(fmt::format("the API echoed a {} other than the one sent (job '{}'): its echo is not used to "
                                 "check {} from now on",
                                 to_string(field), spec.id,
                                 field == EchoCheck::Field::seed
                                     ? fmt::format("the seeds of model '{}'", pending.model)
                                     : fmt::format("the {}s of answers", to_string(field))));
    ApiError api;
    if (ex.response && ex.response->status != 200) api = parse_api_error(ex.response->body);
    const AttemptOutcome outcome = attempt_outcome(ex, stored, api, epoch_ms_now());
    last = policy_.decide(outcome, job.attempt, stopping_, RunClock::now());
    settle_spend(job, spend.reservation, ex, *last);
    account(job, pending.model, ex, outcome, *last);
    if (last->step != NextStep::pause) add_attempt(job, ex, stored, api, *last);
    if (last->step == NextStep::pause) continue;  // not an attempt: the pacer holds everyone back
    if (last->step == NextStep::done) {
      const ImageFlag flag = last->content_violation ? ImageFlag::content_violation
                             : stored.blurred        ? ImageFlag::blurred
                                                     : ImageFlag::none;
      note_flag(job, pending, stored, flag);
      const RegenerationDecision again = decide_regeneration(flag, job.regenerations, config_.regenerate_flagged,
                                                             [this] { return random_unit(); });
      if (again.again) {
        ++job.regenerations;
        job.seed = again.seed;
        regenerated_body = request_with_seed(spec.body, again.seed);
        body = &regenerated_body;
        job.wait = std::chrono::milliseconds(0);
        // Until it is sent, the job waits for this regeneration: whatever ends the run before
        // then (a stop, the model's daily cap, the spend cap) records it so, and a later run
        // sends it, never the paid tries again.
        job.between_tries = true;
        if (stopping_) break;
        ++metrics_.counters().regenerations;
        // The tries so far are paid for: a kill from here on must not make a rerun pay for them again.
        if (!record_between_tries(job)) break;
        continue;
      }
    }
    if (last->step != NextStep::retry) break;
    job.wait = last->wait;
    ++job.attempt;
  }
  finish_job(job, last ? &*last : nullptr, *body);
}

// metadata.jsonl's lines of an ok job, one per image, appended before its journal line. A line
// that cannot be written stops the run like the journal would: the dataset must list every image.
bool BatchRun::append_imagefolder_lines(const JobRecord& rec, const std::string& body_sent) {
  ImageMetadata meta = image_metadata_from_request(body_sent, rec.server_id);
  std::string lines;
  unsigned k = 0;
  for (const auto& file : rec.files) lines += imagefolder_line(file.path, rec.id, k++, meta);
  if (auto w = imagefolder_->append_lines(lines); !w) {
    stop_run(exit_stopped, fmt::format("cannot append to metadata.jsonl: {}", w.error().message()));
    return false;
  }
  return true;
}

// A progress record of a job between two tries of --regenerate-flagged: not finished (failed,
// retryable, and not counted as a finished job), "regenerating": the next try. A rerun after a
// kill goes on from there (resume_regeneration); the job's final record replaces it.
bool BatchRun::record_between_tries(const JobInProgress& job) {
  JobRecord progress = job.rec;
  progress.status = JobStatus::failed;
  progress.regenerating = job.regenerations;
  progress.error = JobError{"regenerating",
                            fmt::format("flagged; regeneration {} of at most {} is being sent", job.regenerations,
                                        config_.regenerate_flagged),
                            {}, {}, true};
  progress.timing.total_ms = ms_between(job.started_at, RunClock::now());
  return append_to_journal(progress);
}

namespace {
// On the CPU pool: the journal's line made durable (when asked), and only then the files
// removed. A failed sync removes nothing: its error is reported once (fdatasync), so the
// journal may never hold the line that says the files are gone.
net::awaitable<boost::system::error_code> sync_then_remove(JournalWriter* journal, const OutputSink* sink,
                                                           std::vector<std::string> names) {
  if (journal)
    if (auto synced = journal->sync(); !synced) co_return synced.error();
  sink->remove_images(names);
  co_return boost::system::error_code{};
}
}  // namespace

// A changed line's job, recorded ok for its earlier line, before its first request: the journal
// says first that the job is being done again (failed, retryable, the new line's hash), and only
// then are the earlier images removed. A new image would otherwise replace an earlier one of the
// same name while the journal still said ok for the earlier line: a kill there, and the earlier
// line put back, and the job was skipped as done with the other line's image. When durable, the
// line is synced before any file is removed (off the io thread; only changed lines pay it).
// False when the journal failed: the run is stopped.
net::awaitable<bool> BatchRun::withdraw_earlier_ok(const JobInProgress& job) {
  JobRecord redo = job.rec;
  redo.status = JobStatus::failed;
  redo.error = JobError{"redoing",
                        "its manifest line changed since it was recorded ok: its earlier images were removed and it "
                        "is being done again",
                        {}, {}, true};
  if (!append_to_journal(redo)) co_return false;
  if (layout_.kind == LayoutKind::imagefolder) metadata_superseded_ = true;
  const auto failed = co_await net::co_spawn(
      cpu_.get_executor(),
      sync_then_remove(config_.durable_writes ? journal_.get() : nullptr, &sink_, superseded_files(redo)),
      net::use_awaitable);
  if (failed) {
    stop_run(exit_stopped, fmt::format("cannot sync results.jsonl: {}", failed.message()));
    co_return false;
  }
  co_return true;
}

// One line into results.jsonl; a line that cannot be written stops the run (exit 3).
bool BatchRun::append_to_journal(const JobRecord& rec) {
  auto appended = journal_->append(rec);
  if (!appended) {
    journal_failed_ = true;  // a job's files may be left with no record: the next run sweeps images/
    stop_run(exit_stopped, fmt::format("cannot append to results.jsonl: {}", appended.error().message()));
  }
  return appended.has_value();
}

// A flagged try's record: what the filter did, the seed it was sent with, what it cost.
void BatchRun::note_flag(JobInProgress& job, const PendingJob& pending, const StoredResponse& stored, ImageFlag flag) {
  auto& a = job.rec.attempts.back();
  a.seed = job.seed;
  a.flag = std::string(to_string(flag));
  if (pending.price && flag != ImageFlag::content_violation) a.price_usd = pending.price->usd;  // a 200 is billed
  job.blurred = flag == ImageFlag::blurred;
  if (job.blurred) metrics_.counters().images_blurred += stored.images;  // images, as its name says: not answers
}

// What the attempt cost: a 200 was billed (the images may still have been thrown away), a
// content violation is free, an answer lost after sending may have been billed (counted as spent).
void BatchRun::settle_spend(JobInProgress& job, Reservation reservation, const HttpExchange& ex, const AttemptDecision& d) {
  if (ex.response) {
    if (auto balance = ex.response->header("x-venice-balance-usd")) {
      if (auto usd = parse_decimal(*balance)) {
        std::optional<double> diem;
        if (auto d_header = ex.response->header("x-venice-balance-diem")) diem = parse_decimal(*d_header);
        spend_.observe_balance(*usd, diem);
        job.rec.balance_usd = *usd;
      }
    }
  }
  const auto status = ex.response ? std::optional<int>(ex.response->status) : std::nullopt;
  // Each stale resend was settled under its own reservation: this one is unknown only when this
  // POST's own outcome is (maybe_billed_posts counts the resends too).
  const bool own_outcome_unknown = d.maybe_billed_posts > ex.stale_reconnects;
  spend_.settle(reservation, billing_of_attempt(status, ex.request_sent, d.content_violation, own_outcome_unknown));
}

// The run's books after one attempt: the pacer, the run's counters, the run's stop.
void BatchRun::account(JobInProgress& job, const std::string& model, const HttpExchange& ex,
                       const AttemptOutcome& outcome, const AttemptDecision& d) {
  auto& c = metrics_.counters();
  const auto now = RunClock::now();
  c.bytes_in += ex.bytes_in;
  c.bytes_out += ex.bytes_out;
  c.bytes_wire += ex.body_wire_bytes;
  c.bytes_decoded += ex.body_decoded_bytes;
  ++c.status_counts[ex.response ? ex.response->status : 0];
  record_exchange(metrics_, ex);
  if (d.pacer.kind == PacerFeedback::Kind::unreachable) admission_.on_unreachable(now);
  if (d.pacer.kind == PacerFeedback::Kind::answer)
    admission_.on_answer(model, now, d.pacer.status, outcome.limits, d.pacer.failure_lock, d.pacer.request_sent);
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
  c.retries_maybe_billed += d.maybe_billed_posts;
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
  a.resends = ex.stale_reconnects;
  if (job.regenerations > 0) a.seed = job.seed;  // every try of a regeneration, a retried one too
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
      rec.warnings.insert(rec.warnings.end(), stored.warnings.begin(), stored.warnings.end());
      // A blurred answer's images are kept apart (flagged/), not in the dataset the counts describe.
      (stored.blurred ? c.images_flagged : c.images) += stored.files.size();
      if (!stored.files.empty()) (stored.blurred ? c.image_bytes_flagged : c.image_bytes) += stored.image_bytes;
    }
  }
  if (d.step == NextStep::done) rec.error.reset();
  else rec.error = JobError{d.cause, d.message, api.body_json, api.body_text, d.retryable_later, api.body_truncated};
  rec.attempts.push_back(std::move(a));
}

void BatchRun::finish_job(JobInProgress& job, const AttemptDecision* last, const std::string& body_sent) {
  if (job.counted_retrying) --metrics_.counters().retrying;
  auto& rec = job.rec;
  if (rec.attempts.empty()) return;  // stopped before its first request: nothing to record
  if (job.between_tries) {
    rec.status = JobStatus::failed;
    const std::string why =
        job.daily_cap ? daily_stop_message(rec.model, job.paced_model) : std::string("the run stopped");
    rec.error = JobError{job.daily_cap ? "daily_cap" : "interrupted",
                         fmt::format("{} before regeneration {} was sent; a later run sends it", why, job.regenerations),
                         {}, {}, true};
  } else if (last && last->step == NextStep::done && job.blurred) {
    // Paid for, but not a dataset image: kept apart in flagged/ (or discarded), never recorded ok.
    // Not retried by a later run on its own (each try is paid): --retry-failed asks again.
    rec.status = JobStatus::failed;
    rec.error = JobError{"blurred",
                         fmt::format("the API blurred the image (x-venice-is-blurred), after {} regeneration(s); {}",
                                     job.regenerations,
                                     config_.keep_flagged_images ? fmt::format("kept in {}/", sink_.flagged_name()) : "not kept"),
                         {}, {}, false};
  } else if (last && last->step == NextStep::done) {
    rec.status = last->content_violation ? JobStatus::content_violation : JobStatus::ok;
  } else {
    rec.status = JobStatus::failed;
    if (job.daily_cap)
      rec.error = JobError{"daily_cap", daily_stop_message(rec.model, job.paced_model) + " before a retry", {}, {},
                           true};
    if (!rec.error) rec.error = JobError{"interrupted", "the run stopped before this job finished", {}, {}, true};
    if (stopping_) rec.error->retryable = true;  // a later run does it
  }
  // Stopped between or during regenerations: a later run goes on with this one, not from the line's seed.
  if (rec.status == JobStatus::failed && rec.error && rec.error->retryable) rec.regenerating = job.regenerations;
  rec.timing.total_ms = ms_between(job.started_at, RunClock::now());
  if (rec.status == JobStatus::ok && layout_.kind == LayoutKind::imagefolder && !append_imagefolder_lines(rec, body_sent)) {
    // No line, no ok: an image the dataset does not list would break its loader. Recorded like a
    // failed image write (the disk failed; the run stops; a later run does the job again).
    rec.status = JobStatus::failed;
    rec.error = JobError{"write_failed", "cannot append to metadata.jsonl", {}, {}, true};
  }
  const bool recorded = record(rec);
  if (recorded && rec.status == JobStatus::ok && shards_) add_to_shards(rec);  // only a job recorded ok is packed
  if (recorded) supersede_earlier_images(rec);
}

// Only for the record of a job run from its own line (a duplicate id's invalid record must
// never remove the images of the job it duplicates). An earlier record of the id may have left
// images; a record that is not ok may have left a partial write of its own (one variant written
// before the disk filled): either way images/ keeps only what an ok record names. The removal
// runs on the CPU pool (the run joins it before the dataset is closed).
void BatchRun::supersede_earlier_images(const JobRecord& rec) {
  const bool earlier = previous_.jobs.find(rec.id) != previous_.jobs.end();
  if (!earlier && rec.status == JobStatus::ok) return;  // a first run of the id, recorded ok: nothing else there
  if (earlier && layout_.kind == LayoutKind::imagefolder) metadata_superseded_ = true;
  net::post(cpu_, [sink = &sink_, names = superseded_files(rec)] { sink->remove_images(names); });
}

// Every name job `rec.id` may have in images/ (staging/ for webdataset) that `rec` does not
// hold: its images in each format, variants 0 to kMaxVariants - 1, and their sidecars (a sidecar
// is kept only beside an image of an ok record, when this run writes that kind: an earlier run's
// .txt describes the earlier prompt). flagged/ is never here: nothing there is in the dataset,
// and each image there was paid for.
std::vector<std::string> BatchRun::superseded_files(const JobRecord& rec) const {
  const bool webdataset = layout_.kind == LayoutKind::webdataset;
  const SidecarKinds kinds = webdataset ? SidecarKinds{true, true} : config_.sidecars;
  const std::string folder = webdataset ? std::string() : fanout_folder(rec.id, layout_.fanout_digits);
  const std::string prefix = webdataset ? webdataset_key_stem(rec.id) : rec.id;
  const std::string in = folder.empty() ? "" : folder + "/";
  const bool ok = rec.status == JobStatus::ok;
  std::vector<std::string> names;
  for (unsigned k = 0; k < kMaxVariants; ++k) {
    for (auto format : {ImageFormat::webp, ImageFormat::png, ImageFormat::jpeg}) {
      std::string name = in + image_file_name(prefix, k, format);
      const bool current = ok && std::any_of(rec.files.begin(), rec.files.end(), [&](const FileRecord& f) {
                             return f.path == sink_.images_name() + "/" + name;
                           });
      if (!current) names.push_back(std::move(name));
    }
    const bool variant_kept = ok && k < rec.files.size();
    if (!(variant_kept && kinds.txt)) names.push_back(in + sidecar_file_name(prefix, k, "txt"));
    if (!(variant_kept && kinds.json)) names.push_back(in + sidecar_file_name(prefix, k, "json"));
  }
  return names;
}

bool BatchRun::record(JobRecord& rec) {
  auto& c = metrics_.counters();
  switch (rec.status) {
    case JobStatus::ok: ++c.jobs_ok; break;
    case JobStatus::failed: ++c.jobs_failed; break;
    case JobStatus::invalid: ++c.jobs_invalid; break;
    case JobStatus::content_violation: ++c.jobs_content_violation; break;
  }
  if (rec.error && rec.status != JobStatus::ok) ++c.failure_kinds[rec.error->kind];
  const bool appended = append_to_journal(rec);
  if (rec.status == JobStatus::failed && !options_.quiet && progress_)
    progress_->note(fmt::format("job '{}' failed: {}", rec.id,
                                escape_for_terminal(rec.error ? rec.error->message : "?", kMaxPrintedBytes)));
  if (shards_ && rec.status != JobStatus::ok) shards_->note_failed();
  return appended;
}

}  // namespace venice_batch
