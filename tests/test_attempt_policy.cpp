// The attempt policy: every row of VENICE_API.md's status/retry table, every
// transport failure, the waits and the "may have been billed twice" rule, with
// made-up times and a fixed random source. No sockets, no sleeps.
#include <gtest/gtest.h>
#include <fmt/format.h>

#include "venice_batch/attempt_policy.hpp"
#include "venice_batch/exchange.hpp"
#include "venice_batch/exit_status.hpp"

using namespace venice_batch;
using namespace std::chrono_literals;

namespace {

const auto t0 = PacingClock::time_point{} + 1h;

AttemptPolicy make_policy(double jitter = 1.0, unsigned max_attempts = 6) {
  RetryPolicy r;
  r.max_attempts = max_attempts;
  r.base_delay = 1000ms;
  r.max_delay = 60000ms;
  return AttemptPolicy(r, 30min, [jitter] { return jitter; });
}

AttemptOutcome answered(int status) {
  AttemptOutcome o;
  o.request_sent = true;
  o.http_status = status;
  if (status == 200) o.body = BodyOutcome::stored;
  return o;
}

AttemptOutcome transport(TransportError e, bool sent) {
  AttemptOutcome o;
  o.transport = e;
  o.request_sent = sent;
  o.transport_message = "detail";
  return o;
}

}  // namespace

TEST(AttemptPolicyTest, EveryStatusOfTheApiTableHasItsClass) {
  EXPECT_EQ(classify_status(200), StatusClass::success);
  for (int s : {400, 403, 404, 410, 413, 415}) EXPECT_EQ(classify_status(s), StatusClass::invalid_request) << s;
  EXPECT_EQ(classify_status(401), StatusClass::key_refused);
  EXPECT_EQ(classify_status(402), StatusClass::payment_required);
  EXPECT_EQ(classify_status(422), StatusClass::content_policy);
  EXPECT_EQ(classify_status(429), StatusClass::rate_limited);
  for (int s : {408, 500, 502, 503, 504, 521, 522, 523}) EXPECT_EQ(classify_status(s), StatusClass::transient) << s;
  for (int s : {520, 524}) EXPECT_EQ(classify_status(s), StatusClass::transient_maybe_billed) << s;
  EXPECT_EQ(classify_status(418), StatusClass::invalid_request) << "an unknown 4xx is not retried";
  EXPECT_EQ(classify_status(599), StatusClass::transient) << "an unknown 5xx is the server's trouble";
  EXPECT_EQ(classify_status(301), StatusClass::invalid_request) << "redirects are not followed";
}

TEST(AttemptPolicyTest, ClientErrorsFailForGoodWithTheApiMessage) {
  auto p = make_policy();
  for (int s : {400, 403, 404, 410, 413, 415}) {
    auto o = answered(s);
    o.api_message = "prompt: too long";
    auto d = p.decide(o, 1, false, t0);
    EXPECT_EQ(d.step, NextStep::fail) << s;
    EXPECT_FALSE(d.retryable_later) << s;
    EXPECT_EQ(d.cause, "http_" + std::to_string(s));
    EXPECT_EQ(d.message, "HTTP " + std::to_string(s) + ": prompt: too long");
    EXPECT_FALSE(d.maybe_billed_twice) << "an answered error is not a charge";
  }
}

TEST(AttemptPolicyTest, KeyRefusedOrNoBalanceStopsTheRunResumably) {
  auto p = make_policy();
  for (int s : {401, 402}) {
    auto d = p.decide(answered(s), 1, false, t0);
    EXPECT_EQ(d.step, NextStep::stop_run) << s;
    EXPECT_EQ(d.exit_status, exit_stopped);
    EXPECT_TRUE(d.retryable_later) << "resumable once the key or balance is fixed";
    EXPECT_NE(d.message.find(s == 401 ? "refused the key" : "payment required"), std::string::npos);
  }
}

TEST(AttemptPolicyTest, OlderContentPolicyAnswerIsRecordedNotRetried) {
  auto p = make_policy();
  auto d = p.decide(answered(422), 1, false, t0);
  EXPECT_EQ(d.step, NextStep::done);
  EXPECT_TRUE(d.content_violation);
}

TEST(AttemptPolicyTest, ContentViolationHeaderEndsTheJobWithoutRetry) {
  auto p = make_policy();
  auto o = answered(200);
  o.body = BodyOutcome::content_violation;
  auto d = p.decide(o, 1, false, t0);
  EXPECT_EQ(d.step, NextStep::done);
  EXPECT_TRUE(d.content_violation);
  EXPECT_EQ(d.cause, "content_violation");
}

