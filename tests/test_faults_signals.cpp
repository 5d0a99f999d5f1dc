// Signals and kills: SIGINT and SIGTERM let requests in flight finish and leave a run that
// resumes; a second SIGINT cancels them at once; SIGKILL at any moment loses nothing and
// never has a finished job requested again (but for a job whose ok line the kill tore).
#include "fault_fixture.hpp"

#include <csignal>

#include "venice_batch/journal.hpp"

using namespace fault_test;

TEST(FaultTest, SigintFinishesInFlightRequestsAndExits130Resumably) {
  Fixture fx(MockFaults{}, std::chrono::milliseconds(400));
  auto child = fx.start(fx.manifest(30), {"--concurrency", "3"});
  ASSERT_TRUE(wait_until([&] { return test_support::read_lines(fx.out() / "results.jsonl").size() >= 2; }));
  child->kill(SIGINT);
  EXPECT_EQ(child->wait(), 130);
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
  // Answers take a minute and the grace period is ten: only the second SIGINT can end the
  // requests in flight before they finish.
  Fixture fx(MockFaults{}, std::chrono::milliseconds(60000));
  auto child = fx.start(fx.manifest(4), {"--concurrency", "2", "--grace", "600"});
  ASSERT_TRUE(wait_until([&] { return fx.server->stats().requests >= 2; }));  // both requests in flight
  child->kill(SIGINT);
  // Two signals sent close together can merge into one: send the second only once the first
  // has taken effect.
  ASSERT_TRUE(child->wait_for_stderr("no new requests")) << child->stderr_seen();
  child->kill(SIGINT);
  EXPECT_TRUE(child->wait_for_stderr("cancelling requests in flight")) << child->stderr_seen();
  const auto status = child->wait_for(std::chrono::seconds(30));
  ASSERT_TRUE(status) << "still running 30 s after the second SIGINT";
  EXPECT_EQ(*status, 130);
  const auto s = final_state(fx.out());
  ASSERT_EQ(s.size(), 2u) << "the two cancelled jobs are recorded";
  for (auto& [id, l] : s) {
    EXPECT_EQ(l.status, "failed");
    ASSERT_FALSE(l.attempts.empty()) << id;
    EXPECT_EQ(l.attempts.back().cause, "cancelled");
  }
  auto j = read_journal(fx.out() / "results.jsonl");
  for (auto& [id, st] : j.jobs) EXPECT_TRUE(st.retryable) << id;
}

TEST(FaultTest, SigtermStopsGracefullyWith143) {
  Fixture fx(MockFaults{}, std::chrono::milliseconds(300));
  auto child = fx.start(fx.manifest(20), {"--concurrency", "2"});
  ASSERT_TRUE(wait_until([&] { return fx.server->stats().requests >= 3; }));
  child->kill(SIGTERM);
  EXPECT_EQ(child->wait(), 143);
  for (auto& [id, l] : final_state(fx.out())) EXPECT_EQ(l.status, "ok") << id;
  expect_clean_images(fx.out());
}

namespace {

// The id a torn journal line began with, if the tear came after it.
std::string torn_line_id(const std::string& fragment) {
  const std::string key = "\"id\":\"";
  const auto at = fragment.find(key);
  if (at == std::string::npos) return {};
  const auto end = fragment.find('"', at + key.size());
  return end == std::string::npos ? std::string() : fragment.substr(at + key.size(), end - at - key.size());
}

}  // namespace

TEST(FaultTest, SigkillAtRandomMomentsNeverLosesOrRepeatsFinishedWork) {
  // 60 ms per answer: 80 jobs at concurrency 4 take 1.2 s, so a kill within 500 ms leaves at
  // least 700 ms of work and at least two runs are killed, however fast the machine.
  Fixture fx(MockFaults{}, std::chrono::milliseconds(60));
  const int jobs = 80;
  auto manifest = fx.manifest(jobs, 96);
  const auto [runs, requests_when_ok] =
      kill_at_random_moments(fx, manifest, {"--concurrency", "4"}, 12345, std::chrono::milliseconds(100));
  auto r = fx.run(manifest, {"--concurrency", "4"});  // finish whatever is left
  ASSERT_EQ(r.exit_status, 0) << r.err;
  EXPECT_GE(runs, 2) << "the kills never interrupted a run";
  std::vector<std::string> torn;
  auto s = final_state(fx.out(), &torn);
  ASSERT_EQ(s.size(), static_cast<std::size_t>(jobs));
  for (auto& [id, l] : s) {
    EXPECT_EQ(l.status, "ok") << id;
    EXPECT_EQ(l.files.size(), 1u) << id;
  }
  // At most one torn line per kill (the journal has one writer), each a cut-off record whose job
  // was done again.
  EXPECT_LE(torn.size(), static_cast<std::size_t>(runs)) << "more torn lines than kills";
  for (const auto& fragment : torn) {
    EXPECT_EQ(fragment.rfind("{", 0), 0u) << "not the start of a record: " << fragment;
    if (const auto id = torn_line_id(fragment); !id.empty()) {
      EXPECT_EQ(s[id].status, "ok") << fragment;
    }
  }
  expect_clean_images(fx.out(), true);  // the torn lines were checked above
  auto stats = fx.server->stats();
  for (auto& [prompt, count] : requests_when_ok)
    EXPECT_EQ(stats.by_prompt[prompt], count) << "'" << prompt << "' was requested again after it was recorded ok";
}
