// What the client does with each way the API (emulated) can fail: retries with the right
// waits, records the right reason, stops when it must, and never leaves a partial file.
#include <gtest/gtest.h>

#include <csignal>
#include <random>
#include <set>
#include <thread>

#include <simdjson.h>

#include "test_support.hpp"
#include "venice_batch/image_format.hpp"
#include "venice_batch/journal.hpp"
#include "venice_batch/mock_server.hpp"
#include "venice_batch/sink.hpp"

using namespace venice_batch;
using test_support::TempDir;

namespace {

constexpr const char* kKey = "fault-key-Zq81";

// Fast retries for tests: the waits are checked in the journal, not on the clock.
constexpr const char* kFastRetryConfig =
    R"({"retry": {"max_attempts": 4, "base_delay_ms": 20, "max_delay_ms": 200}, "timeouts": {"request_s": 3}})";

struct Fixture {
  explicit Fixture(MockFaults faults, std::chrono::milliseconds latency = std::chrono::milliseconds(0)) {
    MockOptions o;
    o.api_key = kKey;
    o.cert_dir = dir.path() / "cert";
    o.faults = std::move(faults);
    o.latency_min = latency;
    o.latency_max = latency;
    o.track_prompts = true;
    server = std::make_unique<MockServer>(o);
    server->start();
    test_support::write_file(dir / "config.json", kFastRetryConfig);
  }
  std::vector<std::string> args(const std::filesystem::path& manifest, std::vector<std::string> extra = {}) const {
    std::vector<std::string> a = {VENICE_BATCH_EXE, "run", "--manifest", manifest.string(), "--out", out().string(),
                                  "--base-url", "https://127.0.0.1:" + std::to_string(server->port()) + "/api/v1",
                                  "--ca-file", server->ca_file().string(), "--config", (dir / "config.json").string()};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  test_support::ProcessResult run(const std::filesystem::path& manifest, std::vector<std::string> extra = {}) const {
    return test_support::run_process(args(manifest, std::move(extra)), {{"VENICE_API_KEY", kKey}});
  }
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
  std::unique_ptr<MockServer> server;
};

struct Line {
  std::string id, status, error_kind;
  std::vector<std::pair<std::string, std::int64_t>> attempts;  // cause, wait_ms
  std::vector<std::string> files;
};

std::vector<Line> results(const std::filesystem::path& out) {
  std::vector<Line> lines;
  simdjson::dom::parser p;
  for (const auto& text : test_support::read_lines(out / "results.jsonl")) {
    simdjson::dom::element d;
    EXPECT_EQ(p.parse(text).get(d), simdjson::SUCCESS) << "unparseable journal line: " << text;
    if (!d.is_object()) continue;
    Line l;
    l.id = std::string(std::string_view(d["id"]));
    l.status = std::string(std::string_view(d["status"]));
    std::string_view kind;
    if (d["error"]["kind"].get_string().get(kind) == simdjson::SUCCESS) l.error_kind = kind;
    for (auto a : simdjson::dom::array(d["attempt_log"]))
      l.attempts.emplace_back(std::string(std::string_view(a["cause"])), int64_t(a["wait_ms"]));
    for (auto f : simdjson::dom::array(d["files"])) l.files.emplace_back(std::string_view(f["path"]));
    lines.push_back(std::move(l));
  }
  return lines;
}

// The last line per id, as resume sees it.
std::map<std::string, Line> final_state(const std::filesystem::path& out) {
  std::map<std::string, Line> m;
  for (auto& l : results(out)) m[l.id] = l;
  return m;
}

// The API key appears in no file under the out dir, whatever failed.
void expect_no_key(const std::filesystem::path& out, const test_support::ProcessResult* r = nullptr) {
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

// Every file under images/ is a complete image with a final name, and listed in the journal.
void expect_clean_images(const std::filesystem::path& out) {
  expect_no_key(out);
  std::set<std::string> listed;
  for (auto& [id, l] : final_state(out))
    for (auto& f : l.files) listed.insert(f);
  for (auto& e : std::filesystem::directory_iterator(out / "images")) {
    const auto name = e.path().filename().string();
    EXPECT_FALSE(is_temp_file_name(name)) << "temp file left: " << name;
    auto bytes = test_support::read_file(e.path());
    std::vector<std::uint8_t> b(bytes.begin(), bytes.end());
    EXPECT_TRUE(probe_image_size(b)) << "not a whole image: " << name;
  }
  for (auto& f : listed) EXPECT_TRUE(std::filesystem::exists(out / f)) << f;
}

// Polls `ready` (up to 30 s) instead of sleeping a guessed time: slow machines and sanitizer
// builds start more slowly.
template <class F>
void wait_until(F ready) {
  for (int i = 0; i < 600 && !ready(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(ready()) << "condition not reached in 30 s";
}

MockFaults schedule(const std::string& s) {
  MockFaults f;
  f.schedule = parse_fault_schedule(s);
  return f;
}

}  // namespace

TEST(FaultTest, TransientServerErrorsAreRetriedWithBackoffAndRecorded) {
  Fixture fx(schedule("500,503,500"));
  auto r = fx.run(fx.manifest(1));
  ASSERT_EQ(r.exit_status, 0) << r.err;
  auto s = final_state(fx.out());
  ASSERT_EQ(s.size(), 1u);
  auto& a = s["j0"].attempts;
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(a[0].first, "http_500");
  EXPECT_EQ(a[1].first, "http_503");
  EXPECT_EQ(a[2].first, "http_500");
  EXPECT_EQ(a[3].first, "ok");
  for (int i = 1; i < 4; ++i) EXPECT_LE(a[i].second, 200) << "capped backoff";
  expect_clean_images(fx.out());
  // Every attempt is counted by cause and by status in metrics.json.
  const auto metrics = test_support::read_file(fx.out() / "metrics.json");
  EXPECT_NE(metrics.find(R"("attempt_causes":{"http_500":2,"http_503":1,"ok":1})"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find(R"("status_counts":{"200":1,"500":2,"503":1})"), std::string::npos) << metrics;
}

TEST(FaultTest, RateLimited429WaitsUntilTheStatedReset) {
  MockFaults f = schedule("429");
  f.reset_after_429 = std::chrono::milliseconds(1500);
  Fixture fx(f);
  auto r = fx.run(fx.manifest(1));
  ASSERT_EQ(r.exit_status, 0) << r.err;
  auto a = final_state(fx.out())["j0"].attempts;
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].first, "http_429");
  EXPECT_GE(a[1].second, 1300) << "retried before the reset time the 429 gave";
}

TEST(FaultTest, FailureLockIsWaitedOutForThirtySeconds) {
  Fixture fx(schedule("lock"));
  auto r = fx.run(fx.manifest(1));
  ASSERT_EQ(r.exit_status, 0) << r.err;
  auto a = final_state(fx.out())["j0"].attempts;
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].first, "failure_lock");
  EXPECT_GE(a[1].second, 30000);
  EXPECT_LT(a[1].second, 45000) << "waited for the quota window instead of the lock";
  EXPECT_EQ(fx.server->stats().requests, 2u);
}

TEST(FaultTest, ConnectionClosedMidBodyIsRetried) {
  Fixture fx(schedule("close,close"));
  auto r = fx.run(fx.manifest(3));
  ASSERT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(results(fx.out()).size(), 3u) << "one journal line per job";
  expect_no_key(fx.out(), &r);
  auto s = final_state(fx.out());
  std::multiset<std::string> causes;
  for (auto& [id, l] : s) {
    EXPECT_EQ(l.status, "ok");
    for (auto& [c, w] : l.attempts) causes.insert(c);
  }
  EXPECT_EQ(causes.count("body_truncated") + causes.count("connection_lost"), 2u);
  expect_clean_images(fx.out());
}

TEST(FaultTest, BodyShorterThanContentLengthIsRetriedNeverSaved) {
  Fixture fx(schedule("short"));
  auto r = fx.run(fx.manifest(1, 256));
  ASSERT_EQ(r.exit_status, 0) << r.err;
  auto a = final_state(fx.out())["j0"].attempts;
  ASSERT_EQ(a.size(), 2u);
  EXPECT_TRUE(a[0].first == "body_truncated" || a[0].first == "connection_lost") << a[0].first;
  expect_clean_images(fx.out());
}

TEST(FaultTest, StalledRequestTimesOutAndIsRetried) {
  MockFaults f = schedule("stall");
  f.stall = std::chrono::seconds(20);
  Fixture fx(f);
  auto r = fx.run(fx.manifest(1), {"--timeout", "1"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  auto a = final_state(fx.out())["j0"].attempts;
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].first, "timeout");
}

TEST(FaultTest, InvalidJsonAndInvalidBase64AreRetried) {
  Fixture fx(schedule("invalid_json,invalid_base64"));
  auto r = fx.run(fx.manifest(1));
  ASSERT_EQ(r.exit_status, 0) << r.err;
  auto a = final_state(fx.out())["j0"].attempts;
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].first, "invalid_json");
  EXPECT_EQ(a[1].first, "invalid_base64");
  expect_clean_images(fx.out());
}

