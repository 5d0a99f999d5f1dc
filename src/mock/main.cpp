// venice-mock: the bundled emulator of Venice's image API, for the demo, tests and benchmarks.
// Prints one line, "venice-mock listening on https://127.0.0.1:PORT ca=/path/cert.pem", then
// serves until SIGINT or SIGTERM.
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "venice_batch/mock_server.hpp"

namespace vb = venice_batch;

int main(int argc, char** argv) {
  CLI::App app{
      "venice-mock: an HTTPS emulator of Venice's POST /api/v1/image/generate and GET /api/v1/api_keys/rate_limits "
      "on loopback"};
  vb::MockOptions o;
  if (const char* key = std::getenv("VENICE_MOCK_API_KEY")) o.api_key = key;
  std::string latency = "0", cert_dir, cert_file, key_file, schedule;
  std::vector<std::string> hosts, models;
  auto& f = o.faults;
  unsigned stall_s = 300;
  double reset_429_s = 1;
  app.add_option("--port", o.port, "Port to listen on (0: an ephemeral one)");
  app.add_option("--bind", o.bind_address, "Address to listen on")->capture_default_str();
  app.add_option("--api-key", o.api_key, "The only Bearer token accepted (env VENICE_MOCK_API_KEY; default mock-key)");
  app.add_option("--cert-dir", cert_dir, "Where the generated cert.pem/key.pem go (default: a fresh temp dir)");
  app.add_option("--cert-file", cert_file, "Serve this certificate (PEM) instead of generating one")->check(CLI::ExistingFile);
  app.add_option("--key-file", key_file, "Private key of --cert-file")->check(CLI::ExistingFile);
  app.add_option("--cert-host", hosts, "Names/IPs the generated certificate is valid for (repeatable; default localhost, 127.0.0.1)");
  app.add_option("--latency-ms", latency, "Added latency per generate request: \"50\" or a range \"20-80\"");
  app.add_option("--threads", o.threads, "io threads (each connection runs on its own strand)")
      ->check(CLI::Range(1u, 64u));
  app.add_option("--model", models,
                 "A model GET /api_keys/rate_limits lists (repeatable; default z-image-turbo, venice-sd35; "
                 "generate accepts any)");
  app.add_flag("--track-prompts", o.track_prompts, "Count requests per prompt (GET /__mock/stats)");
  auto* faults = app.add_option_group("faults", "Fault injection (probabilities 0..1, or a schedule by request number)");
  faults->add_option("--fault-schedule", schedule,
                     "Faults for requests 1, 2, ...: e.g. \"ok,500,429x3,close\" (ok 429 500 503 close short stall "
                     "invalid_json invalid_base64 401 402 lock)");
  faults->add_option("--p-429", f.p_429, "Probability of a 429 with rate-limit headers");
  faults->add_option("--p-500", f.p_500, "Probability of a 500");
  faults->add_option("--p-503", f.p_503, "Probability of a 503");
  faults->add_option("--p-close", f.p_close, "Probability of closing the connection mid-body");
  faults->add_option("--p-short", f.p_short, "Probability of a body shorter than its Content-Length");
  faults->add_option("--p-stall", f.p_stall, "Probability of never answering (see --stall-s)");
  faults->add_option("--p-invalid-json", f.p_invalid_json, "Probability of a 200 with invalid JSON");
  faults->add_option("--p-invalid-base64", f.p_invalid_base64, "Probability of a 200 with invalid base64");
  faults->add_option("--p-401", f.p_401, "Probability of a 401");
  faults->add_option("--p-402", f.p_402, "Probability of a 402");
  faults->add_option("--stall-s", stall_s, "How long a stalled request hangs");
  faults->add_option("--reset-429-s", reset_429_s, "Reset time stated by an injected 429");
  faults->add_option("--rpm", f.requests_per_minute, "Enforce a real per-minute request limit like the API's (0: off)");
  faults->add_flag("--failure-lock", f.failure_lock, "Lock for 30 s after more than 20 failed requests in 30 s, like the API");
  CLI11_PARSE(app, argc, argv);

  try {
    auto dash = latency.find('-');
    o.latency_min = std::chrono::milliseconds(std::stoll(latency.substr(0, dash)));
    o.latency_max = dash == std::string::npos ? o.latency_min : std::chrono::milliseconds(std::stoll(latency.substr(dash + 1)));
    if (!schedule.empty()) f.schedule = vb::parse_fault_schedule(schedule);
  } catch (const std::exception& e) {
    fmt::print(stderr, "venice-mock: {}\n", e.what());
    return 2;
  }
  f.stall = std::chrono::seconds(stall_s);
  f.reset_after_429 = std::chrono::milliseconds(static_cast<long long>(reset_429_s * 1000));
  o.cert_dir = cert_dir;
  o.cert_file = cert_file;
  o.key_file = key_file;
  if (!hosts.empty()) o.cert_hosts = hosts;
  if (!models.empty()) o.models = models;

  // Block the signals before any thread starts, then wait for one synchronously.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  vb::MockServer server(o);
  try {
    server.start();
  } catch (const std::exception& e) {
    fmt::print(stderr, "venice-mock: cannot start: {}\n", e.what());
    return 1;
  }
  fmt::print("venice-mock listening on https://{}:{} ca={}\n", o.bind_address, server.port(), server.ca_file().string());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  server.stop();
  return 0;
}
