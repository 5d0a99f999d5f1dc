// The run's wiring: stages and decision units built from the config, the
// start-up check, the workers, signals, the ticker and the summary. The job
// itself is in run_job.cpp.
#include "venice_batch/run.hpp"

#include <csignal>
#include <fstream>
#include <iostream>

#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "batch_run.hpp"
#include "venice_batch/catalog_fetch.hpp"
#include "venice_batch/daily_usage.hpp"
#include "venice_batch/imagefolder.hpp"
#include "venice_batch/model_preflight.hpp"
#include "venice_batch/openai_batch.hpp"
#include "venice_batch/resume.hpp"
#include "venice_batch/report.hpp"
#include "venice_batch/text.hpp"

namespace venice_batch {
namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// The timeline's one rate: the models' caps together (what the key may send per minute).
double total_rate(const std::vector<ModelPacingView>& models) {
  double sum = 0;
  for (const auto& m : models) sum += m.rate_per_minute;
  return sum;
}

// "  spend: $1.23 at catalog prices (...); balance $50.00 -> $48.77 (observed $1.23)".
std::string spend_summary(const SpendTotals& t, bool priced) {
  std::string s;
  if (priced && (t.estimated.attempts || t.unpriced_attempts)) {
    s = fmt::format("  spend: {} at catalog prices", format_usd(t.estimated.usd));
    if (t.unknown.attempts)
      s += fmt::format(" ({} of it for {} attempt(s) whose outcome is unknown)", format_usd(t.unknown.usd), t.unknown.attempts);
    if (t.unpriced_attempts) s += fmt::format("; {} attempt(s) without a catalog price", t.unpriced_attempts);
  }
  if (t.balance_first_usd && t.balance_last_usd) {
    s += s.empty() ? "  " : "; ";
    s += fmt::format("balance {} -> {} (observed spend {}, before the last request)", format_usd(*t.balance_first_usd),
                     format_usd(*t.balance_last_usd), format_usd(t.observed_spend_usd.value_or(0)));
  }
  return s.empty() ? s : s + "\n";
}

}  // namespace

BatchRun::BatchRun(const RunOptions& options, std::ostream& log)
    : options_(options),
      config_(options.config),
      log_(log),
      lock_(options.out_dir),
      layout_(settle_layout(options.out_dir, config_.layout, config_.durable_writes)),
      sink_(options.out_dir, config_.durable_writes, layout_.kind == LayoutKind::webdataset ? "staging" : "images"),
      manifest_(std::make_unique<ManifestReader>(options.manifest, manifest_options_from(config_))),
      pool_(io_.get_executor(), HttpEndpoint::from_base_url(config_.base_url), pool_settings_from(config_)),
      admission_(pacing_settings_from(config_), RunClock::now()),
      lookahead_(config_.lookahead_jobs),
      spend_(SpendLimits{config_.max_spend_usd, config_.min_balance_usd}),
      rng_(std::random_device{}()),
      policy_(config_.retry, config_.max_outage,
              [this] { return random_unit(); }),
      grace_timer_(io_),
      ticker_timer_(io_),
      signals_(io_, SIGINT, SIGTERM),
      authorization_("Bearer " + options.api_key) {}