TEST(FaultTest, PersistentFailureEndsAsFailedRetryableAfterMaxAttempts) {
  Fixture fx(schedule("503x4"));
  auto r = fx.run(fx.manifest(1));
  EXPECT_EQ(r.exit_status, 1) << r.err;
  auto s = final_state(fx.out());
  EXPECT_EQ(s["j0"].status, "failed");
  EXPECT_EQ(s["j0"].attempts.size(), 4u);
  auto j = read_journal(fx.out() / "results.jsonl");
  EXPECT_TRUE(j.jobs.at("j0").retryable);
  // The next run tries it again (the emulator answers normally from request 5 on).
  auto again = fx.run(fx.dir / "m.jsonl");
  EXPECT_EQ(again.exit_status, 0) << again.err;
  EXPECT_EQ(final_state(fx.out())["j0"].status, "ok");
}

TEST(FaultTest, PaymentRequiredStopsTheRunAtOnceAndStaysResumable) {
  Fixture fx(schedule("402"));
  auto r = fx.run(fx.manifest(20), {"--concurrency", "1"});
  EXPECT_EQ(r.exit_status, 3) << r.err;
  expect_no_key(fx.out(), &r);
  EXPECT_NE(r.err.find("402"), std::string::npos) << r.err;
  EXPECT_EQ(fx.server->stats().requests, 1u) << "requests sent after the 402";
  auto again = fx.run(fx.dir / "m.jsonl");
  EXPECT_EQ(again.exit_status, 0) << again.err;
  EXPECT_EQ(final_state(fx.out()).size(), 20u);
}

