// venice-mock: the bundled emulator of Venice's image API, for the demo, tests and benchmarks.
// Prints one line, "venice-mock listening on https://127.0.0.1:PORT ca=/path/cert.pem", then
// serves until SIGINT or SIGTERM.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "venice_batch/mock_server.hpp"

namespace vb = venice_batch;

namespace {

// What the command line gives as text or in other units than MockOptions holds.
struct CommandLine {
  std::string latency = "0", cert_dir, cert_file, key_file, schedule, catalog_file;
  std::vector<std::string> hosts, models, model_rpm, model_rpd;
  unsigned stall_s = 300;
  double reset_429_s = 1, window_s = 60;
};

void add_server_options(CLI::App& app, vb::MockOptions& o, CommandLine& c) {
  app.add_option("--port", o.port, "Port to listen on (0: an ephemeral one)");
  app.add_option("--bind", o.bind_address, "Address to listen on")->capture_default_str();
  app.add_option("--api-key", o.api_key, "The only Bearer token accepted (env VENICE_MOCK_API_KEY; default mock-key)");
  app.add_option("--cert-dir", c.cert_dir, "Where the generated cert.pem/key.pem go (default: a fresh temp dir)");
  app.add_option("--cert-file", c.cert_file, "Serve this certificate (PEM) instead of generating one")->check(CLI::ExistingFile);
  app.add_option("--key-file", c.key_file, "Private key of --cert-file")->check(CLI::ExistingFile);
  app.add_option("--cert-host", c.hosts, "Names/IPs the generated certificate is valid for (repeatable; default localhost, 127.0.0.1)");
  app.add_option("--latency-ms", c.latency, "Added latency per generate request: \"50\" or a range \"20-80\"");
  app.add_option("--threads", o.threads, "io threads (each connection runs on its own strand)")
      ->check(CLI::Range(1u, 64u));
  app.add_flag("--track-prompts", o.track_prompts, "Count requests per prompt (GET /__mock/stats)");
}

void add_model_options(CLI::App& app, vb::MockOptions& o, CommandLine& c) {
  auto* g = app.add_option_group("models", "The catalog, the models accepted and the balance");
  g->add_option("--catalog", c.catalog_file,
                "Serve and enforce this catalog: a GET /models body, or a catalog.json saved by venice-batch "
                "({\"models\", \"compatibility_mapping\", \"styles\"}). Default: the built-in one (z-image-turbo, "
                "venice-sd35, qwen-image-2, nano-banana-pro, gpt-image-2, deprecated flux-dev, offline hidream, "
                "unpriced venice-preview)")
      ->check(CLI::ExistingFile);
  g->add_option("--model", c.models,
                "One more model id generate accepts (free, generic checks only) and /api_keys/rate_limits lists "
                "(repeatable)");
  g->add_flag("--accept-unknown-models", o.accept_unknown_models,
              "Serve any model id outside the catalog like a --model one (default: 404, as the API)");
  g->add_option("--balance-usd", o.balance_usd,
                "Balance generate requests are charged to (catalog price x images; content violations and error "
                "answers cost nothing), stated before each request in x-venice-balance-usd; a request it cannot "
                "cover gets 402 (default 1000000: no limit in practice)");
  g->add_option("--balance-diem", o.balance_diem, "DIEM balance stated in x-venice-balance-diem (never spent)")
      ->capture_default_str();
}

void add_limit_options(CLI::App& app, vb::MockFaults& f, CommandLine& c) {
  auto* g = app.add_option_group("limits", "Rate limits, per model as the API's (each variant counts as one request)");
  g->add_option("--rpm", f.requests_per_minute,
                "Enforce this request limit per window for each model --model-rpm does not name (0: off)");
  g->add_option("--model-rpm", c.model_rpm,
                "Per-model limits per window: \"z-image-turbo=30,venice-sd35=90\" (repeatable); each model has its "
                "own x-ratelimit-*-requests headers");
  g->add_option("--rate-window-s", c.window_s,
                "Length of the fixed rate-limit window in seconds (the limits count per window; "
                "/api_keys/rate_limits states them as RPM)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  g->add_option("--model-rpd", c.model_rpd,
                "Per-model requests per day (24 h from the model's first request): \"gpt-image-2=100\" "
                "(repeatable); past it, 429 until the day ends");
  g->add_flag("--failure-lock", f.failure_lock, "Lock the key for 30 s after more than 20 failed requests in 30 s, like the API");
}

void add_fault_options(CLI::App& app, vb::MockFaults& f, CommandLine& c) {
  auto* g = app.add_option_group("faults", "Fault injection (probabilities 0..1, or a schedule by request number)");
  g->add_option("--fault-schedule", c.schedule,
                "Faults for requests 1, 2, ...: e.g. \"ok,500,429x3,close\" (ok 429 500 503 close short stall "
                "invalid_json invalid_base64 401 402 lock violation corrupt_compressed cut_compressed blurred drop)");
  g->add_option("--p-429", f.p_429, "Probability of a 429 with rate-limit headers");
  g->add_option("--p-500", f.p_500, "Probability of a 500");
  g->add_option("--p-503", f.p_503, "Probability of a 503");
  g->add_option("--p-close", f.p_close, "Probability of closing the connection mid-body");
  g->add_option("--p-short", f.p_short, "Probability of a body shorter than its Content-Length");
  g->add_option("--p-stall", f.p_stall, "Probability of never answering (see --stall-s)");
  g->add_option("--p-invalid-json", f.p_invalid_json, "Probability of a 200 with invalid JSON");
  g->add_option("--p-invalid-base64", f.p_invalid_base64, "Probability of a 200 with invalid base64");
  g->add_option("--p-401", f.p_401, "Probability of a 401");
  g->add_option("--p-402", f.p_402, "Probability of a 402");
  g->add_option("--p-violation", f.p_violation,
                "Probability of a content violation (a 200 flagged x-venice-is-content-violation; binary: a PNG; not "
                "charged)");
  g->add_option("--p-blurred", f.p_blurred,
                "Probability of a 200 flagged x-venice-is-blurred (the filter blurred the image; charged)");
  g->add_option("--p-corrupt-compressed", f.p_corrupt_compressed,
                "Probability of a JSON answer whose compressed bytes are damaged (gzip if none was asked)");
  g->add_option("--p-cut-compressed", f.p_cut_compressed,
                "Probability of a JSON answer whose compressed stream stops half way, well framed on the wire");
  g->add_option("--stall-s", c.stall_s, "How long a stalled request hangs");
  g->add_option("--reset-429-s", c.reset_429_s, "Reset time stated by an injected 429");
}

// Fills in what the command line gave as text. Throws std::invalid_argument (or std::stoll's
// exceptions) on a malformed value.
void apply(const CommandLine& c, vb::MockOptions& o) {
  auto& f = o.faults;
  const auto dash = c.latency.find('-');
  o.latency_min = std::chrono::milliseconds(std::stoll(c.latency.substr(0, dash)));
  o.latency_max = dash == std::string::npos ? o.latency_min : std::chrono::milliseconds(std::stoll(c.latency.substr(dash + 1)));
  if (!c.schedule.empty()) f.schedule = vb::parse_fault_schedule(c.schedule);
  for (const auto& text : c.model_rpm)
    for (auto& [model, limit] : vb::parse_model_limits(text)) f.model_rpm.insert_or_assign(model, limit);
  for (const auto& text : c.model_rpd)
    for (auto& [model, limit] : vb::parse_model_limits(text)) f.model_rpd.insert_or_assign(model, limit);
  f.stall = std::chrono::seconds(c.stall_s);
  f.reset_after_429 = std::chrono::milliseconds(static_cast<long long>(c.reset_429_s * 1000));
  f.rate_window = std::chrono::milliseconds(static_cast<long long>(c.window_s * 1000));
  o.catalog_file = c.catalog_file;
  o.cert_dir = c.cert_dir;
  o.cert_file = c.cert_file;
  o.key_file = c.key_file;
  if (!c.hosts.empty()) o.cert_hosts = c.hosts;
  o.extra_models = c.models;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "venice-mock: an HTTPS emulator of Venice's image API on loopback: POST /api/v1/image/generate (checked "
      "against each model's constraints), GET /api/v1/models?type=image, /models/traits, "
      "/models/compatibility_mapping, /image/styles, /api_keys/rate_limits; per-model rate limits, balance "
      "headers and 402, gzip/br JSON answers when asked (Accept-Encoding). GET /__mock/stats shows its counters."};
  vb::MockOptions o;
  o.accept_unknown_models = false;  // like the API: an id outside the catalog is a 404
  if (const char* key = std::getenv("VENICE_MOCK_API_KEY")) o.api_key = key;
  CommandLine c;
  add_server_options(app, o, c);
  add_model_options(app, o, c);
  add_limit_options(app, o.faults, c);
  add_fault_options(app, o.faults, c);
  CLI11_PARSE(app, argc, argv);
  try {
    apply(c, o);
  } catch (const std::exception& e) {
    fmt::print(stderr, "venice-mock: {}\n", e.what());
    return 2;
  }

  // Block the signals before any thread starts, then wait for one synchronously.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  std::optional<vb::MockServer> server;
  try {
    server.emplace(o);  // reads the catalog
    server->start();
  } catch (const std::exception& e) {
    fmt::print(stderr, "venice-mock: cannot start: {}\n", e.what());
    return 1;
  }
  fmt::print("venice-mock listening on https://{}:{} ca={}\n", o.bind_address, server->port(), server->ca_file().string());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  server->stop();
  return 0;
}
