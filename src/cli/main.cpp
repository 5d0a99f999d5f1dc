// venice-batch: the command line. Parses options (CLI11), layers them over the
// config, and hands over to the library. Nothing here that a test needs.
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "venice_batch/config.hpp"
#include "venice_batch/run.hpp"

namespace vb = venice_batch;

namespace {

constexpr const char* kExitStatuses =
    "Exit status:\n"
    "  0    every job succeeded (or was already done in an earlier run)\n"
    "  1    some jobs failed, were invalid or hit the content policy (see results.jsonl)\n"
    "  2    usage or configuration error (no key, unreadable manifest, unwritable out dir); nothing sent\n"
    "  3    run stopped early: key refused (401), balance exhausted (402), certificate refused,\n"
    "       or the out dir became unwritable (disk full); run the same command again to resume\n"
    "  130  interrupted by SIGINT;  143  terminated by SIGTERM (resumable)\n";

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"venice-batch: turns a JSONL manifest of prompts into images with Venice's image API.\n"
               "The API key is read from VENICE_API_KEY and is never printed or written anywhere."};
  app.set_version_flag("--version", std::string("venice-batch ") + VENICE_BATCH_VERSION);
  app.require_subcommand(1);
  app.footer(kExitStatuses);

  vb::RunOptions run;
  std::string config_file, base_url, ca_file, manifest, out_dir;
  unsigned concurrency = 0, burst = 0, max_attempts = 0;
  double rpm = -1, timeout_s = 0, grace_s = -1;

  auto* run_cmd = app.add_subcommand("run", "Run (or resume) a batch: every job of the manifest to images in the out dir");
  run_cmd->add_option("--manifest", manifest, "JSONL manifest: one request object per line (optional \"id\")")
      ->required()
      ->check(CLI::ExistingFile);
  run_cmd->add_option("--out", out_dir, "Output directory: images/, results.jsonl, metrics (created if missing)")
      ->required();
  run_cmd->add_option("--config", config_file, "JSON config overlaid on the built-in config/default.json")
      ->check(CLI::ExistingFile);
  run_cmd->add_option("--base-url", base_url, "API root (env VENICE_BASE_URL; default https://api.venice.ai/api/v1)");
  run_cmd->add_option("--concurrency", concurrency, "Requests in flight (env VENICE_CONCURRENCY)")
      ->check(CLI::Range(1u, 4096u));
  run_cmd->add_option("--rpm", rpm, "Requests per minute cap; 0 = follow the API's headers (env VENICE_RPM)")
      ->check(CLI::NonNegativeNumber);
  run_cmd->add_option("--burst", burst, "Requests that may start back to back")->check(CLI::Range(1u, 100000u));
  run_cmd->add_option("--ca-file", ca_file, "Extra trusted CA certificate (PEM), e.g. the emulator's (env VENICE_CA_FILE)")
      ->check(CLI::ExistingFile);
  run_cmd->add_option("--timeout", timeout_s, "Whole-request timeout in seconds (env VENICE_TIMEOUT)")
      ->check(CLI::PositiveNumber);
  run_cmd->add_option("--max-attempts", max_attempts, "Attempts per job, first included")->check(CLI::Range(1u, 100u));
  run_cmd->add_option("--grace", grace_s, "Seconds requests in flight may finish after SIGINT/SIGTERM")
      ->check(CLI::NonNegativeNumber);
  run_cmd->add_flag("--retry-failed", run.retry_failed, "Also retry jobs that failed for good in an earlier run");
  run_cmd->add_flag("--quiet,-q", run.quiet, "Print only errors and the final summary");
  run_cmd->footer(kExitStatuses);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return vb::exit_usage;
  }

  try {
    if (run_cmd->parsed()) {
      run.config = vb::load_config(config_file);
      if (run_cmd->count("--base-url")) run.config.base_url = base_url;
      if (run_cmd->count("--concurrency")) run.config.concurrency = concurrency;
      if (run_cmd->count("--rpm")) run.config.requests_per_minute = rpm;
      if (run_cmd->count("--burst")) run.config.burst = burst;
      if (run_cmd->count("--ca-file")) run.config.ca_file = ca_file;
      if (run_cmd->count("--timeout"))
        run.config.request_timeout = std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000));
      if (run_cmd->count("--max-attempts")) run.config.retry.max_attempts = max_attempts;
      if (run_cmd->count("--grace"))
        run.config.grace_period = std::chrono::milliseconds(static_cast<long long>(grace_s * 1000));
      run.manifest = manifest;
      run.out_dir = out_dir;
      if (const char* key = std::getenv("VENICE_API_KEY")) run.api_key = key;
      return vb::run_batch(run, std::cerr);
    }
  } catch (const vb::ConfigError& e) {
    std::cerr << "venice-batch: " << e.what() << "\n";
    return vb::exit_usage;
  }
  return vb::exit_usage;
}
