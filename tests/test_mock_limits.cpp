// The emulator's per-model limits and balance, without I/O, driven with made-up times: each
// model's own quota and window, the daily cap, the balance each billed request takes its price
// from, and the text forms of limits and money.
#include <gtest/gtest.h>

#include "venice_batch/mock_policy.hpp"

using namespace venice_batch;
using namespace std::chrono_literals;

namespace {

const auto t0 = MockClock::time_point{} + 1h;

// No chance is involved: an empty source would throw if the policy drew from it.
const UniformSource no_chance;

MockDecision request(MockPolicy& p, MockClock::time_point now, std::string_view model, unsigned units = 1,
                     Micros price = 0) {
  const auto arrival = p.on_request(now);
  return p.decide(now, arrival.number, {model, units, price});
}

}  // namespace

TEST(MockLimitsTest, ModelExhaustedDoesNotLimitAnother) {
  MockFaults f;
  f.model_rpm = parse_model_limits("a=2,b=3");
  MockPolicy p(f, no_chance);
  EXPECT_FALSE(request(p, t0, "a").over_quota);
  EXPECT_FALSE(request(p, t0, "a").over_quota);
  const auto refused = request(p, t0, "a");
  EXPECT_TRUE(refused.over_quota);
  EXPECT_EQ(p.quota(t0, "a", refused).remaining, 0u);
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(request(p, t0, "b").over_quota) << "b's quota is its own";
  EXPECT_TRUE(request(p, t0, "b").over_quota);
  EXPECT_EQ(p.quota(t0, "a").limit, 2u);
  EXPECT_EQ(p.quota(t0, "b").limit, 3u);
}

TEST(MockLimitsTest, ModelsNotNamedTakeTheDefaultLimitOrNone) {
  MockFaults f;
  f.model_rpm = parse_model_limits("a=2");
  MockPolicy unlimited(f, no_chance);
  EXPECT_EQ(unlimited.stated_limit("x"), kUnlimitedRequestsPerMinute);
  for (int i = 0; i < 500; ++i) ASSERT_FALSE(request(unlimited, t0, "x", 4).over_quota) << "no default limit: never refused";
  f.requests_per_minute = 5;
  MockPolicy limited(f, no_chance);
  EXPECT_EQ(limited.stated_limit("x"), 5u);
  EXPECT_EQ(limited.stated_limit("a"), 2u);
  EXPECT_TRUE(request(limited, t0, "x", 6).over_quota);
}

TEST(MockLimitsTest, TwentySecondWindowCountsItsLimitAndStatesItsReset) {
  MockFaults f;
  f.requests_per_minute = 60;
  f.rate_window = 20s;
  MockPolicy p(f, no_chance);
  EXPECT_EQ(p.quota(t0, "m").reset_in, 20s) << "before any request: a whole window";
  for (int i = 0; i < 60; ++i) ASSERT_FALSE(request(p, t0 + i * 100ms, "m").over_quota) << i;
  auto q = p.quota(t0 + 6s, "m");
  EXPECT_EQ(q.remaining, 0u);
  EXPECT_EQ(q.reset_in, 14s) << "the window began with the first request";
  EXPECT_TRUE(request(p, t0 + 20s - 1ms, "m").over_quota);
  EXPECT_FALSE(request(p, t0 + 20s, "m").over_quota) << "a new window: 60 more";
  q = p.quota(t0 + 20s, "m");
  EXPECT_EQ(q.remaining, 59u);
  EXPECT_EQ(q.reset_in, 20s);
}

TEST(MockLimitsTest, DailyCapRefusesUntilTheDayEndsAndOnlyItsModel) {
  MockFaults f;
  f.requests_per_minute = 100;
  f.model_rpd = parse_model_limits("a=3");
  MockPolicy p(f, no_chance);
  EXPECT_EQ(p.daily_limit("a"), 3u);
  EXPECT_FALSE(p.daily_limit("b"));
  EXPECT_FALSE(request(p, t0, "a", 2).over_daily_quota) << "each variant counts";
  EXPECT_FALSE(request(p, t0 + 2h, "a").over_daily_quota);
  const auto refused = request(p, t0 + 3h, "a");
  EXPECT_TRUE(refused.over_daily_quota);
  EXPECT_FALSE(refused.over_quota);
  const auto q = p.quota(t0 + 3h, "a", refused);
  EXPECT_EQ(q.remaining, 0u);
  EXPECT_EQ(q.reset_in, 21h) << "the reset the client must wait for is the day's end";
  EXPECT_FALSE(request(p, t0 + 3h, "b").over_daily_quota);
  EXPECT_TRUE(request(p, t0 + 24h - 1ms, "a").over_daily_quota);
  EXPECT_FALSE(request(p, t0 + 24h, "a").over_daily_quota);
}

