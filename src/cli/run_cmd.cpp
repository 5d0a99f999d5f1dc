// `venice-batch run`: the options of a batch run, layered over the config (command line >
// environment > --config FILE > built-in), then run_batch.
#include <iostream>
#include <limits>
#include <memory>

#include "commands.hpp"
#include "venice_batch/run.hpp"

namespace venice_batch::cli {
namespace {

struct RunCommandState {
  RunOptions run;
  ConnectionOptions connection;
  std::string manifest, out_dir, catalog_file;
  unsigned concurrency = 0, burst = 0, max_attempts = 0, lookahead = 0;
  double rpm = -1, grace_s = -1, max_spend = 0, min_balance = 0;
  bool no_catalog = false, no_compression = false;
  std::optional<SidecarKinds> sidecars;
  std::string layout, flagged_images;
  std::uint64_t shard_size = 0;
  double shard_max_mb = -1;
  unsigned regenerate_flagged = 0;
  bool no_embed_metadata = false;
};

void add_dataset_options(CLI::App* cmd, RunCommandState& s) {
  cmd->add_option("--layout", s.layout,
                  "files (images/<hash>/, the default), webdataset (tar shards) or imagefolder (Hugging Face "
                  "metadata.jsonl); fixed for an out dir by its first run (config `layout`)")
      ->check(CLI::IsMember({"files", "webdataset", "imagefolder"}));
  cmd->add_option("--shard-size", s.shard_size, "webdataset: samples per shard (config `shard_size`, 10000)")
      ->transform(kWholeNumber)
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100000000}).description(""))
      ->type_name("N");
  cmd->add_option("--shard-max-mb", s.shard_max_mb, "webdataset: close a shard before it passes MB; 0 = no cap")
      ->check(CLI::Range(0.0, 1e9))
      ->check(kFiniteNumber)
      ->type_name("MB");
  cmd->add_flag("--no-embed-metadata", s.no_embed_metadata,
                "Do not write the prompt, model, seed... inside the image files (config `embed_metadata`)");
  cmd->add_option("--regenerate-flagged", s.regenerate_flagged,
                  "Ask again, with a new seed, up to N times for a blurred or content-violation answer (each "
                  "try of a blurred image is paid; config `regenerate_flagged`)")
      ->transform(kWholeNumber)
      ->check(CLI::Range(0u, 10u))
      ->type_name("N");
  cmd->add_option("--flagged-images", s.flagged_images,
                  "keep (in flagged/, never in the dataset) or discard flagged images (config `flagged_images`)")
      ->check(CLI::IsMember({"keep", "discard"}));
}

void add_pacing_options(CLI::App* cmd, RunCommandState& s) {
  cmd->add_option("--concurrency", s.concurrency, "Requests in flight (env VENICE_CONCURRENCY)")
      ->transform(kWholeNumber)
      ->check(CLI::Range(1u, 4096u));
  cmd->add_option("--rpm", s.rpm, "Requests per minute cap; 0 = follow the API's headers (env VENICE_RPM)")
      ->check(kNonNegativeNumber);
  cmd->add_option("--burst", s.burst, "Requests that may start back to back")->transform(kWholeNumber)
      ->check(CLI::Range(1u, 100000u));
  cmd->add_option("--max-attempts", s.max_attempts, "Attempts per job, first included")->transform(kWholeNumber)
      ->check(CLI::Range(1u, 100u));
  cmd->add_option("--grace", s.grace_s, "Seconds requests in flight may finish after SIGINT/SIGTERM")
      ->check(kNonNegativeNumber);
  cmd->add_option("--lookahead", s.lookahead,
                  "Jobs read ahead, so a model waiting on its rate limit never holds back another model's jobs")
      ->transform(kWholeNumber)
      ->check(CLI::Range(1u, 100000u))
      ->type_name("N");
  cmd->add_flag("--no-compression", s.no_compression, "Do not ask for compressed (gzip, br) JSON answers");
}

void add_catalog_and_spend_options(CLI::App* cmd, RunCommandState& s) {
  auto* catalog = cmd->add_option("--catalog", s.catalog_file,
                                  "A saved catalog.json (from an earlier run's out dir) instead of fetching the catalog")
                      ->check(CLI::ExistingFile);
  auto* no_catalog = cmd->add_flag("--no-catalog", s.no_catalog,
                                   "Do not fetch the model catalog: lines are checked against the generic spec only");
  catalog->excludes(no_catalog);
  cmd->add_option("--max-spend", s.max_spend,
                  "Stop (exit 4) before the run's spend at catalog prices (finished, in flight, unknown outcome) "
                  "could pass USD; jobs without a price are refused (more than 0: omit it for no cap)")
      ->check(kPositiveNumber)
      ->type_name("USD");
  cmd->add_option("--min-balance", s.min_balance,
                  "Stop (exit 4) before the balance the API reports (x-venice-balance-usd) would fall below USD")
      ->check(kNonNegativeNumber)
      ->type_name("USD");
  cmd->add_option("--limit", s.run.limit, "Send only the first N pending jobs (a trial before the night)")
      ->transform(kWholeNumber)
      ->check(CLI::Range(std::uint64_t{1}, std::numeric_limits<std::uint64_t>::max()).description(""))
      ->type_name("N");
}

