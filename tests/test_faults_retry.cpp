// What the client does with answers it can retry: the right waits, the right recorded
// reason, no partial file, and an end that a later run resumes from.
#include "fault_fixture.hpp"

#include "venice_batch/journal.hpp"

using namespace fault_test;

TEST(FaultTest, TransientServerErrorsAreRetriedWithBackoffAndRecorded) {
  Fixture fx(schedule("500,503,500"));
  auto r = fx.run(fx.manifest(1));
  ASSERT_EQ(r.exit_status, 0) << r.err;
  auto s = final_state(fx.out());
  ASSERT_EQ(s.size(), 1u);
  auto& a = s["j0"].attempts;
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(a[0].cause, "http_500");
  EXPECT_EQ(a[1].cause, "http_503");
  EXPECT_EQ(a[2].cause, "http_500");
  EXPECT_EQ(a[3].cause, "ok");
  for (int i = 1; i < 4; ++i) EXPECT_LE(a[i].wait_ms, 200) << "capped backoff";
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
  EXPECT_EQ(a[0].cause, "http_429");
  EXPECT_GE(a[1].wait_ms, 1300) << "retried before the reset time the 429 gave";
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
    for (auto& a : l.attempts) causes.insert(a.cause);
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
  EXPECT_TRUE(a[0].cause == "body_truncated" || a[0].cause == "connection_lost") << a[0].cause;
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
  EXPECT_EQ(a[0].cause, "timeout");
}

TEST(FaultTest, InvalidJsonAndInvalidBase64AreRetried) {
  Fixture fx(schedule("invalid_json,invalid_base64"));
  auto r = fx.run(fx.manifest(1));
  ASSERT_EQ(r.exit_status, 0) << r.err;
  auto a = final_state(fx.out())["j0"].attempts;
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].cause, "invalid_json");
  EXPECT_EQ(a[1].cause, "invalid_base64");
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

TEST(FaultTest, BadRequestIsNotRetriedAndKeepsTheApiIssues) {
  Fixture fx(MockFaults{});
  // The emulator refuses a field the client passes through (allow_unknown_fields): the 400's
  // DetailedError is what must be kept.
  fx.config(R"({"allow_unknown_fields": true, "retry": {"max_attempts": 4, "base_delay_ms": 20}})");
  test_support::write_file(fx.dir / "m.jsonl", "{\"id\":\"x\",\"prompt\":\"p\",\"future_field\":1}\n");
  auto r = fx.run(fx.dir / "m.jsonl");
  EXPECT_EQ(r.exit_status, 1) << r.err;
  auto s = final_state(fx.out());
  EXPECT_EQ(s["x"].attempts.size(), 1u);
  EXPECT_EQ(s["x"].error_kind, "http_400");
  auto text = test_support::read_file(fx.out() / "results.jsonl");
  EXPECT_NE(text.find("\"issues\":[{\"code\":\"unrecognized_keys\""), std::string::npos) << text;
}

TEST(FaultTest, RetryFailedRetriesJobsThatFailedForGood) {
  Fixture fx(MockFaults{});
  // A 400 from the API is a final failure: the emulator refuses a field the client passes through.
  fx.config(R"({"allow_unknown_fields": true, "retry": {"max_attempts": 2, "base_delay_ms": 1}})");
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