void BatchRun::prepare() {
  if (!config_.catalog_file.empty()) {
    auto sources = load_catalog_sources(config_.catalog_file);
    if (!sources) throw ConfigError(sources.error());
    use_catalog(*sources, {}, false);
    if (!catalog_) throw ConfigError(fmt::format("catalog {}: no usable model list", config_.catalog_file));
  }
  sink_.set_flagged_name(std::string(flagged_folder(layout_.kind)));
  if (config_.keep_flagged_images)
    if (auto problem = sink_.flagged_folder_problem()) throw ConfigError(*problem);
  removed_temp_files_ = sink_.remove_stale_temp_files();
  const auto journal_path = sink_.out_dir() / "results.jsonl";
  previous_ = read_journal(journal_path);
  // A finished job's unchanged line is skipped unparsed (resume_job would skip it anyway).
  manifest_->skip_finished([this](std::string_view id) -> std::optional<ManifestReader::RecordedJob> {
    auto it = previous_.jobs.find(id);
    if (it == previous_.jobs.end()) return std::nullopt;
    JournalState& state = it->second;
    const bool done = resume_job(&state, state.request_hash64, options_.retry_failed) == ResumeAction::skip_done;
    return ManifestReader::RecordedJob{done ? state.line_key64 : 0, &state.manifest_line};
  });
  if (worth_compacting(previous_)) {
    // Most lines are superseded by later ones: rewrite one deciding line per id (atomically: a
    // kill meanwhile leaves the old journal whole), so resume reads less next time.
    if (auto compacted = compact_journal(journal_path); compacted && !options_.quiet)
      log_ << fmt::format("venice-batch: compacted results.jsonl: {} lines to {}\n", compacted->lines_before,
                          compacted->lines_after);
  }
  try {
    journal_ = std::make_unique<JournalWriter>(journal_path);
  } catch (const std::exception& e) {
    throw ConfigError(e.what());  // a directory, a symlink, read-only: the user must fix it
  }
  open_dataset();
  load_daily_usage();
  metrics_.counters().jobs_total = count_manifest_jobs(options_.manifest);
  progress_ = std::make_unique<ProgressPrinter>(log_, options_.quiet, ::isatty(STDERR_FILENO) == 1 && &log_ == &std::cerr,
                                                config_.progress_interval);
  if (!options_.quiet) {
    if (removed_temp_files_)
      log_ << fmt::format("venice-batch: removed {} temp file(s) left by an interrupted run\n", removed_temp_files_);
    if (!previous_.jobs.empty())
      log_ << fmt::format("venice-batch: resuming: {} job(s) already recorded in {}\n", previous_.jobs.size(),
                          journal_path.string());
  }
  // Start a fresh timeline for this run; earlier runs' lines would mislead a plot.
  (void)write_file_atomically(sink_.out_dir() / "timeline.jsonl", "", false);
}

// One cheap request before any job: a mistyped host, a wrong base path or a refused key ends
// the run at once with the reason, instead of pausing all night or failing every job.
// Before the batch: one GET of /api_keys/rate_limits checks the URL and the key (a wrong host or
// key stops here, not after every job failed); the rest of the catalog comes with it.
net::awaitable<void> BatchRun::startup() {
  const bool whole_catalog = config_.fetch_catalog && !catalog_;
  CatalogFetch fetched = co_await fetch_catalog(pool_, authorization_, whole_catalog);
  if (config_.check_api_at_start) {
    const HttpExchange& ex = fetched.rate_limits;
    ApiError api;
    if (ex.response && ex.response->status != 200) api = parse_api_error(ex.response->body);
    const auto verdict =
        judge_startup_check(ex.error, ex.error_message, ex.response ? ex.response->status : 0, api.message);
    if (!verdict.proceed) {
      stop_run(verdict.exit_status, verdict.message);
      co_return;
    }
    if (!verdict.message.empty() && !options_.quiet)
      log_ << "venice-batch: warning: " << escape_for_terminal(verdict.message, kMaxPrintedBytes) << "\n";
  }
  if (whole_catalog) use_catalog(fetched.sources, fetched.problems);
  if (whole_catalog && catalog_) {
    // Saved with the time fetched: `--catalog FILE` reruns or plans against exactly this.
    (void)write_file_atomically(sink_.out_dir() / "catalog.json", catalog_sources_to_json(fetched.sources), false);
  } else if (!fetched.sources.rate_limits.empty()) {
    // The start-up check's limits and balance are today's, with a saved catalog (whose own are as
    // old as the file) and without any (--no-catalog, or none could be had): each model is paced
    // by its stated limits from the first request, not after its first 429, and --min-balance
    // holds from the first request.
    use_account_state(account_state_from(fetched.sources.rate_limits));
  }
}