TEST(AttemptPolicyTest, ServerErrorsRetryWithExponentialBackoffAndFullJitter) {
  auto p = make_policy(1.0);  // the top of the jitter range
  for (int s : {408, 500, 502, 503, 504, 521, 522, 523}) {
    auto d = p.decide(answered(s), 1, false, t0);
    EXPECT_EQ(d.step, NextStep::retry) << s;
    EXPECT_EQ(d.wait, 1000ms) << s;
    EXPECT_FALSE(d.maybe_billed_twice) << s << " was answered: no charge";
  }
  EXPECT_EQ(p.decide(answered(503), 2, false, t0).wait, 2000ms);
  EXPECT_EQ(p.decide(answered(503), 3, false, t0).wait, 4000ms);
  EXPECT_EQ(p.decide(answered(503), 5, false, t0).wait, 16000ms);
  auto low = make_policy(0.25);
  EXPECT_EQ(low.decide(answered(503), 3, false, t0).wait, 1000ms) << "uniform in [0, ceiling]";
  RetryPolicy r{100, 1000ms, 60000ms};
  AttemptPolicy capped(r, 30min, [] { return 1.0; });
  EXPECT_EQ(capped.decide(answered(503), 40, false, t0).wait, 60000ms) << "capped at max_delay";
}

TEST(AttemptPolicyTest, CloudflareOriginErrorsRetryAndMayHaveBeenBilled) {
  auto p = make_policy();
  for (int s : {520, 524}) {
    auto d = p.decide(answered(s), 1, false, t0);
    EXPECT_EQ(d.step, NextStep::retry) << s;
    EXPECT_TRUE(d.maybe_billed_twice) << s << ": the origin may have done the work";
  }
}

TEST(AttemptPolicyTest, RateLimitWaitsForRetryAfterOrTheReset) {
  auto p = make_policy(0.0);
  auto o = answered(429);
  o.limits.retry_after = 7s;
  o.limits.reset_in = 20s;
  EXPECT_EQ(p.decide(o, 1, false, t0).wait, 7s) << "Retry-After first";
  o.limits.retry_after.reset();
  EXPECT_EQ(p.decide(o, 1, false, t0).wait, 20s) << "then the quota's reset";
  o.limits.reset_in.reset();
  auto d = p.decide(o, 1, false, t0);
  EXPECT_EQ(d.step, NextStep::retry);
  EXPECT_EQ(d.wait, 0ms) << "a bare 429 falls back to the backoff (0 with this jitter)";
  EXPECT_EQ(d.pacer.kind, PacerFeedback::Kind::answer);
  EXPECT_EQ(d.pacer.status, 429);
}

TEST(AttemptPolicyTest, FailureLockWaitsAtLeastThirtySecondsWhateverTheResetSays) {
  auto p = make_policy(0.0);
  auto o = answered(429);
  o.failure_lock = true;
  o.limits.reset_in = 2s;
  auto d = p.decide(o, 1, false, t0);
  EXPECT_EQ(d.cause, "failure_lock");
  EXPECT_EQ(d.wait, 30s);
  EXPECT_TRUE(d.pacer.failure_lock);
  o.limits.retry_after = 45s;
  EXPECT_EQ(p.decide(o, 1, false, t0).wait, 45s) << "a longer Retry-After wins";
}

TEST(AttemptPolicyTest, LastAttemptFailsButALaterRunRetries) {
  auto p = make_policy(1.0, 3);
  EXPECT_EQ(p.decide(answered(503), 2, false, t0).step, NextStep::retry);
  auto d = p.decide(answered(503), 3, false, t0);
  EXPECT_EQ(d.step, NextStep::fail);
  EXPECT_TRUE(d.retryable_later);
  EXPECT_EQ(d.cause, "http_503");
}

TEST(AttemptPolicyTest, NothingIsRetriedWhileTheRunStops) {
  auto p = make_policy();
  auto d = p.decide(answered(503), 1, true, t0);
  EXPECT_EQ(d.step, NextStep::fail);
  EXPECT_TRUE(d.retryable_later);
}

TEST(AttemptPolicyTest, AnswerLostAfterSendingIsRetriedAndMayHaveBeenBilledTwice) {
  auto p = make_policy();
  for (auto e : {TransportError::timeout, TransportError::connection_lost, TransportError::body_truncated,
                 TransportError::protocol_error}) {
    auto d = p.decide(transport(e, true), 1, false, t0);
    EXPECT_EQ(d.step, NextStep::retry) << to_string(e);
    EXPECT_TRUE(d.maybe_billed_twice) << to_string(e);
    EXPECT_EQ(d.cause, std::string(to_string(e)));
    EXPECT_TRUE(d.pacer.request_sent) << "counts against the failure budget";
  }
}

