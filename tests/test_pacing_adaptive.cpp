// Pacing without quota headers (bare 429s) and the forms of Retry-After, with made-up times.
#include <gtest/gtest.h>

#include "venice_batch/pacing.hpp"

using namespace venice_batch;
using namespace std::chrono_literals;

namespace {

const auto t0 = PacingClock::time_point{} + 1h;

HttpResponse with_headers(std::vector<std::pair<std::string, std::string>> h) {
  HttpResponse r;
  r.status = 429;
  r.headers = std::move(h);
  return r;
}

// Requests started in [from, from + span) when each one starts as soon as the pacer allows.
int starts_within(Pacer& p, PacingClock::time_point from, PacingClock::duration span) {
  int n = 0;
  for (auto t = from; t < from + span;) {
    if (auto again = p.try_start(t)) t = *again;
    else {
      ++n;
      p.on_answer(t, 200, {}, false, true);
    }
  }
  return n;
}

}  // namespace

TEST(PacingAdaptiveTest, OneBare429AfterTwoRequestsDoesNotCollapseTheRate) {
  Pacer p(PacingSettings{}, t0);
  EXPECT_FALSE(p.try_start(t0));
  EXPECT_FALSE(p.try_start(t0 + 100ms));
  p.on_answer(t0 + 200ms, 429, {}, false, true);
  EXPECT_GE(p.current_rate(), 10.0) << "two samples say nothing about the API's rate";
  // The next 45 s: before the fix, 9 requests (gaps of 12, 10, 9, 7 s).
  EXPECT_GE(starts_within(p, t0 + 2s, 45s), 18) << "twice what it was";
}

TEST(PacingAdaptiveTest, RateRecoversQuicklyOnceTwoHundredsComeBack) {
  Pacer p(PacingSettings{}, t0);
  for (int i = 0; i < 60; ++i) EXPECT_FALSE(p.try_start(t0 + i * 500ms));
  p.on_answer(t0 + 30s, 429, {}, false, true);
  const double cut = p.current_rate();
  EXPECT_LE(cut, 70.0) << "halved from the ~120/min observed";
  for (int i = 0; i < 10; ++i) p.on_answer(t0 + 31s + i * 1s, 200, {}, false, true);
  EXPECT_GE(p.current_rate(), cut * 2) << "ten successes double it";
}

TEST(PacingAdaptiveTest, A429BurstFromRequestsInFlightCountsAsOneSignal) {
  Pacer p(PacingSettings{}, t0);
  for (int i = 0; i < 60; ++i) EXPECT_FALSE(p.try_start(t0 + i * 500ms));
  p.on_answer(t0 + 30s, 429, {}, false, true);
  const double cut = p.current_rate();
  for (int i = 1; i < 8; ++i) p.on_answer(t0 + 30s + i * 100ms, 429, {}, false, true);
  EXPECT_DOUBLE_EQ(p.current_rate(), cut);
}

TEST(PacingAdaptiveTest, RetryAfterAsAnHttpDateIsRead) {
  const std::int64_t now_ms = 784111777000;  // Sun, 06 Nov 1994 08:49:37 GMT
  auto h = parse_rate_limit_headers(with_headers({{"retry-after", "Sun, 06 Nov 1994 08:50:07 GMT"}}), now_ms);
  ASSERT_TRUE(h.retry_after);
  EXPECT_EQ(*h.retry_after, 30s);
  auto past = parse_rate_limit_headers(with_headers({{"retry-after", "Sun, 06 Nov 1994 08:00:00 GMT"}}), now_ms);
  EXPECT_EQ(past.retry_after.value(), 0ms);
  auto junk = parse_rate_limit_headers(with_headers({{"retry-after", "soon"}}), now_ms);
  EXPECT_FALSE(junk.retry_after);
}

TEST(PacingAdaptiveTest, AbsurdWaitsAreCappedAtFiveMinutes) {
  const std::int64_t now_ms = 1700000000000;
  auto h = parse_rate_limit_headers(with_headers({{"retry-after", "999999999"}}), now_ms);
  EXPECT_EQ(h.retry_after.value(), 300s);
  auto far = parse_rate_limit_headers(with_headers({{"x-ratelimit-reset-requests", "1800000000"}}), now_ms);
  EXPECT_EQ(far.reset_in.value(), 300s);
  Pacer p(PacingSettings{}, t0);
  p.on_answer(t0, 429, h, false, true);
  EXPECT_EQ(p.try_start(t0).value(), t0 + 300s);
}