// Builds the catalog from its parts (fetched or loaded); without one the run checks lines
// against the generic spec only, and a spend cap cannot be kept.
void BatchRun::use_catalog(const CatalogSources& sources, const std::vector<std::string>& problems, bool live) {
  std::vector<std::string> warnings;
  auto built = build_catalog(sources, &warnings);
  if (built) {
    catalog_ = std::move(*built);
    manifest_->set_max_prompt_chars(kLargestPromptLimit);  // each model's own limit is preflight's
    manifest_->set_model_sizes(model_sizes_from(*catalog_));  // OpenAI Batch lines' `size`
    if (live) {
      use_account_state(*catalog_);
    } else {
      for (const auto& [model, limits] : catalog_->rate_limits)
        admission_.set_model_limits(model, limits.rpm, limits.rpd);  // until today's are fetched
    }
  }
  if (options_.quiet) return;
  for (const auto& w : warnings) log_ << "venice-batch: warning: catalog: " << escape_for_terminal(w, kMaxPrintedBytes) << "\n";
  if (!catalog_) {
    log_ << fmt::format("venice-batch: warning: no model catalog ({}): lines are checked against the generic spec "
                        "only, not priced, and paced by the key's stated limits and the API's headers\n",
                        escape_for_terminal(problems.empty() ? (built ? "" : built.error()) : fmt::format("{}", fmt::join(problems, "; ")),
                                            kMaxPrintedBytes));
  }
}

void BatchRun::use_account_state(const Catalog& fetched) {
  // The balance before the first answer: --min-balance can hold from the first request on.
  if (fetched.balance_usd) spend_.observe_balance(*fetched.balance_usd, fetched.balance_diem);
  for (const auto& [model, limits] : fetched.rate_limits) admission_.set_model_limits(model, limits.rpm, limits.rpd);
  if (catalog_ && &*catalog_ != &fetched) {
    catalog_->rate_limits = fetched.rate_limits;
    catalog_->balance_usd = fetched.balance_usd;
    catalog_->balance_diem = fetched.balance_diem;
  }
}

void BatchRun::spawn(net::awaitable<void> task) {
  net::co_spawn(io_, std::move(task), [this](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      stop_run(exit_stopped, fmt::format("internal error: {}", ex.what()));
    }
  });
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
    log_ << "venice-batch: stopping: " << escape_for_terminal(reason, kMaxPrintedBytes) << "\n";
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
      log_ << fmt::format("\nvenice-batch: {}: no new requests; waiting up to {} s for those in flight (SIGINT again "
                          "cancels them now)\n",
                          signo == SIGINT ? "SIGINT" : "SIGTERM", config_.grace_period.count() / 1000);
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

// The day's requests per model, from earlier runs into this out dir (daily_usage.hpp): a model's
// daily cap counts from there. A missing or unreadable file counts nothing.
void BatchRun::load_daily_usage() {
  const auto now = std::chrono::system_clock::now();
  usage_day_ = utc_day(now);
  next_day_at_ = next_utc_day(now);
  std::string text;
  if (read_whole_file(sink_.out_dir() / "daily_usage.json", text) != 0) return;
  for (const auto& [model, requests] : counts_for_day(parse_daily_usage(text), usage_day_))
    admission_.set_started_today(model, requests);
}

// When the UTC day has turned, the daily counts start again, and a model stopped at its cap may
// go: checked before each admission (a comparison of two times) and with each snapshot.
void BatchRun::notice_new_day() {
  const auto now = std::chrono::system_clock::now();
  if (now < next_day_at_) return;
  admission_.start_new_day();
  usage_day_ = utc_day(now);
  next_day_at_ = next_utc_day(now);
}