// An answer over max_response_mb was asked again up to max_attempts times: each paid, each too
// large again, each thrown away. It fails the job for this run; a later run (with a higher
// max_response_mb) does it.
TEST(AttemptPolicyTest, AnAnswerTooLargeToKeepIsNotAskedAgainInThisRun) {
  auto p = make_policy();
  auto d = p.decide(transport(TransportError::body_too_large, true), 1, false, t0);
  EXPECT_EQ(d.step, NextStep::fail);
  EXPECT_TRUE(d.retryable_later);
  EXPECT_NE(d.message.find("max_response_mb"), std::string::npos) << d.message;
  EXPECT_TRUE(d.pacer.request_sent);
}

TEST(AttemptPolicyTest, AnUnusableTwoHundredIsRetriedAndMayHaveBeenBilledTwice) {
  auto p = make_policy();
  auto o = answered(200);
  o.body = BodyOutcome::bad_response;
  o.body_error_kind = "invalid_base64";
  auto d = p.decide(o, 1, false, t0);
  EXPECT_EQ(d.step, NextStep::retry);
  EXPECT_EQ(d.cause, "invalid_base64");
  EXPECT_TRUE(d.maybe_billed_twice) << "the API charged for the answer we threw away";
  o.body_retryable = false;
  EXPECT_EQ(p.decide(o, 1, false, t0).step, NextStep::fail);
}

TEST(AttemptPolicyTest, StaleKeepAliveResendCountsAsMaybeBilledEvenWhenItSucceeds) {
  auto p = make_policy();
  auto o = answered(200);
  o.stale_resends = 1;
  auto d = p.decide(o, 1, false, t0);
  EXPECT_EQ(d.step, NextStep::done);
  EXPECT_TRUE(d.maybe_billed_twice);
  EXPECT_FALSE(p.decide(answered(200), 1, false, t0).maybe_billed_twice);
}

TEST(AttemptPolicyTest, EachResendOfOneAttemptCountsAsAPostThatMayHaveBeenBilled) {
  // A server that drops each reused connection after reading the POST: the pool wrote one
  // attempt's POST four times. The summary said 1 may have been billed twice, the spend 3 unknown.
  auto p = make_policy();
  auto o = answered(200);
  o.stale_resends = 3;
  EXPECT_EQ(p.decide(o, 1, false, t0).maybe_billed_posts, 3u);
  auto lost = transport(TransportError::connection_lost, true);
  lost.stale_resends = 2;
  const auto d = p.decide(lost, 1, false, t0);
  EXPECT_EQ(d.step, NextStep::retry);
  EXPECT_EQ(d.maybe_billed_posts, 3u) << "two resends, and this one's lost outcome";
  EXPECT_EQ(p.decide(answered(200), 1, false, t0).maybe_billed_posts, 0u);
}

TEST(AttemptPolicyTest, EveryFailureBeforeTheRequestWasWrittenPausesTheRun) {
  auto p = make_policy();
  for (auto e : {TransportError::resolve_failed, TransportError::connect_failed, TransportError::timeout,
                 TransportError::tls_failed}) {
    auto d = p.decide(transport(e, false), 1, false, t0);
    EXPECT_EQ(d.step, NextStep::pause) << to_string(e) << ": nothing reached the API";
    EXPECT_EQ(d.pacer.kind, PacerFeedback::Kind::unreachable);
    EXPECT_EQ(d.cause, "unreachable");
  }
}

TEST(AttemptPolicyTest, AnOutageLongerThanTheLimitStopsTheRunResumably) {
  auto p = make_policy();
  EXPECT_EQ(p.decide(transport(TransportError::connect_failed, false), 1, false, t0).step, NextStep::pause);
  EXPECT_EQ(p.decide(transport(TransportError::timeout, false), 1, false, t0 + 29min).step, NextStep::pause);
  auto d = p.decide(transport(TransportError::connect_failed, false), 1, false, t0 + 30min);
  EXPECT_EQ(d.step, NextStep::stop_run);
  EXPECT_EQ(d.exit_status, exit_stopped);
  EXPECT_TRUE(d.retryable_later);
  EXPECT_NE(d.message.find("unreachable for 30 min"), std::string::npos) << d.message;
}

TEST(AttemptPolicyTest, AnyAnswerEndsTheOutage) {
  auto p = make_policy();
  (void)p.decide(transport(TransportError::connect_failed, false), 1, false, t0);
  (void)p.decide(answered(503), 1, false, t0 + 20min);
  EXPECT_FALSE(p.outage_since());
  EXPECT_EQ(p.decide(transport(TransportError::connect_failed, false), 1, false, t0 + 40min).step, NextStep::pause)
      << "a new outage starts its own clock";
}