TEST(MockLimitsTest, BalanceGoesDownByExactlyEachBilledPriceThenRefuses) {
  MockPolicy p(MockFaults{}, no_chance, to_micros(0.25));
  Micros expected = to_micros(0.25);
  for (int i = 0; i < 3; ++i) {
    const auto d = request(p, t0, "gpt-image-2", 1, to_micros(0.07));
    EXPECT_EQ(d.balance_before, expected) << "the balance as the request found it";
    EXPECT_EQ(d.charged, to_micros(0.07));
    expected -= to_micros(0.07);
  }
  EXPECT_EQ(format_micros(p.balance()), "0.04");
  const auto refused = request(p, t0, "gpt-image-2", 1, to_micros(0.07));
  EXPECT_TRUE(refused.insufficient_balance) << "0.04 cannot cover 0.07";
  EXPECT_EQ(refused.charged, 0);
  EXPECT_EQ(refused.fault, MockFault::ok) << "no fault drawn";
  EXPECT_FALSE(request(p, t0, "z-image-turbo", 4, to_micros(0.04)).insufficient_balance) << "exactly covered";
  EXPECT_EQ(p.balance(), 0);
  EXPECT_EQ(format_micros(p.spent()), "0.25");
  EXPECT_FALSE(request(p, t0, "venice-preview").insufficient_balance) << "a free model costs nothing";
}

TEST(MockLimitsTest, ContentViolationsErrorsAndRefusalsCostNothing) {
  MockFaults f;
  f.schedule = parse_fault_schedule("violation,500,429,close,invalid_json,ok");
  f.model_rpm = parse_model_limits("m=6");
  MockPolicy p(f, no_chance, to_micros(10));
  std::vector<Micros> charged;
  for (int i = 0; i < 7; ++i) charged.push_back(request(p, t0, "m", 1, to_micros(0.5)).charged);
  const auto half = to_micros(0.5);
  EXPECT_EQ(charged, (std::vector<Micros>{0, 0, 0, half, half, half, 0}))
      << "billed: the 200s and the answers lost after the work; not the violation, the errors, the refused 7th";
  EXPECT_EQ(format_micros(p.balance()), "8.50");
}

TEST(MockLimitsTest, FailureLockIsPerKeyAcrossModels) {
  MockFaults f;
  f.failure_lock = true;
  f.lock_threshold = 2;
  MockPolicy p(f, no_chance);
  for (int i = 0; i < 3; ++i) p.on_answer(t0, 400);  // say, three bad requests to model a
  EXPECT_TRUE(p.on_request(t0 + 1s).locked) << "whatever model the next request names";
}

TEST(MockLimitsTest, ModelLimitsTextIsParsed) {
  EXPECT_EQ(parse_model_limits("z-image-turbo=30,venice-sd35=90"), (ModelLimits{{"z-image-turbo", 30}, {"venice-sd35", 90}}));
  EXPECT_EQ(parse_model_limits("a=1,,a=2"), (ModelLimits{{"a", 2}})) << "the last one counts";
  EXPECT_EQ(parse_model_limits("org/model=0"), (ModelLimits{{"org/model", 0}}));
  EXPECT_TRUE(parse_model_limits("").empty());
  for (const char* bad : {"a", "=3", "a=", "a=x", "a=-1", "a=99999999999"}) EXPECT_THROW(parse_model_limits(bad), std::invalid_argument) << bad;
  try {
    parse_model_limits("a=1,b");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "'b' is not model=N");
  }
}

TEST(MockLimitsTest, MoneyIsStatedWithTwoToSixDecimals) {
  EXPECT_EQ(to_micros(0.83), 830000);
  EXPECT_EQ(to_micros(0.1) * 3, to_micros(0.3)) << "no floating-point drift";
  EXPECT_EQ(format_micros(830000), "0.83");
  EXPECT_EQ(format_micros(0), "0.00");
  EXPECT_EQ(format_micros(to_micros(1e6)), "1000000.00");
  EXPECT_EQ(format_micros(20001), "0.020001");
  EXPECT_EQ(format_micros(1500000), "1.50");
  EXPECT_EQ(format_micros(-500000), "-0.50");
}
