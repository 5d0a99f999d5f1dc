// The emulator's decisions driven with made-up times and a scripted or seeded random source:
// the quota window, the failure lock, the fault schedule and the probabilities. (Per-model
// limits, the daily cap and the balance: test_mock_limits.cpp.)
#include <gtest/gtest.h>

#include <random>

#include "venice_batch/mock_policy.hpp"

using namespace venice_batch;
using namespace std::chrono_literals;

namespace {

const auto t0 = MockClock::time_point{} + 1h;

// A source that must not be asked: the decision needs no chance.
UniformSource never() {
  return [] {
    ADD_FAILURE() << "the random source was used";
    return 0.0;
  };
}

// Plays back `draws` in order, then fails.
UniformSource scripted(std::vector<double> draws) {
  return [draws = std::move(draws), next = std::size_t{0}]() mutable {
    if (next >= draws.size()) {
      ADD_FAILURE() << "more draws than scripted";
      return 0.0;
    }
    return draws[next++];
  };
}

MockFaults with_schedule(const std::string& text) {
  MockFaults f;
  f.schedule = parse_fault_schedule(text);
  return f;
}

// One valid request of `cost` units to model "m" at `now`: its decision.
MockDecision request(MockPolicy& p, MockClock::time_point now, unsigned cost = 1) {
  const auto arrival = p.on_request(now);
  return p.decide(now, arrival.number, {.model = "m", .units = cost});
}

}  // namespace

TEST(MockPolicyTest, ScheduleTextKeepsItsSyntaxAndNames) {
  using F = MockFault;
  EXPECT_EQ(parse_fault_schedule("ok,500,429x3,close"),
            (std::vector<F>{F::ok, F::server_error_500, F::rate_limited, F::rate_limited, F::rate_limited,
                            F::close_mid_body}));
  EXPECT_EQ(parse_fault_schedule("503,short,stall,invalid_json,invalid_base64,401,402,lock"),
            (std::vector<F>{F::unavailable_503, F::short_body, F::stall, F::invalid_json, F::invalid_base64,
                            F::unauthorized_401, F::payment_402, F::failure_lock}));
  EXPECT_EQ(parse_fault_schedule("invalid_jsonx2,,lockx0"), (std::vector<F>{F::invalid_json, F::invalid_json}));
  EXPECT_TRUE(parse_fault_schedule("").empty());
}

TEST(MockPolicyTest, UnknownFaultIsRefusedByName) {
  try {
    parse_fault_schedule("ok,418");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "unknown fault '418'");
  }
  EXPECT_THROW(parse_fault_schedule("500xz"), std::invalid_argument);
  EXPECT_THROW(parse_fault_schedule("x3"), std::invalid_argument);
}

TEST(MockPolicyTest, EveryFaultNameRoundTrips) {
  for (auto name : {"ok", "429", "500", "503", "close", "short", "stall", "invalid_json", "invalid_base64", "401",
                    "402", "lock", "violation", "corrupt_compressed", "cut_compressed"}) {
    const auto fault = parse_fault_name(name);
    ASSERT_TRUE(fault) << name;
    EXPECT_EQ(to_string(*fault), name);
  }
  EXPECT_FALSE(parse_fault_name("OK"));
}

TEST(MockPolicyTest, ScheduleIsFollowedByRequestNumberThenTheProbabilities) {
  MockFaults f = with_schedule("500,ok,lock");
  f.p_503 = 1.0;
  MockPolicy p(f, scripted({0.0}));
  EXPECT_EQ(request(p, t0).fault, MockFault::server_error_500);
  EXPECT_EQ(request(p, t0).fault, MockFault::ok) << "an 'ok' in the schedule draws nothing";
  EXPECT_EQ(request(p, t0).fault, MockFault::failure_lock);
  EXPECT_EQ(request(p, t0).fault, MockFault::unavailable_503) << "past the schedule, the probabilities";
}

TEST(MockPolicyTest, RequestsRefusedBeforeTheDecisionStillTakeTheirPlaceInTheSchedule) {
  MockPolicy p(with_schedule("500,503"), never());
  EXPECT_EQ(p.on_request(t0).number, 1u);  // say, refused for a wrong key
  const auto second = p.on_request(t0);
  EXPECT_EQ(second.number, 2u);
  EXPECT_EQ(p.decide(t0, second.number, {.model = "m"}).fault, MockFault::unavailable_503);
}

TEST(MockPolicyTest, ProbabilitiesAreTriedInTurnEachWithItsOwnDraw) {
  MockFaults f;
  f.p_429 = 0.5;
  f.p_500 = 0.5;
  f.p_close = 0.1;
  // 0.7 misses the 429, 0.6 misses the 500, 0.05 hits close; p_503 = 0 draws nothing.
  MockPolicy p(f, scripted({0.7, 0.6, 0.05, 0.2}));
  EXPECT_EQ(request(p, t0).fault, MockFault::close_mid_body);
  EXPECT_EQ(request(p, t0).fault, MockFault::rate_limited);
}

TEST(MockPolicyTest, SeededSourceInjectsFaultsAtAboutTheirProbability) {
  MockFaults f;
  f.p_500 = 0.25;
  std::mt19937_64 rng(42);
  MockPolicy p(f, [&rng] { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); });
  int errors = 0;
  for (int i = 0; i < 4000; ++i) errors += request(p, t0 + i * 1ms).fault == MockFault::server_error_500;
  EXPECT_GT(errors, 900);
  EXPECT_LT(errors, 1100);
}

