#include <gtest/gtest.h>

#include "venice_batch/pacing.hpp"

using namespace venice_batch;
using namespace std::chrono_literals;

namespace {

HttpResponse with_headers(std::vector<std::pair<std::string, std::string>> h) {
  HttpResponse r;
  r.status = 200;
  r.headers = std::move(h);
  return r;
}

// Counts how many requests the pacer lets start in [t0, t0 + span) when asked as often as it allows.
int starts_within(Pacer& p, PacingClock::time_point t0, PacingClock::duration span) {
  int n = 0;
  auto t = t0;
  while (t < t0 + span) {
    auto again = p.try_start(t);
    if (!again) {
      ++n;
      continue;
    }
    t = *again;
  }
  return n;
}

}  // namespace

TEST(PacingTest, ResetHeaderIsReadByMagnitude) {
  const std::int64_t now_ms = 1'700'000'000'000;
  auto ms13 = parse_rate_limit_headers(with_headers({{"x-ratelimit-reset-requests", "1700000012000"}}), now_ms);
  ASSERT_TRUE(ms13.reset_in);
  EXPECT_EQ(ms13.reset_in->count(), 12000);
  auto s10 = parse_rate_limit_headers(with_headers({{"x-ratelimit-reset-requests", "1700000030"}}), now_ms);
  EXPECT_EQ(s10.reset_in->count(), 30000);
  auto rel = parse_rate_limit_headers(with_headers({{"x-ratelimit-reset-requests", "7"}}), now_ms);
  EXPECT_EQ(rel.reset_in->count(), 7000);
  auto past = parse_rate_limit_headers(with_headers({{"x-ratelimit-reset-requests", "1699999990000"}}), now_ms);
  EXPECT_EQ(past.reset_in->count(), 0);
}

TEST(PacingTest, FailureBudgetHeadersAreNotTheRequestQuota) {
  auto h = parse_rate_limit_headers(
      with_headers({{"x-ratelimit-remaining", "0"}, {"x-ratelimit-resets", "30"}, {"x-ratelimit-limit", "20"}}), 0);
  EXPECT_FALSE(h.remaining);
  EXPECT_FALSE(h.limit);
  EXPECT_FALSE(h.reset_in);
}

TEST(PacingTest, ConfiguredRateCapsStartsPerMinute) {
  const auto t0 = PacingClock::time_point{} + 1h;
  PacingSettings s;
  s.requests_per_minute = 120;
  s.burst = 1;
  Pacer p(s, t0);
  EXPECT_EQ(starts_within(p, t0, 60s), 120);
}

TEST(PacingTest, BurstLetsAccumulatedTokensGoBackToBack) {
  const auto t0 = PacingClock::time_point{} + 1h;
  PacingSettings s;
  s.requests_per_minute = 60;
  s.burst = 5;
  Pacer p(s, t0);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(p.try_start(t0)) << i;
  EXPECT_TRUE(p.try_start(t0));
}

TEST(PacingTest, LearnsRateFromHeadersAndNeverExceedsStatedLimitPerMinute) {
  const auto t0 = PacingClock::time_point{} + 1h;
  Pacer p(PacingSettings{}, t0);
  EXPECT_EQ(p.current_rate(), 0);
  p.on_answer(t0, 200, RateLimitHeaders{20, 19, 60000ms, std::nullopt}, false, true);
  EXPECT_DOUBLE_EQ(p.current_rate(), 20);
  // Over any 60 s window the number of starts stays within the stated 20.
  EXPECT_LE(starts_within(p, t0, 60s), 20);
}

TEST(PacingTest, RemainingZeroHoldsEverythingUntilReset) {
  const auto t0 = PacingClock::time_point{} + 1h;
  Pacer p(PacingSettings{}, t0);
  p.on_answer(t0, 200, RateLimitHeaders{100, 0, 12000ms, std::nullopt}, false, true);
  auto again = p.try_start(t0 + 1s);
  ASSERT_TRUE(again);
  // At the reset, give or take a moment for clocks that are not exact.
  EXPECT_GE(*again, t0 + 12s);
  EXPECT_LE(*again, t0 + 12s + 500ms);
  EXPECT_EQ(p.hold(t0 + 1s), PacingHold::quota_reset);
  EXPECT_EQ(p.describe(t0 + 1s), "100/12s (0 left), waiting 12 s (quota reset)");
}