TEST(FaultTest, BadRequestIsNotRetriedAndKeepsTheApiIssues) {
  Fixture fx(MockFaults{});
  // steps passes the client's check (its cap is per model) but the emulator's DetailedError
  // is still what must be kept: send an unknown field through with pass-through on.
  test_support::write_file(fx.dir / "config.json",
                           R"({"allow_unknown_fields": true, "retry": {"max_attempts": 4, "base_delay_ms": 20}})");
  test_support::write_file(fx.dir / "m.jsonl", "{\"id\":\"x\",\"prompt\":\"p\",\"future_field\":1}\n");
  auto r = fx.run(fx.dir / "m.jsonl");
  EXPECT_EQ(r.exit_status, 1) << r.err;
  auto s = final_state(fx.out());
  EXPECT_EQ(s["x"].attempts.size(), 1u);
  EXPECT_EQ(s["x"].error_kind, "http_400");
  auto text = test_support::read_file(fx.out() / "results.jsonl");
  EXPECT_NE(text.find("\"issues\":[{\"code\":\"unrecognized_keys\""), std::string::npos) << text;
}

TEST(FaultTest, ClientPausesBeforeItsFailuresCouldTriggerTheApiLock) {
  MockFaults f;
  f.p_500 = 1.0;  // everything fails
  f.failure_lock = true;
  Fixture fx(f);
  test_support::write_file(fx.dir / "config.json",
                           R"({"retry": {"max_attempts": 3, "base_delay_ms": 1, "max_delay_ms": 5}, "failure_budget": {"window_s": 30, "max_failures": 15}})");
  // 40 jobs at concurrency 4 would send 120 failing requests within seconds without the budget.
  auto child = test_support::ChildProcess(fx.args(fx.manifest(40), {"--concurrency", "4"}), {{"VENICE_API_KEY", kKey}});
  std::this_thread::sleep_for(std::chrono::seconds(4));
  child.kill(SIGINT);
  child.wait();
  auto stats = fx.server->stats();
  EXPECT_LE(stats.requests, 20u) << "more than 20 failed requests within 30 s";
  EXPECT_EQ(stats.locked, 0u) << "the emulator's failure lock was triggered";
}