TEST(MockPolicyTest, QuotaCountsEachVariantAndRefusesPastTheLimit) {
  MockFaults f;
  f.requests_per_minute = 5;
  MockPolicy p(f, never());
  EXPECT_FALSE(request(p, t0, 2).over_quota);
  EXPECT_FALSE(request(p, t0 + 1s, 2).over_quota);
  const auto refused = request(p, t0 + 2s, 2);
  EXPECT_TRUE(refused.over_quota) << "5 units a minute, 6 asked";
  EXPECT_EQ(refused.fault, MockFault::ok);
  EXPECT_EQ(p.quota(t0 + 2s, "m", refused).remaining, 0u);
  EXPECT_EQ(p.quota(t0 + 2s, "m").remaining, 1u) << "a refused request is not charged";
  EXPECT_FALSE(request(p, t0 + 3s, 1).over_quota);
  EXPECT_TRUE(request(p, t0 + 59s, 1).over_quota);
}

TEST(MockPolicyTest, QuotaWindowResetsSixtySecondsAfterItsFirstRequest) {
  MockFaults f;
  f.requests_per_minute = 3;
  MockPolicy p(f, never());
  request(p, t0 + 10s, 3);
  auto q = p.quota(t0 + 25s, "m");
  EXPECT_EQ(q.limit, 3u);
  EXPECT_EQ(q.remaining, 0u);
  EXPECT_EQ(q.reset_in, 45s) << "the window started with its first request";
  EXPECT_TRUE(request(p, t0 + 70s - 1ms, 1).over_quota);
  EXPECT_FALSE(request(p, t0 + 70s, 1).over_quota);
  q = p.quota(t0 + 70s, "m");
  EXPECT_EQ(q.remaining, 2u);
  EXPECT_EQ(q.reset_in, 60s);
}

TEST(MockPolicyTest, QuotaOffStatesAGenerousLimitAndNeverRefuses) {
  MockPolicy p(MockFaults{}, never());
  for (int i = 0; i < 1000; ++i) ASSERT_FALSE(request(p, t0, 4).over_quota);
  EXPECT_EQ(p.stated_limit("m"), kUnlimitedRequestsPerMinute);
  EXPECT_EQ(p.quota(t0, "m").remaining, kUnlimitedRequestsPerMinute - 4000);
}

TEST(MockPolicyTest, InjectedRateLimitStatesNothingRemainingAndItsOwnReset) {
  MockFaults f = with_schedule("429");
  f.reset_after_429 = 1500ms;
  MockPolicy p(f, never());
  const auto d = request(p, t0);
  ASSERT_EQ(d.fault, MockFault::rate_limited);
  const auto q = p.quota(t0 + 1s, "m", d);
  EXPECT_EQ(q.remaining, 0u);
  EXPECT_EQ(q.reset_in, 1500ms);
}

TEST(MockPolicyTest, OverQuotaRequestDrawsNoFault) {
  MockFaults f;
  f.requests_per_minute = 1;
  f.p_500 = 1.0;
  MockPolicy p(f, scripted({0.0}));  // one draw: the first request's
  EXPECT_EQ(request(p, t0).fault, MockFault::server_error_500);
  EXPECT_TRUE(request(p, t0).over_quota);
}

namespace {

MockFaults lock_after(unsigned threshold) {
  MockFaults f;
  f.failure_lock = true;
  f.lock_threshold = threshold;
  f.lock_duration = 30s;
  return f;
}

}  // namespace

TEST(MockPolicyTest, MoreThanThresholdFailuresLockEveryRequest) {
  MockPolicy p(lock_after(20), never());
  for (int i = 0; i < 20; ++i) p.on_answer(t0 + i * 10ms, 500);
  EXPECT_FALSE(p.on_request(t0 + 1s).locked) << "20 failures is not more than 20";
  p.on_answer(t0 + 1s, 401);
  EXPECT_TRUE(p.on_request(t0 + 1s).locked);
  EXPECT_TRUE(p.on_request(t0 + 20s).locked);
}

TEST(MockPolicyTest, LockOpensExactlyAfterItsDuration) {
  MockPolicy p(lock_after(2), never());
  for (int i = 0; i < 3; ++i) p.on_answer(t0, 503);
  EXPECT_TRUE(p.on_request(t0 + 30s - 1ms).locked);
  EXPECT_FALSE(p.on_request(t0 + 30s).locked);
}

TEST(MockPolicyTest, OnlyNonSuccessAnswersInTheLastThirtySecondsCount) {
  MockPolicy p(lock_after(2), never());
  p.on_answer(t0, 500);
  p.on_answer(t0, 429);
  for (int i = 0; i < 50; ++i) p.on_answer(t0 + 1s, 200);
  p.on_answer(t0 + 30s, 500);
  EXPECT_FALSE(p.on_request(t0 + 30s).locked) << "the failures at t0 are 30 s old";
  p.on_answer(t0 + 31s, 400);
  p.on_answer(t0 + 32s, 402);
  EXPECT_TRUE(p.on_request(t0 + 32s).locked);
}

TEST(MockPolicyTest, LockOffNeverLocks) {
  MockFaults f = lock_after(2);
  f.failure_lock = false;
  MockPolicy p(f, never());
  for (int i = 0; i < 100; ++i) p.on_answer(t0, 500);
  EXPECT_FALSE(p.on_request(t0).locked);
}
