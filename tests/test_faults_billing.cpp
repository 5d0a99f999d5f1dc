// "Retries that may have been billed twice": only an attempt whose outcome is unknown (sent,
// then the answer was lost, cut or timed out) and that went again, or a POST sent again after
// a stale keep-alive failed. An answered error is no charge.
#include "fault_fixture.hpp"

using namespace fault_test;

namespace {

std::size_t attempts_flagged_maybe_billed(const std::filesystem::path& out) {
  std::size_t n = 0;
  for (auto& [id, l] : final_state(out))
    for (auto& a : l.attempts) n += a.maybe_billed_twice;
  return n;
}

}  // namespace

TEST(FaultTest, AnAnswered503IsNeverCountedAsMaybeBilledTwice) {
  // 80 jobs, every tenth answer a 503 (the same 10% as p_503 = 0.1, without the luck).
  std::string plan;
  for (int i = 0; i < 8; ++i) plan += std::string(i ? "," : "") + "okx9,503";
  Fixture fx(schedule(plan));
  auto r = fx.run(fx.manifest(80), {"--concurrency", "4"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  const auto m = read_metrics(fx.out());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->retry_causes.count("http_503") ? m->retry_causes.at("http_503") : 0, 8u) << "the 503s were not retried";
  EXPECT_EQ(m->retries_maybe_billed, 0u) << "an answered 503 counted as possibly billed twice";
  EXPECT_EQ(attempts_flagged_maybe_billed(fx.out()), 0u);
}

TEST(FaultTest, AConnectionClosedMidAnswerIsCountedAsMaybeBilledTwice) {
  Fixture fx(schedule("ok,close"));
  auto r = fx.run(fx.manifest(3), {"--concurrency", "1"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  const auto m = read_metrics(fx.out());
  ASSERT_TRUE(m);
  EXPECT_GE(m->retries_maybe_billed, 1u) << "a request whose answer was cut off went again uncounted";
  EXPECT_GE(attempts_flagged_maybe_billed(fx.out()), 1u) << "no attempt_log entry says maybe_billed_twice";
}

TEST(FaultTest, APostSentAgainAfterAStaleKeepAliveIsCountedAsMaybeBilledTwice) {
  // The second request meets a server that reads it and drops the kept-alive connection without
  // a byte of answer; the pool writes it again on a fresh connection.
  Fixture fx(schedule("ok,drop,ok,ok"));
  auto r = fx.run(fx.manifest(3), {"--concurrency", "1"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(fx.server->stats().requests, 4u);
  const auto m = read_metrics(fx.out());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->retries_maybe_billed, 1u) << "a POST sent again after a stale keep-alive went uncounted";
  EXPECT_EQ(attempts_flagged_maybe_billed(fx.out()), 1u) << "no attempt_log entry says maybe_billed_twice";
}

// A connection the server closed while idle is seen closed before anything is written on it: no
// POST goes onto it, and nothing is counted as maybe billed twice.
TEST(FaultTest, AKeepAliveClosedWhileIdleIsNotCountedAsMaybeBilledTwice) {
  auto o = mock_options(MockFaults{});
  o.idle_timeout = std::chrono::milliseconds(200);
  Fixture fx(o);
  auto r = fx.run(fx.manifest(3), {"--concurrency", "1", "--rpm", "60"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  EXPECT_GE(fx.server->stats().connections, 3u) << "no connection was closed while idle: the test tested nothing";
  EXPECT_EQ(fx.server->stats().requests, 3u);
  const auto m = read_metrics(fx.out());
  ASSERT_TRUE(m);
  EXPECT_EQ(m->retries_maybe_billed, 0u);
}

// The pool wrote the POST again on a fresh connection under the job's one reservation: 3 jobs
// under a $0.03 cap wrote 5 POSTs ($0.05 if each had been billed) and the summary said $0.03.
// Each resend now takes its own place under the cap.
TEST(FaultTest, APostSentAgainAfterAStaleKeepAliveCountsAgainstTheSpendCap) {
  Fixture fx(schedule("ok,drop,ok,drop,ok"));
  auto r = fx.run(fx.manifest(3), {"--concurrency", "1", "--max-spend", "0.03"});
  EXPECT_EQ(r.exit_status, 4) << r.err;
  EXPECT_EQ(fx.server->stats().requests, 3u) << r.err;
  EXPECT_NE(r.err.find("outcome unknown $0.01"), std::string::npos) << r.err;
}

// A stale keep-alive resend answered by an error: the resend's reservation is the one whose
// outcome is unknown; the error answer itself is free. Both were counted unknown, so the cap
// saw $0.01 that was never spent and stopped a run that fitted.
TEST(FaultTest, AnErrorAnswerToAStaleResendIsNotCountedAgainstTheSpendCap) {
  Fixture fx(schedule("ok,drop,429,ok,ok"));
  auto r = fx.run(fx.manifest(3), {"--concurrency", "1", "--max-spend", "0.04"});
  EXPECT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(fx.server->stats().requests, 5u) << r.err;
}