TEST(PacingTest, RetryAfterOn429BlocksAllSending) {
  const auto t0 = PacingClock::time_point{} + 1h;
  Pacer p(PacingSettings{}, t0);
  p.on_answer(t0, 429, RateLimitHeaders{std::nullopt, std::nullopt, std::nullopt, 30000ms}, false, true);
  EXPECT_EQ(p.try_start(t0 + 10s).value(), t0 + 30s);
  EXPECT_FALSE(p.try_start(t0 + 30s));
}

TEST(PacingTest, FailureLockWaitsAtLeastThirtySeconds) {
  const auto t0 = PacingClock::time_point{} + 1h;
  Pacer p(PacingSettings{}, t0);
  p.on_answer(t0, 429, RateLimitHeaders{std::nullopt, std::nullopt, 2000ms, std::nullopt}, true, true);
  EXPECT_EQ(p.try_start(t0 + 1s).value(), t0 + 30s);
  EXPECT_EQ(p.hold(t0 + 1s), PacingHold::failure_lock);
}

TEST(PacingTest, PausesBeforeOwnFailuresReachTheApiLockThreshold) {
  const auto t0 = PacingClock::time_point{} + 1h;
  PacingSettings s;
  s.failure_window = 30s;
  s.max_failures = 15;
  Pacer p(s, t0);
  for (int i = 0; i < 14; ++i) p.on_answer(t0 + std::chrono::seconds(i), 500, {}, false, true);
  EXPECT_FALSE(p.try_start(t0 + 14s));
  p.on_answer(t0 + 14s, 503, {}, false, true);
  // 15 failures in the window: hold until the oldest leaves the 30 s window.
  auto again = p.try_start(t0 + 15s);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, t0 + 30s);
  EXPECT_FALSE(p.try_start(t0 + 30s));
}

TEST(PacingTest, NetworkFailureBeforeSendingDoesNotCountAsApiFailure) {
  const auto t0 = PacingClock::time_point{} + 1h;
  PacingSettings s;
  s.failure_window = 30s;
  s.max_failures = 2;
  Pacer p(s, t0);
  for (int i = 0; i < 5; ++i) p.on_answer(t0, 0, {}, false, false);
  EXPECT_FALSE(p.try_start(t0));
}

TEST(PacingTest, FailureLockIgnoresTheRequestQuotaResetTime) {
  const auto t0 = PacingClock::time_point{} + 1h;
  Pacer p(PacingSettings{}, t0);
  // The quota window resets in 55 s; the lock lasts 30 s: wait for the lock, not the window.
  p.on_answer(t0, 429, RateLimitHeaders{100, 50, 55000ms, std::nullopt}, true, true);
  EXPECT_EQ(p.try_start(t0 + 1s).value(), t0 + 30s);
}

TEST(PacingTest, FailureLockHoldsEveryStartForThirtySecondsWhateverTheQuotaSays) {
  const auto t0 = PacingClock::time_point{} + 1h;
  Pacer p(PacingSettings{}, t0);
  // The lock's 429 says the request quota resets in 2 s; an answer still in flight then comes
  // back 200 with quota to spare, resetting in 1 s. Neither may shorten the lock.
  p.on_answer(t0, 429, RateLimitHeaders{100, 0, 2000ms, std::nullopt}, true, true);
  p.on_answer(t0 + 500ms, 200, RateLimitHeaders{100, 50, 1000ms, std::nullopt}, false, true);
  for (auto t = t0; t < t0 + 30s; t += 250ms) {
    const auto again = p.try_start(t);
    ASSERT_TRUE(again) << "a request started " << (t - t0) / 1ms << " ms into the lock";
    EXPECT_GE(*again, t0 + 30s);
    EXPECT_EQ(p.hold(t), PacingHold::failure_lock);
  }
  EXPECT_FALSE(p.try_start(t0 + 30s)) << "held past the lock";
}