void BatchRun::save_daily_usage() {
  notice_new_day();
  DailyUsage usage{usage_day_, admission_.started_today()};
  if (usage.requests.empty()) return;
  // Not fatal (the API's own 429s still hold a model), but a later run today would count from
  // less than was sent: say so, once.
  const auto path = sink_.out_dir() / "daily_usage.json";
  if (auto w = write_file_atomically(path, to_json(usage), false); !w && !usage_write_warned_) {
    usage_write_warned_ = true;
    log_ << fmt::format("venice-batch: warning: cannot write {} ({}): a later run today will not count this run's "
                        "requests against the models' daily caps\n",
                        escape_for_terminal(path.string(), kMaxPrintedBytes), w.error().message());
  }
}

void BatchRun::write_snapshots(bool final_snapshot) {
  save_daily_usage();
  const auto now = RunClock::now();
  const std::string pacing = admission_.describe(now);
  auto models = admission_.models(now);
  const double rate = total_rate(models);
  metrics_.set_models(std::move(models));
  metrics_.set_spend(spend_.totals());
  (void)write_file_atomically(sink_.out_dir() / "metrics.json", metrics_.to_json(pacing), false);
  (void)write_file_atomically(sink_.out_dir() / "metrics.prom", metrics_.to_prometheus(), false);
  std::string line = metrics_.next_timeline_line(rate, pacing);
  line.push_back('\n');
  append_text_line(sink_.out_dir() / "timeline.jsonl", line);
  if (final_snapshot) {
    // Its lines before the journal's: see imagefolder.hpp. A failed sync may lose records of
    // images on disk: the next run sweeps them as after a kill (the lock keeps its mark).
    if (imagefolder_ && !imagefolder_->sync()) journal_failed_ = true;
    if (!journal_->sync()) journal_failed_ = true;
  }
}

net::awaitable<void> BatchRun::tick_loop() {
  auto last_snapshot = RunClock::now();
  auto last_sync = RunClock::now();
  while (live_workers_ > 0) {
    ticker_timer_.expires_after(progress_->tick_interval());
    auto [ec] = co_await ticker_timer_.async_wait(use_tuple);
    if (ec || live_workers_ == 0) co_return;
    const auto now = RunClock::now();
    progress_->update(metrics_.counters(), metrics_.elapsed_seconds(), admission_.describe(now));
    if (now - last_snapshot >= config_.metrics_interval) {
      write_snapshots(false);
      last_snapshot = now;
    }
    if (now - last_sync >= std::chrono::seconds(1)) {
      if (imagefolder_) imagefolder_->sync();  // before the journal: no ok line without its metadata line
      journal_->sync();  // bounds what a power cut can lose
      last_sync = now;
    }
  }
}

void BatchRun::print_summary() {
  const auto& c = metrics_.counters();
  const double secs = metrics_.elapsed_seconds();
  const auto& lat = metrics_.histogram(Phase::attempt_total);
  std::string s = fmt::format("venice-batch: {} ok, {} failed, {} invalid", c.jobs_ok, c.jobs_failed, c.jobs_invalid);
  if (c.jobs_content_violation) s += fmt::format(", {} content violations", c.jobs_content_violation);
  if (c.jobs_skipped) s += fmt::format(", {} skipped (done in an earlier run)", c.jobs_skipped);
  s += fmt::format("\n  images: {} written, {:.1f} MB; wall {:.1f} s; {:.1f} images/s\n", c.images,
                   static_cast<double>(c.image_bytes) / 1e6, secs, secs > 0 ? static_cast<double>(c.images) / secs : 0.0);
  if (c.images_flagged)
    s += fmt::format("  flagged: {} blurred images kept apart in {}/, {:.1f} MB\n", c.images_flagged,
                     (sink_.out_dir() / sink_.flagged_name()).string(), static_cast<double>(c.image_bytes_flagged) / 1e6);
  if (lat.count() > 0) {
    s += fmt::format("  latency per request: p50 {:.1f} ms, p90 {:.1f} ms, p99 {:.1f} ms; {} requests, {} retries",
                     lat.value_at_percentile(50) / 1000.0, lat.value_at_percentile(90) / 1000.0,
                     lat.value_at_percentile(99) / 1000.0, c.attempts, c.retries);
    if (c.retries_maybe_billed) s += fmt::format(" ({} may have been billed twice)", c.retries_maybe_billed);
    s += "\n";
  }
  if (stopped_at_daily_cap_)
    s += fmt::format("  {} job(s) not sent: their model reached its daily request cap (resumable)\n", stopped_at_daily_cap_);
  if (waiting_for_regeneration_)
    s += fmt::format("  {} job(s) not sent: they wait for a regeneration beyond --regenerate-flagged {}; "
                     "--regenerate-flagged {} sends them all (resumable)\n",
                     waiting_for_regeneration_, config_.regenerate_flagged, highest_waiting_regeneration_);
  s += spend_summary(spend_.totals(), catalog_.has_value());
  s += fmt::format("  results: {}\n", (sink_.out_dir() / "results.jsonl").string());
  if (shards_) s += fmt::format("  shards:  {}/\n", shards_->shards_dir().string());  // staging/ is emptied as they are packed
  else s += fmt::format("  images:  {}/\n", sink_.images_dir().string());
  log_ << s;
}

