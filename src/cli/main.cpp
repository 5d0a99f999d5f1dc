// venice-batch: the command line. Parses options (CLI11), layers them over the
// config, and hands over to the library. Nothing here that a test needs.
#include <csignal>
#include <fcntl.h>
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "venice_batch/bench.hpp"
#include "venice_batch/config.hpp"
#include "venice_batch/report.hpp"
#include "venice_batch/run.hpp"

namespace vb = venice_batch;

namespace {

constexpr const char* kExitStatuses =
    "Exit status:\n"
    "  0    every job succeeded (or was already done in an earlier run)\n"
    "  1    some jobs failed, were invalid or hit the content policy (see results.jsonl)\n"
    "  2    usage or configuration error (no key, unreadable manifest, unwritable out dir, another run\n"
    "       on the same out dir, wrong host, certificate or base path found by the start-up check); nothing sent\n"
    "  3    run stopped early: key refused (401), balance exhausted (402), certificate refused mid-run,\n"
    "       the API unreachable for longer than max_outage_s, the out dir became unwritable\n"
    "       (disk full), or an internal error; run the same command again to resume\n"
    "  130  interrupted by SIGINT;  143  terminated by SIGTERM (resumable)\n";

// "90s", "5m", "1h", "250ms", or a plain number of seconds.
std::chrono::milliseconds parse_duration(const std::string& text) {
  std::size_t used = 0;
  double v = std::stod(text, &used);
  std::string unit = text.substr(used);
  double ms;
  if (unit.empty() || unit == "s") ms = v * 1000;
  else if (unit == "ms") ms = v;
  else if (unit == "m") ms = v * 60000;
  else if (unit == "h") ms = v * 3600000;
  else throw std::invalid_argument("unknown unit '" + unit + "' (use ms, s, m or h)");
  if (!(ms >= 0)) throw std::invalid_argument("negative duration");
  return std::chrono::milliseconds(static_cast<long long>(ms));
}

// "20", "20/s", "120/m": requests per second.
double parse_rate(const std::string& text) {
  std::size_t used = 0;
  double v = std::stod(text, &used);
  std::string unit = text.substr(used);
  if (unit.empty() || unit == "/s") return v;
  if (unit == "/m" || unit == "/min") return v / 60.0;
  throw std::invalid_argument("unknown rate unit '" + unit + "' (use /s or /m)");
}

}  // namespace

