// `venice-batch bench` against the emulator: closed and open loop, the table and the JSON.
#include <gtest/gtest.h>

#include <csignal>
#include <thread>

#include <simdjson.h>

#include "test_support.hpp"
#include "venice_batch/mock_server.hpp"
#include "venice_batch/out_dir_lock.hpp"

using namespace venice_batch;
using test_support::TempDir;

namespace {
struct BenchFixture {
  BenchFixture() {
    MockOptions o;
    o.api_key = "bench-key";
    o.cert_dir = dir.path() / "cert";
    o.latency_min = o.latency_max = std::chrono::milliseconds(50);
    mock = std::make_unique<MockServer>(o);
    mock->start();
    test_support::write_file(dir / "m.jsonl",
                             "{\"prompt\":\"a\",\"width\":64,\"height\":64}\n{\"prompt\":\"b\",\"width\":64,\"height\":64,\"variants\":2}\n");
  }
  std::vector<std::string> args(std::vector<std::string> extra) const {
    std::vector<std::string> a = {VENICE_BATCH_EXE, "bench", "--manifest", (dir / "m.jsonl").string(), "--base-url",
                                  "https://127.0.0.1:" + std::to_string(mock->port()) + "/api/v1", "--ca-file",
                                  mock->ca_file().string(), "--json", (dir / "bench.json").string()};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  test_support::ProcessResult bench(std::vector<std::string> extra) const {
    return test_support::run_process(args(std::move(extra)), {{"VENICE_API_KEY", "bench-key"}});
  }
  TempDir dir;
  std::unique_ptr<MockServer> mock;
};
}  // namespace

TEST(BenchModeTest, ClosedLoopSendsExactlyTheRequestedCountCyclingTheManifest) {
  BenchFixture fx;
  auto r = fx.bench({"--requests", "40", "--concurrency", "4", "--discard-images"});
  ASSERT_EQ(r.exit_status, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("Requests:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("time to 1st byte"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("inference"), std::string::npos) << "server phases beside client phases:\n" << r.out;
  simdjson::dom::parser p;
  simdjson::dom::element j = p.parse(test_support::read_file(fx.dir / "bench.json"));
  EXPECT_EQ(std::string_view(j["mode"]), "closed");
  EXPECT_EQ(uint64_t(j["requests"]), 40u);
  EXPECT_EQ(uint64_t(j["ok"]), 40u);
  EXPECT_DOUBLE_EQ(double(j["success_ratio"]), 1.0);
  EXPECT_EQ(uint64_t(j["metrics"]["phases"]["server_total"]["count"]), 40u);
  EXPECT_EQ(fx.mock->stats().images, 60u);  // alternating 1 and 2 variants
}

TEST(BenchModeTest, OpenLoopKeepsTheArrivalRate) {
  BenchFixture fx;
  auto r = fx.bench({"--rate", "40/s", "--duration", "1s", "--warmup", "250ms", "--out", (fx.dir / "imgs").string()});
  ASSERT_EQ(r.exit_status, 0) << r.err << r.out;
  simdjson::dom::parser p;
  simdjson::dom::element j = p.parse(test_support::read_file(fx.dir / "bench.json"));
  EXPECT_EQ(std::string_view(j["mode"]), "open");
  const auto n = uint64_t(j["requests"]);
  EXPECT_GE(n, 30u);
  EXPECT_LE(n, 52u);
  EXPECT_FALSE(std::filesystem::is_empty(fx.dir / "imgs/images"));
}

TEST(BenchModeTest, OpenLoopCountsLatencyFromTheIntendedStart) {
  BenchFixture fx;  // every answer takes 50 ms
  test_support::ChildProcess bench(fx.args({"--rate", "20/s", "--duration", "3s", "--warmup", "250ms", "--discard-images"}),
                                   {{"VENICE_API_KEY", "bench-key"}});
  // Once it is measuring, freeze the client for a second (the stall under test, not a wait for
  // something): the requests due meanwhile go out late, all at once when it resumes.
  ASSERT_TRUE(test_support::wait_until([&] { return fx.mock->stats().requests >= 10; }));
  bench.kill(SIGSTOP);
  std::this_thread::sleep_for(std::chrono::seconds(1));
  bench.kill(SIGCONT);
  const auto status = bench.wait_for(std::chrono::seconds(60));
  ASSERT_TRUE(status);
  ASSERT_EQ(*status, 0);
  simdjson::dom::parser p;
  simdjson::dom::element j = p.parse(test_support::read_file(fx.dir / "bench.json"));
  const double late_p90 = double(j["metrics"]["phases"]["admission_rate"]["p90_ms"]);  // actual send - intended start
  const double latency_p90 = double(j["metrics"]["phases"]["attempt_total"]["p90_ms"]);
  // The stall made more than a tenth of the measured requests at least 300 ms late...
  ASSERT_GE(late_p90, 300.0) << "the stall did not delay the schedule: the test tests nothing";
  // ...and each request's latency is its lateness plus the server's 50 ms. Counted from the
  // actual send it would be about 50 ms for all but the one or two in flight during the stall.
  EXPECT_GE(latency_p90, late_p90 + 25.0) << "latency counted from the actual send, hiding the queueing";
  EXPECT_GE(double(j["metrics"]["phases"]["attempt_total"]["min_ms"]), 49.0);
}

TEST(BenchModeTest, ConflictingOrMissingModesAreUsageErrors) {
  BenchFixture fx;
  EXPECT_EQ(fx.bench({"--requests", "5", "--discard-images"}).exit_status, 2);
  EXPECT_EQ(fx.bench({"--concurrency", "2", "--discard-images"}).exit_status, 2);
  EXPECT_EQ(fx.bench({"--requests", "5", "--concurrency", "2"}).exit_status, 2) << "no --out and no --discard-images";
  EXPECT_EQ(fx.mock->stats().requests, 0u);
}

TEST(BenchModeTest, ARunsOutDirIsRefusedAndABenchOutDirIsLocked) {
  // bench --out on a run's out dir wrote images/<id>_<k>.<ext> no journal named, in the dataset
  // and beyond the sweep of unrecorded images; with a run on it, it did not even wait.
  BenchFixture fx;
  std::filesystem::create_directories(fx.dir / "run-out");
  test_support::write_file(fx.dir / "run-out" / "results.jsonl", "");
  auto r = fx.bench({"--requests", "2", "--concurrency", "1", "--out", (fx.dir / "run-out").string()});
  EXPECT_EQ(r.exit_status, 2) << r.err << r.out;
  EXPECT_NE(r.err.find("holds a run"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(fx.dir / "run-out" / "images"));
  // Another process holding the out dir's lock (a run, or a bench) keeps bench off it.
  OutDirLock held(fx.dir / "busy");
  auto busy = fx.bench({"--requests", "2", "--concurrency", "1", "--out", (fx.dir / "busy").string()});
  EXPECT_EQ(busy.exit_status, 2) << busy.err << busy.out;
  EXPECT_EQ(fx.mock->stats().requests, 0u);
}
