// What the fault tests (tests/test_faults_*.cpp) share: an emulator in this process (so its
// counters can be read) with chosen faults, runs of the real venice-batch against it, and
// readers of what a run leaves behind (journal lines, metrics.json) that never touch a
// document whose parse failed.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <csignal>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <simdjson.h>

#include "test_support.hpp"
#include "venice_batch/image_format.hpp"
#include "venice_batch/mock_server.hpp"
#include "venice_batch/sink.hpp"

namespace fault_test {

using namespace venice_batch;
using test_support::TempDir;

inline constexpr const char* kKey = "fault-key-Zq81";

// Fast retries for tests: the waits are checked in the journal, not on the clock.
inline constexpr const char* kFastRetryConfig =
    R"({"retry": {"max_attempts": 4, "base_delay_ms": 20, "max_delay_ms": 200}, "timeouts": {"request_s": 3}})";

inline MockOptions mock_options(MockFaults faults, std::chrono::milliseconds latency = {}) {
  MockOptions o;
  o.faults = std::move(faults);
  o.latency_min = latency;
  o.latency_max = latency;
  return o;
}

inline MockFaults schedule(const std::string& s) {
  MockFaults f;
  f.schedule = parse_fault_schedule(s);
  return f;
}

struct Fixture {
  explicit Fixture(MockFaults faults, std::chrono::milliseconds latency = {})
      : Fixture(mock_options(std::move(faults), latency)) {}
  explicit Fixture(MockOptions o) : options(std::move(o)) {
    options.api_key = kKey;
    options.cert_dir = dir.path() / "cert";
    options.track_prompts = true;
    server = std::make_unique<MockServer>(options);
    server->start();
    port = server->port();
    config(kFastRetryConfig);
  }
  void config(const std::string& json) const { test_support::write_file(dir / "config.json", json); }
  std::string base_url() const { return "https://127.0.0.1:" + std::to_string(port) + "/api/v1"; }
  std::vector<std::string> args(const std::filesystem::path& manifest, std::vector<std::string> extra = {}) const {
    std::vector<std::string> a = {VENICE_BATCH_EXE, "run",      "--manifest", manifest.string(), "--out",
                                  out().string(),   "--base-url", base_url(),   "--ca-file",       ca_file().string(),
                                  "--config",       (dir / "config.json").string()};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  test_support::ProcessResult run(const std::filesystem::path& manifest, std::vector<std::string> extra = {}) const {
    return test_support::run_process(args(manifest, std::move(extra)), {{"VENICE_API_KEY", kKey}});
  }
  /// venice-batch run in the background, its stderr readable line by line.
  std::unique_ptr<test_support::ChildProcess> start(const std::filesystem::path& manifest,
                                                    std::vector<std::string> extra = {}) const {
    return std::make_unique<test_support::ChildProcess>(args(manifest, std::move(extra)),
                                                        std::map<std::string, std::string>{{"VENICE_API_KEY", kKey}},
                                                        true);
  }
  /// Takes the emulator away (its port then refuses connections)...
  void stop_server() { server.reset(); }
  /// ...and brings a fresh one back on the same port with the same certificate.
  void restart_server() {
    MockOptions again = options;
    again.port = port;
    again.cert_file = ca_file();
    again.key_file = dir.path() / "cert/key.pem";
    server = std::make_unique<MockServer>(again);
    server->start();
  }
  std::filesystem::path ca_file() const { return dir.path() / "cert/cert.pem"; }
  std::filesystem::path out() const { return dir.path() / "out"; }
  std::filesystem::path manifest(int jobs, int size = 64) const {
    std::string m;
    for (int i = 0; i < jobs; ++i)
      m += "{\"id\":\"j" + std::to_string(i) + "\",\"prompt\":\"prompt " + std::to_string(i) + "\",\"width\":" +
           std::to_string(size) + ",\"height\":" + std::to_string(size) + ",\"format\":\"png\"}\n";
    test_support::write_file(dir / "m.jsonl", m);
    return dir / "m.jsonl";
  }

  TempDir dir;
  MockOptions options;
  std::unique_ptr<MockServer> server;
  std::uint16_t port = 0;
};

struct Attempt {
  std::string cause;
  std::int64_t wait_ms = 0;
  bool maybe_billed_twice = false;
};

struct Line {
  std::string id, status, error_kind, error_message;
  std::int64_t http_status = 0;
  std::vector<Attempt> attempts;
  std::vector<std::string> files;
};

/// One journal line, or nullopt if it does not parse (nothing is read from a failed parse).
inline std::optional<Line> parse_line(simdjson::dom::parser& p, const std::string& text) {
  simdjson::dom::object d;
  if (p.parse(text).get(d) != simdjson::SUCCESS) return std::nullopt;
  Line l;
  std::string_view s;
  if (d["id"].get(s) == simdjson::SUCCESS) l.id = s;
  if (d["status"].get(s) == simdjson::SUCCESS) l.status = s;
  if (d["error"]["kind"].get(s) == simdjson::SUCCESS) l.error_kind = s;
  if (d["error"]["message"].get(s) == simdjson::SUCCESS) l.error_message = s;
  if (d["http_status"].get(l.http_status) != simdjson::SUCCESS) l.http_status = 0;
  simdjson::dom::array a;
  if (d["attempt_log"].get(a) == simdjson::SUCCESS) {
    for (simdjson::dom::element e : a) {
      Attempt at;
      if (e["cause"].get(s) == simdjson::SUCCESS) at.cause = s;
      if (e["wait_ms"].get(at.wait_ms) != simdjson::SUCCESS) at.wait_ms = -1;
      if (e["maybe_billed_twice"].get(at.maybe_billed_twice) != simdjson::SUCCESS) at.maybe_billed_twice = false;
      l.attempts.push_back(std::move(at));
    }
  }
  if (d["files"].get(a) == simdjson::SUCCESS)
    for (simdjson::dom::element f : a)
      if (f["path"].get(s) == simdjson::SUCCESS) l.files.emplace_back(s);
  return l;
}

/// The journal's lines. A line that does not parse fails the test, unless `torn` collects it:
/// a SIGKILL can tear a write that spans page-cache pages, and the reader skips such a line.
inline std::vector<Line> results(const std::filesystem::path& out, std::vector<std::string>* torn = nullptr) {
  std::vector<Line> lines;
  simdjson::dom::parser p;
  for (const auto& text : test_support::read_lines(out / "results.jsonl")) {
    if (auto l = parse_line(p, text)) {
      lines.push_back(std::move(*l));
    } else if (torn) {
      torn->push_back(text);
    } else {
      ADD_FAILURE() << "unparseable journal line: " << text;
    }
  }
  return lines;
}

/// The last line per id, as resume sees it.
inline std::map<std::string, Line> final_state(const std::filesystem::path& out,
                                               std::vector<std::string>* torn = nullptr) {
  std::map<std::string, Line> m;
  for (auto& l : results(out, torn)) m[l.id] = l;
  return m;
}

/// The counters of metrics.json (nullopt while it is not there).
struct Metrics {
  std::uint64_t retries = 0, retries_maybe_billed = 0;
  std::map<std::string, std::uint64_t> status_counts, attempt_causes, retry_causes;
  std::string pacing;
};

inline std::optional<Metrics> read_metrics(const std::filesystem::path& out) {
  simdjson::dom::parser p;
  simdjson::dom::object d;
  if (p.load((out / "metrics.json").string()).get(d) != simdjson::SUCCESS) return std::nullopt;
  Metrics m;
  if (d["retries"].get(m.retries) != simdjson::SUCCESS) m.retries = 0;
  if (d["retries_maybe_billed"].get(m.retries_maybe_billed) != simdjson::SUCCESS) m.retries_maybe_billed = 0;
  std::string_view s;
  if (d["pacing"].get(s) == simdjson::SUCCESS) m.pacing = s;
  auto read_map = [&](const char* name, std::map<std::string, std::uint64_t>& to) {
    simdjson::dom::object o;
    if (d[name].get(o) != simdjson::SUCCESS) return;
    for (auto [k, v] : o) {
      std::uint64_t n = 0;
      if (v.get(n) == simdjson::SUCCESS) to[std::string(k)] = n;
    }
  };
  read_map("status_counts", m.status_counts);
  read_map("attempt_causes", m.attempt_causes);
  read_map("retry_causes", m.retry_causes);
  return m;
}

/// The API key appears in no file under the out dir, whatever failed, nor in what was printed.
inline void expect_no_key(const std::filesystem::path& out, const test_support::ProcessResult* r = nullptr) {
  for (auto& e : std::filesystem::recursive_directory_iterator(out)) {
    if (e.is_regular_file()) {
      EXPECT_EQ(test_support::read_file(e.path()).find(kKey), std::string::npos) << "key written to " << e.path();
    }
  }
  if (r) {
    EXPECT_EQ(r->err.find(kKey), std::string::npos) << "key printed";
    EXPECT_EQ(r->out.find(kKey), std::string::npos) << "key printed";
  }
}

/// Every file under images/ is a complete image with a final name; every file the journal lists exists.
/// `torn_lines_allowed`: after SIGKILLs a torn journal line may sit mid-file (counted by the caller).
/// The file names (without folders) of every file under <out>/images: the dataset a user would take.
inline std::set<std::string> dataset_files(const std::filesystem::path& out) {
  std::set<std::string> names;
  if (!std::filesystem::exists(out / "images")) return names;
  for (const auto& e : std::filesystem::recursive_directory_iterator(out / "images"))
    if (e.is_regular_file()) names.insert(e.path().filename().string());
  return names;
}

inline void expect_clean_images(const std::filesystem::path& out, bool torn_lines_allowed = false) {
  expect_no_key(out);
  std::set<std::string> listed;
  std::vector<std::string> torn;
  for (auto& [id, l] : final_state(out, torn_lines_allowed ? &torn : nullptr))
    for (auto& f : l.files) listed.insert(f);
  for (auto& e : std::filesystem::recursive_directory_iterator(out / "images")) {  // the fan-out folders too
    if (e.is_directory()) continue;
    const auto name = e.path().filename().string();
    if (name.ends_with(".txt") || name.ends_with(".json")) continue;  // sidecars
    EXPECT_FALSE(is_temp_file_name(name)) << "temp file left: " << name;
    auto bytes = test_support::read_file(e.path());
    std::vector<std::uint8_t> b(bytes.begin(), bytes.end());
    EXPECT_TRUE(probe_image_size(b)) << "not a whole image: " << name;
  }
  for (auto& f : listed) EXPECT_TRUE(std::filesystem::exists(out / f)) << f;
}

/// What kill_at_random_moments saw.
struct KilledRuns {
  int runs = 0;  ///< runs killed before one finished on its own (40 if none did)
  /// prompt -> the requests the emulator had seen for it when its job was first read back ok.
  std::map<std::string, std::uint64_t> requests_when_ok;
};

/// Runs venice-batch on `manifest` with `extra` and SIGKILLs it after a random pause of
/// `least_pause` plus up to 400 ms (drawn from `seed`), again and again, until a run finishes
/// before its kill (at most 40 runs). After each kill it notes when every job read back ok was
/// first ok, then calls `after_kill(run)`; a fatal failure there ends the loop. A SIGKILL can
/// tear a journal write that spans page-cache pages: the torn line stays in the middle of the
/// file once the next run appends, and the reader skips it. Its job is then not done as far as
/// resume knows, so it is not held to "never requested again".
inline KilledRuns kill_at_random_moments(const Fixture& fx, const std::filesystem::path& manifest,
                                         const std::vector<std::string>& extra, std::uint32_t seed,
                                         std::chrono::milliseconds least_pause,
                                         const std::function<void(int run)>& after_kill = {}) {
  std::mt19937 rng(seed);
  KilledRuns k;
  for (; k.runs < 40; ++k.runs) {
    test_support::ChildProcess child(fx.args(manifest, extra), {{"VENICE_API_KEY", kKey}});
    std::this_thread::sleep_for(least_pause + std::chrono::milliseconds(rng() % 400));  // the random moment
    child.kill(SIGKILL);
    const int status = child.wait();
    auto stats = fx.server->stats();
    std::vector<std::string> torn;
    for (auto& [id, l] : final_state(fx.out(), &torn)) {
      if (l.status != "ok") continue;
      const std::string prompt = "prompt " + id.substr(1);
      k.requests_when_ok.try_emplace(prompt, stats.by_prompt[prompt]);
    }
    if (after_kill) {
      after_kill(k.runs);
      if (::testing::Test::HasFatalFailure()) break;
    }
    if (status == 0) break;
  }
  return k;
}

using test_support::wait_until;

}  // namespace fault_test
