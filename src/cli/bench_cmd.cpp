// `venice-batch bench`: load generation against the API or the emulator (bench.hpp).
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "venice_batch/bench.hpp"

namespace venice_batch::cli {
namespace {

struct BenchCommandState {
  BenchOptions bench;
  ConnectionOptions connection;
  std::string duration, rate, warmup = "0s", out, json, manifest;
  std::uint64_t requests = 0;
  unsigned concurrency = 0;
};

int execute(const CLI::App* cmd, BenchCommandState& s) {
  BenchOptions& b = s.bench;
  b.config = s.connection.load(cmd);
  b.manifest = s.manifest;
  b.out_dir = s.out;
  b.json_file = s.json;
  b.concurrency = s.concurrency;
  try {
    if (!s.duration.empty()) b.duration = parse_duration(s.duration);
    if (cmd->count("--requests")) b.requests = s.requests;
    if (!s.rate.empty()) b.rate_per_second = parse_rate(s.rate);
    b.warmup = parse_duration(s.warmup);
  } catch (const std::exception& e) {
    throw ConfigError(std::string("bench: ") + e.what());
  }
  b.api_key = api_key_from_env();
  return run_bench(b, std::cout);
}

}  // namespace

Command add_bench_command(CLI::App& app) {
  auto s = std::make_shared<BenchCommandState>();
  auto* cmd = app.add_subcommand(
      "bench", "Load-test the API (or the emulator): closed loop (--concurrency) or open loop (--rate), jobs cycling through the manifest");
  cmd->add_option("--manifest", s->manifest, "JSONL manifest whose jobs are sent in turn")
      ->required()
      ->check(CLI::ExistingFile);
  auto* dur = cmd->add_option("--duration", s->duration, "How long to measure: 60s, 5m, ...");
  auto* req = cmd->add_option("--requests", s->requests, "How many requests to measure")->transform(kWholeNumber);
  dur->excludes(req);
  auto* conc = cmd->add_option("--concurrency", s->concurrency, "Closed loop: requests in flight")
                   ->transform(kWholeNumber)
                   ->check(CLI::Range(1u, 4096u));
  auto* rate = cmd->add_option("--rate", s->rate,
                               "Open loop: constant arrival rate, R/s or R/m; latency counts from each request's intended start");
  conc->excludes(rate);
  cmd->add_option("--warmup", s->warmup, "Requests finishing within this time are not measured (default 0s)");
  cmd->add_flag("--discard-images", s->bench.discard_images, "Decode and check images but write none");
  cmd->add_option("--out", s->out, "Directory for the images (unless --discard-images)");
  cmd->add_option("--json", s->json, "Also write the results as JSON to this file");
  s->connection.add_to(cmd);
  return {cmd, [s, cmd] { return execute(cmd, *s); }};
}

}  // namespace venice_batch::cli