void apply_options(const CLI::App* cmd, RunCommandState& s) {
  Config& c = s.run.config;
  c = s.connection.load(cmd);
  if (cmd->count("--concurrency")) c.concurrency = s.concurrency;
  if (cmd->count("--rpm")) c.requests_per_minute = s.rpm;
  if (cmd->count("--burst")) c.burst = s.burst;
  if (cmd->count("--max-attempts")) c.retry.max_attempts = s.max_attempts;
  if (cmd->count("--grace")) c.grace_period = std::chrono::milliseconds(static_cast<long long>(s.grace_s * 1000));
  if (cmd->count("--lookahead")) c.lookahead_jobs = s.lookahead;
  if (s.no_compression) c.compressed_responses = false;
  if (s.sidecars) c.sidecars = *s.sidecars;
  if (!s.layout.empty()) c.layout.kind = *parse_layout_kind(s.layout);
  if (cmd->count("--shard-size")) c.layout.shard_samples = s.shard_size;
  if (cmd->count("--shard-max-mb")) c.layout.shard_bytes = static_cast<std::uint64_t>(s.shard_max_mb * 1048576.0);
  if (s.no_embed_metadata) c.embed_metadata = false;
  if (cmd->count("--regenerate-flagged")) c.regenerate_flagged = s.regenerate_flagged;
  if (!s.flagged_images.empty()) c.keep_flagged_images = s.flagged_images == "keep";
  if (cmd->count("--catalog")) c.catalog_file = s.catalog_file;
  if (s.no_catalog) {
    c.fetch_catalog = false;
    c.catalog_file.clear();
  }
  if (cmd->count("--max-spend")) c.max_spend_usd = s.max_spend;
  if (cmd->count("--min-balance")) c.min_balance_usd = s.min_balance;
  s.run.manifest = s.manifest;
  s.run.out_dir = s.out_dir;
  s.run.api_key = api_key_from_env();
}

}  // namespace

Command add_run_command(CLI::App& app) {
  auto s = std::make_shared<RunCommandState>();
  auto* cmd = app.add_subcommand("run", "Run (or resume) a batch: every job of the manifest to images in the out dir");
  cmd->add_option("--manifest", s->manifest, "JSONL manifest: one request object per line (optional \"id\")")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", s->out_dir, "Output directory: images/, results.jsonl, metrics (created if missing)")
      ->required();
  s->connection.add_to(cmd);
  add_pacing_options(cmd, *s);
  add_catalog_and_spend_options(cmd, *s);
  add_dataset_options(cmd, *s);
  cmd->add_flag("--retry-failed", s->run.retry_failed, "Also retry jobs that failed for good in an earlier run");
  cmd->add_flag("--quiet,-q", s->run.quiet, "Print only errors and the final summary");
  cmd->add_flag("--report", s->run.write_report, "Write <out>/report.html at the end of the run");
  cmd->add_option_function<std::string>(
         "--sidecars",
         [s](const std::string& list) {
           s->sidecars = parse_sidecar_kinds(list);
           if (!s->sidecars) throw CLI::ValidationError("--sidecars", "must list txt and/or json (txt,json) or none");
         },
         "Write <id>_<k>.txt (the prompt) and/or <id>_<k>.json (request, answer, metadata) next to each image: "
         "txt, json, txt,json or none (config `sidecars`)")
      ->type_name("LIST");
  cmd->add_option_function<std::string>(
         "--results-format", [s](const std::string& f) { s->run.openai_batch_results = f == "openai-batch"; },
         "jsonl (results.jsonl only, the default) or openai-batch (also <out>/batch_output.jsonl and "
         "batch_errors.jsonl, as the OpenAI Batch API writes them, with image paths)")
      ->check(CLI::IsMember({"jsonl", "openai-batch"}));
  cmd->footer(kExitStatuses);
  return {cmd, [s, cmd] {
            apply_options(cmd, *s);
            return run_batch(s->run, std::cerr);
          }};
}

}  // namespace venice_batch::cli