// The layout's own files, after the journal is read. imagefolder: metadata.jsonl without the lines
// of jobs the journal does not record ok (a kill between the two appends). webdataset: the shard
// writer's recovery (webdataset.hpp), then the staged samples of jobs recorded ok are packed
// (they were staged, recorded, and the run ended before their shard was complete); a staged
// sample of a job not recorded ok is removed: that job is asked again and staged anew.
void BatchRun::open_dataset() {
  const auto recorded_ok = [this](std::string_view id) {
    auto it = previous_.jobs.find(id);
    return it != previous_.jobs.end() && it->second.status == JobStatus::ok;
  };
  if (layout_.kind != LayoutKind::webdataset && lock_.previous_run_interrupted()) remove_unrecorded_images(recorded_ok);
  if (layout_.kind == LayoutKind::imagefolder) {
    const auto path = sink_.out_dir() / "metadata.jsonl";
    // A line whose image is gone (a changed line's old format, removed once the new one was recorded) goes too.
    const auto kept = [&](std::string_view id, std::string_view file_name) {
      std::error_code ec;
      return recorded_ok(id) && std::filesystem::exists(sink_.out_dir() / file_name, ec);
    };
    auto compacted = compact_imagefolder_metadata(path, kept, config_.durable_writes);
    if (!compacted) throw ConfigError(fmt::format("cannot rewrite {}: {}", path.string(), compacted.error().message()));
    try {
      imagefolder_ = std::make_unique<JournalWriter>(path);
    } catch (const std::exception& e) {
      throw ConfigError(e.what());
    }
  }
  if (layout_.kind == LayoutKind::webdataset) {
    std::string culprit = (sink_.out_dir() / "shards").string();
    auto opened = ShardWriter::open(sink_.out_dir(), ShardLimits{layout_.shard_samples, layout_.shard_bytes},
                                    config_.durable_writes, &culprit);
    if (!opened) throw ConfigError(fmt::format("cannot open {}: {}", culprit, opened.error().message()));
    shards_ = std::move(*opened);
    // Every sample of a shard has its ok line durable before the shard is: see set_before_commit.
    // (shards_ is declared after journal_, so it and its packer thread go first.)
    if (config_.durable_writes) shards_->set_before_commit([this] { return journal_->sync(); });
    std::uint64_t requeued = 0;
    for (auto& sample : shards_->list_staged()) {
      if (recorded_ok(webdataset_id_of(sample.key))) {
        shards_->add(std::move(sample));
        ++requeued;
        continue;
      }
      for (const auto& name : sample.files) {
        std::error_code ignored;
        std::filesystem::remove(shards_->staging_dir() / name, ignored);
      }
    }
    if (requeued && !options_.quiet)
      log_ << fmt::format("venice-batch: {} staged sample(s) of jobs recorded ok go into the next shard\n", requeued);
  }
}