TEST(AttemptPolicyTest, RefusedCertificateStopsTheRunAndCancelledJobsStayResumable) {
  auto p = make_policy();
  auto d = p.decide(transport(TransportError::certificate_rejected, false), 1, false, t0);
  EXPECT_EQ(d.step, NextStep::stop_run);
  EXPECT_NE(d.message.find("--ca-file"), std::string::npos);
  auto c = p.decide(transport(TransportError::cancelled, true), 1, true, t0);
  EXPECT_EQ(c.step, NextStep::fail);
  EXPECT_TRUE(c.retryable_later);
}

TEST(AttemptPolicyTest, FullDiskStopsTheRunSoNoMoreRequestsAreWasted) {
  auto p = make_policy();
  auto o = answered(200);
  o.body = BodyOutcome::write_failed;
  o.body_error_message = "cannot write images/a_0.png: No space left on device";
  auto d = p.decide(o, 1, false, t0);
  EXPECT_EQ(d.step, NextStep::stop_run);
  EXPECT_EQ(d.exit_status, exit_stopped);
  EXPECT_TRUE(d.retryable_later);
  EXPECT_NE(d.message.find("No space left"), std::string::npos);
}

TEST(AttemptPolicyTest, StartupCheckFailsFastOnAWrongHostPathOrKey) {
  auto ok = judge_startup_check(TransportError::none, "", 200, "");
  EXPECT_TRUE(ok.proceed);
  auto host = judge_startup_check(TransportError::resolve_failed, "cannot resolve api.venise.ai", 0, "");
  EXPECT_FALSE(host.proceed);
  EXPECT_EQ(host.exit_status, exit_usage);
  auto down = judge_startup_check(TransportError::connect_failed, "refused", 0, "");
  EXPECT_EQ(down.exit_status, exit_stopped);
  auto path = judge_startup_check(TransportError::none, "", 404, "Not found");
  EXPECT_EQ(path.exit_status, exit_usage);
  EXPECT_NE(path.message.find("/api/v1"), std::string::npos);
  auto key = judge_startup_check(TransportError::none, "", 401, "Authentication failed");
  EXPECT_EQ(key.exit_status, exit_stopped);
  auto busy = judge_startup_check(TransportError::none, "", 503, "busy");
  EXPECT_TRUE(busy.proceed) << "a flaky answer is the run's retries' business";
  EXPECT_FALSE(busy.message.empty());
}

TEST(AttemptPolicyTest, AnAnswerInACodingWeCannotReadFailsAtOnceAndALaterRunRetriesIt) {
  auto p = make_policy();
  const auto d = p.decide(transport(TransportError::unsupported_encoding, true), 1, false, t0);
  EXPECT_EQ(d.step, NextStep::fail) << "the same answer would come again: no retries spent on it";
  EXPECT_TRUE(d.retryable_later);
  EXPECT_TRUE(d.pacer.request_sent);
}

// A 204 (or any 2xx but 200) was retried with an empty message: it is an answer without images,
// and says so. It is a success all the same: the API did the work and may have charged for it, so
// the next attempt may pay again (a hostile test's 201 with a whole image was retried uncounted).
TEST(AttemptPolicyTest, ASuccessStatusOtherThan200IsAnAnswerWithoutImagesThatSaysSo) {
  for (const int status : {201, 204, 299}) {
    HttpExchange ex;
    ex.request_sent = true;
    ex.response = HttpResponse{};
    ex.response->status = status;
    const AttemptOutcome o = attempt_outcome(ex, StoredResponse{}, ApiError{}, 0);
    auto p = make_policy();
    auto d = p.decide(o, 1, false, t0);
    EXPECT_EQ(d.step, NextStep::retry);
    EXPECT_EQ(d.cause, "unexpected_status");
    EXPECT_NE(d.message.find(fmt::format("HTTP {}", status)), std::string::npos) << d.message;
    EXPECT_TRUE(d.maybe_billed_twice) << status << " is a success: the retry may be paid again";
    EXPECT_EQ(d.maybe_billed_posts, 1);
  }
}

TEST(AttemptPolicyTest, AHeadOverTheLimitFailsForThisRunWithoutPayingAgain) {
  // Its headers would be as large again: each try would be paid and thrown away.
  auto p = make_policy();
  const auto d = p.decide(transport(TransportError::head_too_large, true), 1, false, t0);
  EXPECT_EQ(d.step, NextStep::fail);
  EXPECT_TRUE(d.retryable_later);
  EXPECT_FALSE(d.maybe_billed_twice);
}