TEST(FaultTest, SigintFinishesInFlightRequestsAndExits130Resumably) {
  Fixture fx(MockFaults{}, std::chrono::milliseconds(400));
  auto child = test_support::ChildProcess(fx.args(fx.manifest(30), {"--concurrency", "3"}), {{"VENICE_API_KEY", kKey}});
  wait_until([&] { return test_support::read_lines(fx.out() / "results.jsonl").size() >= 2; });
  child.kill(SIGINT);
  EXPECT_EQ(child.wait(), 130);
  auto s = final_state(fx.out());
  EXPECT_GT(s.size(), 0u);
  EXPECT_LT(s.size(), 30u);
  for (auto& [id, l] : s) EXPECT_EQ(l.status, "ok") << id << " " << l.error_kind;  // in-flight ones finished
  expect_clean_images(fx.out());
  auto again = fx.run(fx.dir / "m.jsonl", {"--concurrency", "8"});
  EXPECT_EQ(again.exit_status, 0) << again.err;
  EXPECT_EQ(final_state(fx.out()).size(), 30u);
  EXPECT_EQ(fx.server->stats().requests, 30u) << "a job recorded ok was requested again";
}

TEST(FaultTest, SecondSigintCancelsAtOnce) {
  Fixture fx(MockFaults{}, std::chrono::milliseconds(20000));
  auto child = test_support::ChildProcess(fx.args(fx.manifest(4), {"--concurrency", "2"}), {{"VENICE_API_KEY", kKey}});
  wait_until([&] { return fx.server->stats().requests >= 2; });  // both requests in flight
  child.kill(SIGINT);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  child.kill(SIGINT);
  EXPECT_EQ(child.wait(), 130);
  ASSERT_EQ(final_state(fx.out()).size(), 2u) << "the two cancelled jobs are recorded";
  for (auto& [id, l] : final_state(fx.out())) {
    EXPECT_EQ(l.status, "failed");
    EXPECT_EQ(l.attempts.back().first, "cancelled");
  }
  auto j = read_journal(fx.out() / "results.jsonl");
  for (auto& [id, st] : j.jobs) EXPECT_TRUE(st.retryable) << id;
}

TEST(FaultTest, FullDiskStopsTheRunWithoutPartialFiles) {
  Fixture fx(MockFaults{});
  auto args = fx.args(fx.manifest(10, 512), {"--concurrency", "2"});
  // A 64 KiB file-size limit: every 512x512 PNG write fails with EFBIG, as a full disk fails with ENOSPC.
  std::string cmd = "ulimit -f 64; exec";
  for (auto& a : args) cmd += " '" + a + "'";
  auto r = test_support::run_process({"/bin/sh", "-c", cmd}, {{"VENICE_API_KEY", kKey}});
  EXPECT_EQ(r.exit_status, 3) << r.err;
  EXPECT_NE(r.err.find("cannot write"), std::string::npos) << r.err;
  EXPECT_LE(fx.server->stats().requests, 3u) << "kept burning requests whose images cannot be saved";
  expect_clean_images(fx.out());
  for (auto& [id, l] : final_state(fx.out())) EXPECT_NE(l.status, "ok") << id;
}

TEST(FaultTest, SigkillAtRandomMomentsNeverLosesOrRepeatsFinishedWork) {
  Fixture fx(MockFaults{}, std::chrono::milliseconds(30));
  const int jobs = 80;
  auto manifest = fx.manifest(jobs, 96);
  std::mt19937 rng(12345);
  std::map<std::string, std::uint64_t> requests_when_ok;  // prompt -> requests seen when first recorded ok
  int runs = 0;
  for (; runs < 40; ++runs) {
    auto child = test_support::ChildProcess(fx.args(manifest, {"--concurrency", "4"}), {{"VENICE_API_KEY", kKey}});
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 400));
    child.kill(SIGKILL);
    const int status = child.wait();
    auto stats = fx.server->stats();
    for (auto& [id, l] : final_state(fx.out())) {
      if (l.status != "ok") continue;
      const std::string prompt = "prompt " + id.substr(1);
      requests_when_ok.try_emplace(prompt, stats.by_prompt[prompt]);
    }
    if (status == 0) break;
  }
  auto r = fx.run(manifest, {"--concurrency", "4"});  // finish whatever is left
  ASSERT_EQ(r.exit_status, 0) << r.err;
  EXPECT_GE(runs, 2) << "the kills never interrupted a run";
  auto s = final_state(fx.out());
  ASSERT_EQ(s.size(), static_cast<std::size_t>(jobs));
  for (auto& [id, l] : s) {
    EXPECT_EQ(l.status, "ok") << id;
    EXPECT_EQ(l.files.size(), 1u) << id;
  }
  expect_clean_images(fx.out());
  auto stats = fx.server->stats();
  for (auto& [prompt, count] : requests_when_ok)
    EXPECT_EQ(stats.by_prompt[prompt], count) << "'" << prompt << "' was requested again after it was recorded ok";
}

