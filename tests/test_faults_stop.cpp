// Answers that must stop or hold back the whole run: a refused key or payment stops it at
// once (resumably), a full disk stops it before more is spent, and the client's own failure
// budget pauses it before the API's failure lock could trip.
#include "fault_fixture.hpp"

#include <csignal>
#include <regex>

using namespace fault_test;

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

TEST(FaultTest, KeyRefusedMidRunStopsIsRecordedAndStaysResumable) {
  // The start-up check passed; the API refuses the key on the second generate request.
  Fixture fx(schedule("ok,401"));
  auto r = fx.run(fx.manifest(20), {"--concurrency", "1"});
  EXPECT_EQ(r.exit_status, 3) << r.err;
  EXPECT_NE(r.err.find("401"), std::string::npos) << r.err;
  expect_no_key(fx.out(), &r);
  EXPECT_EQ(fx.server->stats().requests, 2u) << "requests sent after the 401";
  auto s = final_state(fx.out());
  ASSERT_EQ(s.size(), 2u) << "the ok job and the refused one are recorded";
  EXPECT_EQ(s["j0"].status, "ok");
  EXPECT_EQ(s["j1"].status, "failed");
  EXPECT_EQ(s["j1"].http_status, 401);
  auto again = fx.run(fx.dir / "m.jsonl");
  EXPECT_EQ(again.exit_status, 0) << again.err;
  EXPECT_EQ(final_state(fx.out()).size(), 20u);
  EXPECT_EQ(fx.server->stats().requests, 21u) << "the refused job goes again, the ok one does not";
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

TEST(FaultTest, ClientPausesBeforeItsFailuresCouldTriggerTheApiLock) {
  MockFaults f;
  f.p_500 = 1.0;          // every generate request fails at once
  f.failure_lock = true;  // more than lock_threshold failures in 30 s lock the key for 30 s
  f.lock_threshold = 20;
  Fixture fx(f);
  // The client's budget: 15 failures per 30 s. A progress line every tick shows what it holds for.
  fx.config(R"({"retry": {"max_attempts": 3, "base_delay_ms": 1, "max_delay_ms": 5},
                "failure_budget": {"window_s": 30, "max_failures": 15}, "progress_interval_s": 0.25})");
  // 40 jobs x 3 attempts at concurrency 4: 120 failing requests within a second or two, far over
  // the lock's 20, unless the client holds back.
  auto child = fx.start(fx.manifest(40), {"--concurrency", "4"});
  const auto held = child->wait_for_stderr("(failure budget)");
  ASSERT_TRUE(held) << "the client never paused for its failure budget:\n" << child->stderr_seen();
  auto at_hold = fx.server->stats();
  // It spent its whole budget first: the test did drive it to the edge of the lock...
  EXPECT_GE(at_hold.by_status[500], 15u);
  // ...in a burst: all of them within the last few seconds of the 30 s window, so an unpaced
  // client, with 40 jobs' attempts left to send, would have gone past 20 in the same window.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(*held, m, std::regex(R"(waiting (\d+) s \(failure budget\))"))) << *held;
  EXPECT_GE(std::stoi(m[1].str()), 15) << *held;
  EXPECT_LT(results(fx.out()).size(), 40u) << "no work was left to send";
  // While it holds, eight more of its own progress ticks pass without a request going out.
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(child->wait_for_stderr("(failure budget)")) << child->stderr_seen();
  const auto later = fx.server->stats();
  EXPECT_LE(later.requests - at_hold.requests, 3u) << "more than the requests in flight when it paused";
  EXPECT_LE(later.requests, 20u) << "more than 20 failed requests within 30 s";
  EXPECT_EQ(later.locked, 0u) << "the emulator's failure lock was triggered";
  child->kill(SIGINT);
  EXPECT_EQ(child->wait(), 130);
  EXPECT_EQ(fx.server->stats().locked, 0u);
}