TEST(PacingTest, EachVariantCountsAgainstTheLimitAsOneImage) {
  const auto t0 = PacingClock::time_point{} + 1h;
  Pacer p(PacingSettings{}, t0);
  p.on_answer(t0, 200, RateLimitHeaders{20, 20, 60000ms, std::nullopt}, false, true);
  // 4-variant requests against 20 images a minute: at most 5 such requests in any 60 s.
  int started = 0;
  auto t = t0;
  while (t < t0 + 60s) {
    auto again = p.try_start(t, 4);
    if (!again) {
      ++started;
      continue;
    }
    t = *again;
  }
  EXPECT_EQ(started, 5);
}

TEST(PacingTest, RequestCostlierThanTheBurstStillStartsAndLeavesADebt) {
  const auto t0 = PacingClock::time_point{} + 1h;
  PacingSettings s;
  s.requests_per_minute = 60;  // one token a second
  s.burst = 1;
  Pacer p(s, t0);
  EXPECT_FALSE(p.try_start(t0, 4));              // starts on the one token it has
  auto again = p.try_start(t0 + 1s, 1);          // then waits out the debt of 3
  ASSERT_TRUE(again);
  EXPECT_GE(*again, t0 + 3s);
}

TEST(PacingTest, UnreachableApiHoldsSendingWithGrowingWaitsUntilItAnswers) {
  const auto t0 = PacingClock::time_point{} + 1h;
  Pacer p(PacingSettings{}, t0);
  p.on_unreachable(t0);
  EXPECT_EQ(p.try_start(t0).value(), t0 + 1s);
  p.on_unreachable(t0 + 1s);
  EXPECT_EQ(p.try_start(t0 + 1s).value(), t0 + 3s);
  EXPECT_EQ(p.hold(t0 + 2s), PacingHold::unreachable);
  for (int i = 0; i < 20; ++i) p.on_unreachable(t0 + 3s);
  EXPECT_EQ(p.try_start(t0 + 3s).value(), t0 + 63s) << "capped at 60 s";
  p.on_answer(t0 + 63s, 200, {}, false, true);
  p.on_unreachable(t0 + 64s);
  EXPECT_EQ(p.try_start(t0 + 64s).value(), t0 + 65s) << "an answer resets the backoff";
}

// --- ModelPacer: the window is what the headers say ---

namespace {

const auto m0 = PacingClock::time_point{} + 1h;

RateLimitHeaders quota(std::uint64_t limit, std::uint64_t remaining, std::chrono::milliseconds reset_in) {
  return RateLimitHeaders{limit, remaining, reset_in, std::nullopt};
}

// Starts at `t` until the pacer says wait; how many went.
int spend(ModelPacer& p, PacingClock::time_point t) {
  int n = 0;
  while (!p.try_start(t)) ++n;
  return n;
}

}  // namespace

TEST(ModelPacerTest, SpendsWhatRemainsAndHoldsUntilTheStatedReset) {
  ModelPacer p(PacingSettings{}, m0);
  p.on_answer(m0, 200, quota(60, 50, 10s), false);
  EXPECT_EQ(spend(p, m0), 50) << "what remains may go at once";
  const auto wait = p.try_start(m0 + 1s);
  ASSERT_TRUE(wait);
  EXPECT_GE(wait->until, m0 + 10s);
  EXPECT_LE(wait->until, m0 + 10500ms);
  EXPECT_EQ(wait->why, PacingHold::quota_reset);
  EXPECT_EQ(spend(p, wait->until), 60) << "a new window: all of the limit";
}

TEST(ModelPacerTest, LearnsATwentySecondWindowFromTheResetJumpAtARollover) {
  ModelPacer p(PacingSettings{}, m0);
  // The first answer comes half a second into the window: it only shows the window is >= 19.5 s.
  p.on_answer(m0, 200, quota(60, 59, 19500ms), false);
  EXPECT_EQ(p.window(), 19500ms);
  spend(p, m0);
  const auto reset = p.try_start(m0)->until;
  EXPECT_EQ(spend(p, reset), 60);
  // The next window's first answer: its reset is 20 s after the last one.
  p.on_answer(reset + 250ms, 200, quota(60, 0, 19750ms), false);
  ASSERT_TRUE(p.window());
  EXPECT_GE(*p.window(), 20s);
  EXPECT_LE(*p.window(), 20500ms);
  EXPECT_EQ(p.describe_limit(reset + 1s), "60/20s (0 left)");
  EXPECT_NEAR(p.current_rate(), 180, 5) << "60 per 20 s is 180 a minute, not 60";
}