// The last run was killed (or could not write a record): images it wrote for jobs it never
// recorded are in images/ under final names, and no later record would supersede them (the job
// may come back in another format, with fewer variants, or not at all). They go before anything
// else; an image of a job recorded ok stays. (webdataset's staging/ has its own rule above.)
void BatchRun::remove_unrecorded_images(const std::function<bool(std::string_view)>& recorded_ok) {
  const auto names = sink_.image_files_where([&](std::string_view folder, std::string_view file) {
    const auto id = job_id_of_file_name(file);
    return id && !recorded_ok(*id) && folder == fanout_folder(*id, layout_.fanout_digits);
  });
  const std::size_t removed = sink_.remove_images(names);
  if (removed && !options_.quiet)
    log_ << fmt::format("venice-batch: the last run was interrupted: removed {} file(s) in {}/ that no record names\n",
                        removed, sink_.images_dir().string());
}

// A job recorded ok: its staged sample (image, .txt, .json per variant) goes into the current shard.
void BatchRun::add_to_shards(const JobRecord& rec) {
  const std::string prefix = sink_.images_name() + "/";
  unsigned k = 0;
  for (const auto& file : rec.files) {
    StagedSample sample;
    sample.key = webdataset_key_stem(rec.id) + "_" + std::to_string(k++);
    const std::string image = file.path.substr(prefix.size());
    sample.files = {image};
    for (const char* ext : {".txt", ".json"}) {  // written before the job was recorded (an older run's may lack them)
      std::error_code ec;
      if (std::filesystem::exists(shards_->staging_dir() / (sample.key + ext), ec)) sample.files.push_back(sample.key + ext);
    }
    sample.bytes = file.bytes;
    shards_->add(std::move(sample));
  }
}

// The last shard of the run is packed (smaller than shard_size); metadata.jsonl keeps one line per
// image. A failure here leaves every recorded job recorded: the next run packs what is staged.
int BatchRun::close_dataset() {
  if (imagefolder_ && metadata_superseded_) {
    // A job redone in this run appended its lines after its earlier ones (one file name twice),
    // or ended without an image and its earlier lines name an image now removed: the file is
    // rewritten as the next run's start would, so the dataset a user loads now is already right.
    if (auto synced = imagefolder_->sync(); !synced) {
      log_ << fmt::format("venice-batch: error: cannot sync metadata.jsonl: {}\n", synced.error().message());
      return exit_stopped;
    }
    imagefolder_.reset();
    const auto path = sink_.out_dir() / "metadata.jsonl";
    const auto exists = [&](std::string_view, std::string_view file_name) {
      std::error_code ec;
      return std::filesystem::exists(sink_.out_dir() / file_name, ec);
    };
    if (auto compacted = compact_imagefolder_metadata(path, exists, config_.durable_writes); !compacted) {
      log_ << fmt::format("venice-batch: error: cannot rewrite {} ({}); the next run does\n", path.string(),
                          compacted.error().message());
      return exit_stopped;
    }
  }
  if (shards_) {
    if (auto closed = shards_->close(); !closed) {
      log_ << fmt::format("venice-batch: error: shards not complete ({}); the next run packs the staged samples\n",
                          closed.error().message());
      return exit_stopped;
    }
  }
  return 0;
}