int main(int argc, char** argv) {
  // A closed stdin, stdout or stderr (`2>&-`) would hand its number to the first file the run
  // opens (the out-dir lock), and the log would be written into it: keep 0-2 taken.
  for (int fd = 0; fd <= 2; ++fd)
    if (::fcntl(fd, F_GETFD) == -1 && ::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) == -1) return 3;
  // A file-size limit must surface as a write error (EFBIG) that stops the run cleanly, like a
  // full disk (ENOSPC), not as a signal that kills it between an image and its journal line.
  std::signal(SIGXFSZ, SIG_IGN);
  // `venice-batch run ... 2>&1 | head`: a closed pipe must not kill the run (EPIPE is an error
  // value on the write instead, and the log stream just stops printing).
  std::signal(SIGPIPE, SIG_IGN);
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
  run_cmd->add_option("--base-url", base_url, "API root, https (env VENICE_BASE_URL; default: config base_url)");
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
  run_cmd->add_flag("--report", run.write_report, "Write <out>/report.html at the end of the run");
  run_cmd->footer(kExitStatuses);

  vb::BenchOptions bench;
  std::string bench_duration, bench_rate, bench_warmup = "0s", bench_out, bench_json, bench_config, bench_manifest;
  std::uint64_t bench_requests = 0;
  unsigned bench_concurrency = 0;
  std::string bench_base_url, bench_ca;
  double bench_timeout = 0;
  auto* bench_cmd = app.add_subcommand(
      "bench", "Load-test the API (or the emulator): closed loop (--concurrency) or open loop (--rate), jobs cycling through the manifest");
  bench_cmd->add_option("--manifest", bench_manifest, "JSONL manifest whose jobs are sent in turn")
      ->required()
      ->check(CLI::ExistingFile);
  auto* dur = bench_cmd->add_option("--duration", bench_duration, "How long to measure: 60s, 5m, ...");
  auto* req = bench_cmd->add_option("--requests", bench_requests, "How many requests to measure");
  dur->excludes(req);
  auto* conc = bench_cmd->add_option("--concurrency", bench_concurrency, "Closed loop: requests in flight")
                   ->check(CLI::Range(1u, 4096u));
  auto* rate = bench_cmd->add_option("--rate", bench_rate,
                                     "Open loop: constant arrival rate, R/s or R/m; latency counts from each request's intended start");
  conc->excludes(rate);
  bench_cmd->add_option("--warmup", bench_warmup, "Requests finishing within this time are not measured (default 0s)");
  bench_cmd->add_flag("--discard-images", bench.discard_images, "Decode and check images but write none");
  bench_cmd->add_option("--out", bench_out, "Directory for the images (unless --discard-images)");
  bench_cmd->add_option("--json", bench_json, "Also write the results as JSON to this file");
  bench_cmd->add_option("--config", bench_config, "JSON config overlaid on the built-in one")->check(CLI::ExistingFile);
  bench_cmd->add_option("--base-url", bench_base_url, "API root (env VENICE_BASE_URL)");
  bench_cmd->add_option("--ca-file", bench_ca, "Extra trusted CA certificate (PEM)")->check(CLI::ExistingFile);
  bench_cmd->add_option("--timeout", bench_timeout, "Whole-request timeout in seconds")->check(CLI::PositiveNumber);

  std::string report_dir;
  auto* report_cmd = app.add_subcommand(
      "report", "Write OUTDIR/report.html: summary, latency per phase, throughput over time, image gallery, failures");
  report_cmd->add_option("OUTDIR", report_dir, "The out dir of a run")->required()->check(CLI::ExistingDirectory);

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
    if (report_cmd->parsed()) {
      std::string why;
      auto path = vb::write_report(report_dir, &why);
      if (!path) {
        std::cerr << "venice-batch: " << why << "\n";
        return vb::exit_usage;
      }
      std::cout << path->string() << "\n";
      return vb::exit_ok;
    }
    if (bench_cmd->parsed()) {
      bench.config = vb::load_config(bench_config);
      if (bench_cmd->count("--base-url")) bench.config.base_url = bench_base_url;
      if (bench_cmd->count("--ca-file")) bench.config.ca_file = bench_ca;
      if (bench_cmd->count("--timeout"))
        bench.config.request_timeout = std::chrono::milliseconds(static_cast<long long>(bench_timeout * 1000));
      bench.manifest = bench_manifest;
      bench.out_dir = bench_out;
      bench.json_file = bench_json;
      bench.concurrency = bench_concurrency;
      try {
        if (!bench_duration.empty()) bench.duration = parse_duration(bench_duration);
        if (bench_cmd->count("--requests")) bench.requests = bench_requests;
        if (!bench_rate.empty()) bench.rate_per_second = parse_rate(bench_rate);
        bench.warmup = parse_duration(bench_warmup);
      } catch (const std::exception& e) {
        throw vb::ConfigError(std::string("bench: ") + e.what());
      }
      if (const char* key = std::getenv("VENICE_API_KEY")) bench.api_key = key;
      return vb::run_bench(bench, std::cout);
    }
  } catch (const vb::ConfigError& e) {
    std::cerr << "venice-batch: " << e.what() << "\n";
    return vb::exit_usage;
  } catch (const std::exception& e) {
    std::cerr << "venice-batch: internal error: " << e.what() << "\n";
    return vb::exit_stopped;
  }
  return vb::exit_usage;
}
