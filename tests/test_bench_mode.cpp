// `venice-batch bench` against the emulator: closed and open loop, the table and the JSON.
#include <gtest/gtest.h>

#include <simdjson.h>

#include "test_support.hpp"
#include "venice_batch/mock_server.hpp"

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
  test_support::ProcessResult bench(std::vector<std::string> extra) {
    std::vector<std::string> a = {VENICE_BATCH_EXE, "bench", "--manifest", (dir / "m.jsonl").string(), "--base-url",
                                  "https://127.0.0.1:" + std::to_string(mock->port()) + "/api/v1", "--ca-file",
                                  mock->ca_file().string(), "--json", (dir / "bench.json").string()};
    a.insert(a.end(), extra.begin(), extra.end());
    return test_support::run_process(a, {{"VENICE_API_KEY", "bench-key"}});
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

TEST(BenchModeTest, OpenLoopKeepsTheArrivalRateAndCountsLatencyFromIntendedStart) {
  BenchFixture fx;
  auto r = fx.bench({"--rate", "40/s", "--duration", "1s", "--warmup", "250ms", "--out", (fx.dir / "imgs").string()});
  ASSERT_EQ(r.exit_status, 0) << r.err << r.out;
  simdjson::dom::parser p;
  simdjson::dom::element j = p.parse(test_support::read_file(fx.dir / "bench.json"));
  EXPECT_EQ(std::string_view(j["mode"]), "open");
  const auto n = uint64_t(j["requests"]);
  EXPECT_GE(n, 30u);
  EXPECT_LE(n, 52u);
  // Every measured request's latency is at least the emulator's 50 ms.
  EXPECT_GE(double(j["metrics"]["phases"]["attempt_total"]["min_ms"]), 49.0);
  EXPECT_FALSE(std::filesystem::is_empty(fx.dir / "imgs/images"));
}

TEST(BenchModeTest, ConflictingOrMissingModesAreUsageErrors) {
  BenchFixture fx;
  EXPECT_EQ(fx.bench({"--requests", "5", "--discard-images"}).exit_status, 2);
  EXPECT_EQ(fx.bench({"--concurrency", "2", "--discard-images"}).exit_status, 2);
  EXPECT_EQ(fx.bench({"--requests", "5", "--concurrency", "2"}).exit_status, 2) << "no --out and no --discard-images";
  EXPECT_EQ(fx.mock->stats().requests, 0u);
}