int BatchRun::execute() {
  if (config_.check_api_at_start || (config_.fetch_catalog && !catalog_)) {
    spawn(startup());  // a signal meanwhile waits in the signal set for the loop below
    io_.run();
    io_.restart();
  }
  if (stop_status_ == 0 && config_.min_balance_usd > 0 && !spend_.totals().balance_last_usd && !options_.quiet)
    log_ << "venice-batch: warning: --min-balance: the start-up check gave no balance; it holds from the first "
            "answer's x-venice-balance-usd on\n";
  if (stop_status_ == 0 && config_.max_spend_usd > 0 && !catalog_)
    stop_run(exit_usage, "--max-spend needs the catalog's prices, and there is no catalog (see above; "
                         "--catalog FILE uses a saved one)");
  if (stop_status_ == 0) {
    lock_.mark_writing();  // a kill from here on may leave images without a record
    const unsigned n = config_.concurrency;
    live_workers_ = n;
    // The signal and tick loops first: if every job is already done the workers finish at
    // once, and their end must find those loops' waits pending to cancel them.
    spawn(signal_loop());
    spawn(tick_loop());
    for (unsigned i = 0; i < n; ++i) {
      workers_.push_back(std::make_unique<Worker>(io_));
      spawn(worker_loop(*workers_.back()));
    }
    io_.run();
  }
  cpu_.join();
  const int dataset_status = close_dataset();

  write_snapshots(true);
  progress_->finish();
  if (options_.write_report) {
    std::string why;
    if (auto report = write_report(sink_.out_dir(), &why)) log_ << "venice-batch: report: " << report->string() << "\n";
    else log_ << "venice-batch: no report: " << why << "\n";
  }
  int batch_status = 0;
  if (options_.openai_batch_results) {
    if (auto written = write_openai_batch_results(sink_.out_dir())) {
      if (!options_.quiet)
        log_ << fmt::format("venice-batch: OpenAI Batch results: {} in batch_output.jsonl, {} in batch_errors.jsonl\n",
                            written->output_lines, written->error_lines);
    } else {
      log_ << "venice-batch: error: " << written.error() << "\n";
      batch_status = exit_stopped;  // a script waiting for these files must not see success
    }
  }
  print_summary();
  if (!journal_failed_) lock_.mark_ended();  // every file written is recorded or was removed
  if (stop_status_ != 0) return stop_status_;
  if (dataset_status != 0) return dataset_status;
  if (signal_status_ != 0) return signal_status_;
  if (limit_status_ != 0) return limit_status_;
  if (batch_status != 0) return batch_status;
  const auto& c = metrics_.counters();
  if (c.jobs_failed || c.jobs_invalid || c.jobs_content_violation || skipped_failed_) return exit_some_failed;
  return exit_ok;
}

}  // namespace venice_batch

namespace venice_batch {
namespace {

// Each request holds a socket, and each image a file while it is written: raise the soft limit
// on open files to the hard one (as servers do), and if that is still short, run fewer requests
// at once rather than pay for answers that cannot be stored.
void fit_concurrency_to_file_limit(Config& config, std::ostream& log) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  constexpr rlim_t kReserve = 64;  // journal, metrics, the decode threads' files, stdio
  constexpr rlim_t kPerRequest = 2;  // its socket and the image file being written
  if (lim.rlim_cur == RLIM_INFINITY || config.concurrency * kPerRequest + kReserve <= lim.rlim_cur) return;
  if (lim.rlim_cur < kReserve + kPerRequest)
    throw ConfigError(fmt::format("the open-file limit ({}) is too low to run at all; raise it with ulimit -n",
                                  lim.rlim_cur));
  const auto fits = static_cast<unsigned>((lim.rlim_cur - kReserve) / kPerRequest);
  log << fmt::format("venice-batch: warning: concurrency {} needs more open files than the limit ({}) allows; "
                     "using {} (raise it with ulimit -n)\n", config.concurrency, lim.rlim_cur, fits);
  config.concurrency = fits;
}

}  // namespace

int run_batch(const RunOptions& given, std::ostream& log) {
  RunOptions options = given;
  check_api_key(options.api_key);
  validate_config(options.config);
  {
    std::ifstream probe(options.manifest);
    if (!probe) throw ConfigError(fmt::format("cannot read manifest '{}'", options.manifest.string()));
  }
  fit_concurrency_to_file_limit(options.config, log);
  std::unique_ptr<BatchRun> run;
  try {
    run = std::make_unique<BatchRun>(options, log);
    run->prepare();
  } catch (const ConfigError&) {
    throw;
  } catch (const std::exception& e) {
    throw ConfigError(e.what());  // unwritable out dir, bad CA file, bad defaults
  }
  return run->execute();
}

}  // namespace venice_batch