TEST(ModelPacerTest, AfterARolloverTheNewWindowLastsTheLearnedLengthFromOurFirstStart) {
  ModelPacer p(PacingSettings{}, m0);
  p.on_answer(m0, 200, quota(10, 0, 20s), false);
  const auto opens = p.try_start(m0)->until;
  EXPECT_EQ(spend(p, opens + 2s), 10) << "no answer yet: the whole limit, from the first start";
  const auto next = p.try_start(opens + 3s);
  ASSERT_TRUE(next);
  EXPECT_GE(next->until, opens + 22s) << "the window opened with our first start at the latest";
}

TEST(ModelPacerTest, AnAnswerStatedBeforeOurLatestStartsDoesNotGiveThemBack) {
  ModelPacer p(PacingSettings{}, m0);
  p.on_answer(m0, 200, quota(20, 10, 30s), false);
  for (int i = 0; i < 5; ++i) ASSERT_FALSE(p.try_start(m0));
  p.on_answer(m0 + 1s, 200, quota(20, 8, 29s), false);  // counted before three of our starts
  EXPECT_EQ(p.remaining(m0 + 1s), 5);
  p.on_answer(m0 + 2s, 200, quota(20, 3, 28s), false);  // someone else used the key too
  EXPECT_EQ(p.remaining(m0 + 2s), 3);
}

TEST(ModelPacerTest, AnAnswerForAWindowAlreadyOverChangesNothing) {
  ModelPacer p(PacingSettings{}, m0);
  p.on_answer(m0, 200, quota(20, 0, 10s), false);
  p.on_answer(m0 + 1s, 200, quota(20, 20, 0ms), false);
  const auto wait = p.try_start(m0 + 1s);
  ASSERT_TRUE(wait);
  EXPECT_GE(wait->until, m0 + 10s);
}

TEST(ModelPacerTest, AResetInWholeSecondsIsWaitedOutWithASecondToSpare) {
  const std::int64_t now_ms = 1'700'000'000'000;
  EXPECT_EQ(parse_rate_limit_headers(with_headers({{"x-ratelimit-reset-requests", "1700000012000"}}), now_ms)
                .reset_granularity, 0ms);
  EXPECT_EQ(parse_rate_limit_headers(with_headers({{"x-ratelimit-reset-requests", "1700000012"}}), now_ms)
                .reset_granularity, 1000ms);
  EXPECT_EQ(parse_rate_limit_headers(with_headers({{"x-ratelimit-reset-requests", "12"}}), now_ms).reset_granularity,
            1000ms);
  EXPECT_EQ(parse_rate_limit_headers(with_headers({{"x-ratelimit-reset-requests", "11.5"}}), now_ms).reset_granularity,
            0ms);
  ModelPacer p(PacingSettings{}, m0);
  auto h = quota(20, 0, 12s);
  h.reset_granularity = 1s;  // "12" may have been 12.9
  p.on_answer(m0, 200, h, false);
  EXPECT_GE(p.try_start(m0)->until, m0 + 13s);
}

TEST(ModelPacerTest, WithoutAResetAnEmptyQuotaIsProbedOnceASecond) {
  ModelPacer p(PacingSettings{}, m0);
  p.on_answer(m0, 200, RateLimitHeaders{20, 0, std::nullopt, std::nullopt}, false);
  EXPECT_EQ(p.try_start(m0 + 100ms)->until, m0 + 1s);
  EXPECT_FALSE(p.try_start(m0 + 1s));
  EXPECT_EQ(p.try_start(m0 + 1s)->until, m0 + 2s);
}

TEST(ModelPacerTest, AConfiguredRateStillCapsAModelWhoseHeadersAllowMore) {
  PacingSettings s;
  s.requests_per_minute = 60;
  ModelPacer p(s, m0);
  p.on_answer(m0, 200, quota(100, 100, 60s), false);
  EXPECT_FALSE(p.try_start(m0));
  const auto next = p.try_start(m0);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->why, PacingHold::rate);
  EXPECT_EQ(next->until, m0 + 1s);
}
