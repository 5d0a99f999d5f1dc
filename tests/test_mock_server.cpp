// The emulator over TLS, seen by a plain HTTP client: GET /api_keys/rate_limits (key check,
// shape, no effect on generate's schedule or counters), /__mock/stats, and exact counters when
// many clients hit it on several io threads at once.
#include <gtest/gtest.h>

#include <csignal>
#include <optional>
#include <thread>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_mock_support.hpp"

using namespace venice_batch;
using mock_test::Emulator;
using mock_test::kKey;
namespace http = boost::beast::http;

namespace {

const std::string kGenerateBody = R"({"model":"z-image-turbo","prompt":"p","width":64,"height":64,"format":"png"})";

}  // namespace

TEST(MockServerTest, RateLimitsListsEachModelsOwnLimitsAndTheBalances) {
  MockOptions o;
  o.faults.requests_per_minute = 20;
  o.faults.model_rpm = parse_model_limits("venice-sd35=90,extra-model=5");
  o.faults.model_rpd = parse_model_limits("gpt-image-2=100");
  o.balance_usd = 25;
  Emulator emu(o);
  const auto a = emu.rate_limits();
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body,
            R"({"data":{"rateLimits":[{"apiModelId":"z-image-turbo","rateLimits":[{"amount":20,"type":"RPM"}]},)"
            R"({"apiModelId":"venice-sd35","rateLimits":[{"amount":90,"type":"RPM"}]},)"
            R"({"apiModelId":"qwen-image-2","rateLimits":[{"amount":20,"type":"RPM"}]},)"
            R"({"apiModelId":"nano-banana-pro","rateLimits":[{"amount":20,"type":"RPM"}]},)"
            R"({"apiModelId":"gpt-image-2","rateLimits":[{"amount":20,"type":"RPM"},{"amount":100,"type":"RPD"}]},)"
            R"({"apiModelId":"flux-dev","rateLimits":[{"amount":20,"type":"RPM"}]},)"
            R"({"apiModelId":"hidream","rateLimits":[{"amount":20,"type":"RPM"}]},)"
            R"({"apiModelId":"venice-preview","rateLimits":[{"amount":20,"type":"RPM"}]},)"
            R"({"apiModelId":"extra-model","rateLimits":[{"amount":5,"type":"RPM"}]}],)"
            R"("balances":{"USD":25.0,"DIEM":0.0}}})");
  EXPECT_EQ(a.header("x-venice-balance-usd"), "25.00");
}

TEST(MockServerTest, RateLimitsWithoutAConfiguredLimitStatesTheHeadersGenerousOne) {
  Emulator emu;
  const auto a = emu.rate_limits();
  EXPECT_EQ(a.status, 200);
  EXPECT_NE(a.body.find(R"("amount":100000,"type":"RPM")"), std::string::npos) << a.body;
}

TEST(MockServerTest, RateLimitsChecksTheKeyLikeGenerate) {
  Emulator emu;
  const auto wrong = emu.rate_limits("Bearer not-the-key");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(wrong.body, R"({"error":"Authentication failed"})");
  const auto none = emu.rate_limits(std::nullopt);
  EXPECT_EQ(none.status, 402) << "no credentials is a 402, as the API answers";
  EXPECT_NE(none.body.find(R"("x402Version":1)"), std::string::npos) << none.body;
  EXPECT_EQ(emu.server->stats().key_checks, 2u);
}