TEST(FaultTest, SigtermStopsGracefullyWith143) {
  Fixture fx(MockFaults{}, std::chrono::milliseconds(300));
  auto child = test_support::ChildProcess(fx.args(fx.manifest(20), {"--concurrency", "2"}), {{"VENICE_API_KEY", kKey}});
  wait_until([&] { return fx.server->stats().requests >= 3; });
  child.kill(SIGTERM);
  EXPECT_EQ(child.wait(), 143);
  for (auto& [id, l] : final_state(fx.out())) EXPECT_EQ(l.status, "ok") << id;
  expect_clean_images(fx.out());
}

TEST(FaultTest, RetryFailedRetriesJobsThatFailedForGood) {
  Fixture fx(MockFaults{});
  // A 400 from the API is a final failure: the emulator refuses a field the client passes through.
  test_support::write_file(fx.dir / "config.json",
                           R"({"allow_unknown_fields": true, "retry": {"max_attempts": 2, "base_delay_ms": 1}})");
  test_support::write_file(fx.dir / "m.jsonl", "{\"id\":\"a\",\"prompt\":\"p\",\"x_field\":1}\n");
  auto first = fx.run(fx.dir / "m.jsonl");
  EXPECT_EQ(first.exit_status, 1);
  EXPECT_EQ(fx.server->stats().requests, 1u);
  auto again = fx.run(fx.dir / "m.jsonl");  // a final failure is not retried...
  EXPECT_EQ(again.exit_status, 1);
  EXPECT_EQ(fx.server->stats().requests, 1u);
  auto forced = fx.run(fx.dir / "m.jsonl", {"--retry-failed"});  // ...unless asked
  EXPECT_EQ(forced.exit_status, 1);
  EXPECT_EQ(fx.server->stats().requests, 2u);
}

TEST(FaultTest, AnOutageOfTheApiPausesTheRunInsteadOfFailingJobs) {
  TempDir dir;
  // A certificate and a port, then nothing listening there for a while.
  MockOptions first;
  first.api_key = kKey;
  first.cert_dir = dir.path() / "cert";
  std::uint16_t port;
  {
    MockServer probe(first);
    probe.start();
    port = probe.port();
  }
  std::string manifest;
  for (int i = 0; i < 6; ++i) manifest += "{\"id\":\"o" + std::to_string(i) + "\",\"prompt\":\"p" + std::to_string(i) + "\"}\n";
  test_support::write_file(dir / "m.jsonl", manifest);
  test_support::write_file(dir / "config.json", kFastRetryConfig);
  auto child = test_support::ChildProcess(
      {VENICE_BATCH_EXE, "run", "--manifest", (dir / "m.jsonl").string(), "--out", (dir / "out").string(), "--base-url",
       "https://127.0.0.1:" + std::to_string(port) + "/api/v1", "--ca-file", (dir / "cert/cert.pem").string(), "--config",
       (dir / "config.json").string(), "--concurrency", "2"},
      {{"VENICE_API_KEY", kKey}});
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // several connect failures
  MockOptions back = first;
  back.port = port;
  back.cert_file = dir.path() / "cert/cert.pem";
  back.key_file = dir.path() / "cert/key.pem";
  MockServer server(back);
  server.start();
  EXPECT_EQ(child.wait(), 0);
  auto s = final_state(dir.path() / "out");
  ASSERT_EQ(s.size(), 6u);
  for (auto& [id, l] : s) {
    EXPECT_EQ(l.status, "ok") << id;
    EXPECT_EQ(l.attempts.size(), 1u) << id << ": the outage used up attempts";
  }
}