TEST(MockServerTest, RateLimitsTakesNoPlaceInTheFaultScheduleAndIsNoGenerateRequest) {
  MockFaults f;
  f.schedule = parse_fault_schedule("500");
  f.failure_lock = true;
  f.lock_threshold = 0;  // one failed generate locks it
  Emulator emu(f);
  EXPECT_EQ(emu.rate_limits().status, 200);
  EXPECT_EQ(emu.rate_limits().status, 200);
  EXPECT_EQ(emu.generate(kGenerateBody).status, 500) << "the first generate request still gets the schedule's first fault";
  EXPECT_EQ(emu.rate_limits().status, 200) << "not subject to the failure lock";
  EXPECT_EQ(emu.exchange(http::verb::get, "/api/v1/image/styles", std::nullopt).status, 200) << "nor is the catalog";
  const auto s = emu.server->stats();
  EXPECT_EQ(s.requests, 1u);
  EXPECT_EQ(s.key_checks, 3u);
  EXPECT_EQ(s.by_status, (std::map<int, std::uint64_t>{{500, 1}}));
  const auto page = emu.exchange(http::verb::get, "/__mock/stats", std::nullopt);
  EXPECT_NE(page.body.find(R"("requests":1,)"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find(R"("key_checks":3,)"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find(R"("faults":{"500":1})"), std::string::npos) << page.body;
}

// --help says the per-prompt counts are shown at /__mock/stats; they were only counted in-process
// (found by a hostile tester counting requests from outside).
TEST(MockServerTest, TrackedPromptsAreOnTheStatsPage) {
  venice_batch::MockOptions o;
  o.track_prompts = true;
  Emulator emu(o);
  ASSERT_EQ(emu.generate(kGenerateBody).status, 200);
  const auto page = emu.exchange(http::verb::get, "/__mock/stats", std::nullopt);
  EXPECT_NE(page.body.find(R"("by_prompt":{")"), std::string::npos) << page.body;
  EXPECT_NE(page.body.find(R"(":1})"), std::string::npos) << page.body;
}

TEST(MockServerTest, PortIsFreeAfterStopThoughAChildProcessStartedMeanwhile) {
  Emulator emu;
  const auto port = emu.server->port();
  // A process the host starts while the emulator runs (a plain posix_spawn, which closes no fd
  // of its own accord) must not inherit the listening socket and keep the port after stop().
  pid_t child = -1;
  char sleep_path[] = "/bin/sleep", seconds[] = "30";
  char* argv[] = {sleep_path, seconds, nullptr};
  ASSERT_EQ(::posix_spawn(&child, sleep_path, nullptr, nullptr, argv, environ), 0);
  emu.server->stop();
  MockOptions again;
  again.port = port;
  again.cert_dir = emu.dir.path() / "again";
  // The child's exec closes its copies a moment after posix_spawn returns: allow that moment
  // (an inherited socket without close-on-exec stays bound as long as the child lives).
  std::optional<std::string> refused;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  do {
    try {
      MockServer back(again);
      back.start();
      refused.reset();
      break;
    } catch (const std::exception& e) {
      refused = e.what();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_FALSE(refused) << "port " << port << " still bound: " << *refused;
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
}

namespace {

// `clients` threads, each sending `each` generate requests on fresh connections at once:
// the statuses they saw.
std::map<int, std::uint64_t> hammer(const Emulator& emu, int clients, int each) {
  std::vector<std::thread> threads;
  std::vector<std::map<int, std::uint64_t>> seen(clients);
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      for (int i = 0; i < each; ++i) ++seen[c][emu.generate(kGenerateBody).status];
    });
  for (auto& t : threads) t.join();
  std::map<int, std::uint64_t> statuses;
  for (const auto& m : seen)
    for (const auto& [status, n] : m) statuses[status] += n;
  return statuses;
}

}  // namespace

TEST(MockServerTest, QuotaHoldsExactlyWhenClientsHitSeveralThreadsAtOnce) {
  MockFaults f;
  f.requests_per_minute = 25;
  Emulator emu(f, 4);
  const std::map<int, std::uint64_t> expected = {{200, 25}, {429, 15}};
  EXPECT_EQ(hammer(emu, 8, 5), expected) << "25 a minute: no request lost, none let through twice";
  const auto s = emu.server->stats();
  EXPECT_EQ(s.requests, 40u);
  EXPECT_EQ(s.connections, 40u);
  EXPECT_EQ(s.images, 25u);
  EXPECT_EQ(s.by_status, expected);
}

TEST(MockServerTest, ScheduleIsDealtOutOnceWhenClientsHitSeveralThreadsAtOnce) {
  MockFaults f;
  f.schedule = parse_fault_schedule("503x5,500x3");
  Emulator emu(f, 4);
  const std::map<int, std::uint64_t> expected = {{200, 32}, {500, 3}, {503, 5}};
  EXPECT_EQ(hammer(emu, 8, 5), expected);
  EXPECT_EQ(emu.server->stats().faults, (std::map<std::string, std::uint64_t>{{"500", 3}, {"503", 5}}));
}
