// SpendGuard: --max-spend and --min-balance driven by made-up sequences of attempts.
#include <gtest/gtest.h>

#include <cstdlib>
#include <deque>

#include <fmt/format.h>

#include "venice_batch/spend.hpp"

using namespace venice_batch;

namespace {

Price usd(double amount, std::optional<double> diem = std::nullopt) { return Price{amount, diem}; }

SpendGuard capped(double cap) { return SpendGuard(SpendLimits{cap, 0}); }

}  // namespace

TEST(SpendTest, CapAdmitsExactlyWhatFits) {
  SpendGuard g = capped(0.05);
  for (int i = 0; i < 5; ++i) {
    auto d = g.reserve(usd(0.01));
    ASSERT_EQ(d.kind, SpendDecision::Kind::go) << i;
    g.settle(d.reservation, Billing::billed);
  }
  auto sixth = g.reserve(usd(0.01));
  EXPECT_EQ(sixth.kind, SpendDecision::Kind::stop);
  EXPECT_DOUBLE_EQ(g.totals().estimated.usd, 0.05);
  EXPECT_EQ(g.totals().billed.attempts, 5u);
}

TEST(SpendTest, StopMessageNamesCapSpendAndNextPrice) {
  SpendGuard g = capped(50);
  for (int i = 0; i < 499; ++i) g.settle(g.reserve(usd(0.10)).reservation, Billing::billed);  // $49.90
  auto a = g.reserve(usd(0.04));
  auto b = g.reserve(usd(0.04));  // $0.08 in flight: $49.98
  ASSERT_EQ(a.kind, SpendDecision::Kind::go);
  ASSERT_EQ(b.kind, SpendDecision::Kind::go);
  auto d = g.reserve(usd(0.04));
  ASSERT_EQ(d.kind, SpendDecision::Kind::stop);
  EXPECT_EQ(d.message,
            "stopped at --max-spend $50.00: spent $49.98 (finished $49.90, in flight $0.08); the next job would cost "
            "$0.04");
  EXPECT_TRUE(g.stopped());
}

TEST(SpendTest, ConcurrentReservationsNeverExceedTheCap) {
  // 16 workers, prices cycling through the catalog's shapes, attempts ending in any order.
  const double prices[] = {0.01, 0.83, 0.02, 0.19, 0.05, 0.33};
  const double cap = 7.00;
  SpendGuard g = capped(cap);
  std::deque<std::pair<Reservation, double>> in_flight;
  double committed = 0;  // billed + unknown + in flight, kept by the test
  int stops = 0;
  for (int i = 0; i < 400 && stops == 0; ++i) {
    const double p = prices[i % 6];
    auto d = g.reserve(usd(p));
    if (d.kind == SpendDecision::Kind::stop) {
      ++stops;
      EXPECT_GT(committed + p, cap - 1e-9);  // stopped within one price of the cap
      break;
    }
    committed += p;
    EXPECT_LE(committed, cap + 1e-9);
    in_flight.emplace_back(d.reservation, p);
    if (in_flight.size() == 16) {  // the oldest, or the newest, finishes
      auto done = (i % 3 == 0) ? in_flight.back() : in_flight.front();
      (i % 3 == 0) ? in_flight.pop_back() : in_flight.pop_front();
      const Billing b = (i % 7 == 0) ? Billing::not_billed : (i % 5 == 0) ? Billing::unknown : Billing::billed;
      if (b == Billing::not_billed) committed -= done.second;
      g.settle(done.first, b);
    }
    const auto t = g.totals();
    EXPECT_LE(t.estimated.usd + t.in_flight.usd, cap + 1e-9);
  }
  EXPECT_EQ(stops, 1);
}

TEST(SpendTest, UnknownOutcomesCountAsSpent) {
  SpendGuard g = capped(1.00);
  auto a = g.reserve(usd(0.40));
  auto b = g.reserve(usd(0.40));
  g.settle(a.reservation, Billing::unknown);  // sent, answer lost: may have been billed
  g.settle(b.reservation, Billing::billed);
  const auto t = g.totals();
  EXPECT_DOUBLE_EQ(t.unknown.usd, 0.40);
  EXPECT_DOUBLE_EQ(t.estimated.usd, 0.80);
  auto c = g.reserve(usd(0.40));
  ASSERT_EQ(c.kind, SpendDecision::Kind::stop);
  EXPECT_NE(c.message.find("outcome unknown $0.40"), std::string::npos) << c.message;
}

TEST(SpendTest, ContentViolationsAndErrorsAreFree) {
  SpendGuard g = capped(0.02);
  for (int i = 0; i < 10; ++i) g.settle(g.reserve(usd(0.02)).reservation, Billing::not_billed);
  EXPECT_DOUBLE_EQ(g.totals().estimated.usd, 0);
  EXPECT_EQ(g.totals().not_billed_attempts, 10u);
  EXPECT_EQ(g.reserve(usd(0.02)).kind, SpendDecision::Kind::go);
}

TEST(SpendTest, UnpricedJobRefusedOnlyUnderACap) {
  SpendGuard with_cap = capped(10);
  auto refused = with_cap.reserve(std::nullopt);
  EXPECT_EQ(refused.kind, SpendDecision::Kind::refuse_unpriced);
  EXPECT_EQ(refused.message, "refused: --max-spend $10.00 is set and the catalog lists no price for this job");
  EXPECT_FALSE(with_cap.stopped());  // the next priced job still goes
  EXPECT_EQ(with_cap.reserve(usd(1)).kind, SpendDecision::Kind::go);

  SpendGuard no_cap(SpendLimits{0, 5});
  auto d = no_cap.reserve(std::nullopt);
  ASSERT_EQ(d.kind, SpendDecision::Kind::go);
  no_cap.settle(d.reservation, Billing::billed);
  EXPECT_EQ(no_cap.totals().unpriced_attempts, 1u);

  SpendGuard none(SpendLimits{});
  EXPECT_EQ(none.reserve(std::nullopt).kind, SpendDecision::Kind::go);
}

TEST(SpendTest, MinBalanceStopsBeforeTheHeaderWouldFallBelowIt) {
  // The emulator's story: balance $1.00, $0.30 a request, --min-balance $0.25. The headers
  // would read 1.00, 0.70, 0.40, then 0.10 < 0.25: the third request must not start.
  SpendGuard g(SpendLimits{0, 0.25});
  double balance = 1.00;
  g.observe_balance(balance);  // the catalog's /api_keys/rate_limits balance, before any job
  int sent = 0;
  for (int i = 0; i < 10; ++i) {
    auto d = g.reserve(usd(0.30));
    if (d.kind != SpendDecision::Kind::go) {
      EXPECT_EQ(d.kind, SpendDecision::Kind::stop);
      EXPECT_NE(d.message.find("stopped at --min-balance $0.25"), std::string::npos) << d.message;
      break;
    }
    ++sent;
    g.observe_balance(balance);  // the header: the balance before this request
    balance -= 0.30;
    g.settle(d.reservation, Billing::billed);
  }
  EXPECT_EQ(sent, 2);
  EXPECT_GE(balance, 0.25 - 1e-9);  // never below: no 402
}

TEST(SpendTest, MinBalanceCountsWhatIsInFlight) {
  SpendGuard g(SpendLimits{0, 1.00});
  auto first = g.reserve(usd(0.50));
  g.observe_balance(3.00);
  g.settle(first.reservation, Billing::billed);  // about $2.50 left
  auto a = g.reserve(usd(0.50));                 // $2.00 after it
  auto b = g.reserve(usd(0.50));                 // $1.50
  auto c = g.reserve(usd(0.50));                 // $1.00: exactly the floor, allowed
  EXPECT_EQ(a.kind, SpendDecision::Kind::go);
  EXPECT_EQ(b.kind, SpendDecision::Kind::go);
  EXPECT_EQ(c.kind, SpendDecision::Kind::go);
  auto d = g.reserve(usd(0.50));
  ASSERT_EQ(d.kind, SpendDecision::Kind::stop);
  EXPECT_EQ(d.message,
            "stopped at --min-balance $1.00: the balance is about $1.00 (lowest x-venice-balance-usd $3.00, less $2.00 "
            "spent since or in flight); the next job would cost $0.50");
}

TEST(SpendTest, ALateOlderBalanceDoesNotLoosenTheMinBalanceCheck) {
  // Two requests read the balance at $2.00 and $1.50; the answer with $2.00 arrives last.
  SpendGuard g(SpendLimits{0, 1.00});
  auto a = g.reserve(usd(0.50));
  auto b = g.reserve(usd(0.50));
  g.observe_balance(1.50);
  g.settle(b.reservation, Billing::billed);
  g.observe_balance(2.00);
  g.settle(a.reservation, Billing::billed);
  EXPECT_DOUBLE_EQ(*g.totals().balance_last_usd, 2.00);  // reported as seen
  // The account holds $1.50 - $0.50 (b) = $1.00 (the guard, not knowing a is inside $1.50 already,
  // counts $0.50): a $0.50 job would cross the floor. From the late $2.00 it would have gone.
  EXPECT_EQ(g.reserve(usd(0.50)).kind, SpendDecision::Kind::stop);
}

TEST(SpendTest, NoBalanceSeenNoBalanceStop) {
  SpendGuard g(SpendLimits{0, 100});
  EXPECT_EQ(g.reserve(usd(5)).kind, SpendDecision::Kind::go);
}

TEST(SpendTest, ObservedSpendIsFirstMinusLastBalance) {
  SpendGuard g(SpendLimits{});
  g.observe_balance(10.00, 50.0);
  g.observe_balance(9.60, 48.5);
  g.observe_balance(9.20);  // a response without the DIEM header
  const auto t = g.totals();
  EXPECT_DOUBLE_EQ(*t.balance_first_usd, 10.00);
  EXPECT_DOUBLE_EQ(*t.balance_last_usd, 9.20);
  EXPECT_NEAR(*t.observed_spend_usd, 0.80, 1e-9);
  EXPECT_NEAR(*t.observed_spend_diem, 1.5, 1e-9);
  EXPECT_FALSE(SpendGuard(SpendLimits{}).totals().observed_spend_usd);
}

TEST(SpendTest, DiemSummedWherePriced) {
  SpendGuard g(SpendLimits{});
  g.settle(g.reserve(usd(0.10, 1.0)).reservation, Billing::billed);
  g.settle(g.reserve(usd(0.20)).reservation, Billing::billed);
  g.settle(g.reserve(usd(0.30, 3.0)).reservation, Billing::unknown);
  const auto t = g.totals();
  EXPECT_NEAR(t.estimated.usd, 0.60, 1e-9);
  EXPECT_NEAR(t.estimated.diem, 4.0, 1e-9);
  EXPECT_EQ(t.estimated.attempts, 3u);
}

TEST(SpendTest, StopIsStickyAndSettlingTwiceIsHarmless) {
  SpendGuard g = capped(1.00);
  auto a = g.reserve(usd(0.90));
  g.settle(a.reservation, Billing::billed);
  g.settle(a.reservation, Billing::billed);
  EXPECT_DOUBLE_EQ(g.totals().billed.usd, 0.90);
  auto stop = g.reserve(usd(0.50));
  ASSERT_EQ(stop.kind, SpendDecision::Kind::stop);
  // A cheaper job after the stop does not slip through: the run is stopping.
  auto later = g.reserve(usd(0.01));
  EXPECT_EQ(later.kind, SpendDecision::Kind::stop);
  EXPECT_EQ(later.message, stop.message);
}

TEST(SpendTest, FormatUsdKeepsSubCentDigits) {
  EXPECT_EQ(format_usd(50), "$50.00");
  EXPECT_EQ(format_usd(0.0045), "$0.0045");
  EXPECT_EQ(format_usd(83000), "$83000.00");
  EXPECT_EQ(format_usd(0.83), "$0.83");
}

// A cap that rounds to zero micro-dollars was taken for no cap at all; one beyond any account
// overflowed the micro-dollar conversion.
TEST(SpendTest, ATinyCapLetsNothingThroughAndAHugeOneEverything) {
  SpendGuard tiny = capped(0.0000004);
  EXPECT_EQ(tiny.reserve(usd(0.01)).kind, SpendDecision::Kind::stop);
  SpendGuard huge = capped(1e300);
  auto d = huge.reserve(usd(0.01));
  EXPECT_EQ(d.kind, SpendDecision::Kind::go);
  EXPECT_EQ(huge.reserve(std::nullopt).kind, SpendDecision::Kind::refuse_unpriced) << "still a cap";
}

TEST(SpendTest, ACloudflare524IsUnknownEvenOnAJobsLastAttempt) {
  // The origin may have done the work behind a 520/524: the spend cap must count it whether the
  // job goes again or not. Only a retried one was counted, so with --max-attempts 1 (or on
  // every job's last attempt) the cap never saw them.
  for (const bool retried : {false, true}) {
    EXPECT_EQ(billing_of_attempt(524, true, false, retried), Billing::unknown) << retried;
    EXPECT_EQ(billing_of_attempt(520, true, false, retried), Billing::unknown) << retried;
    EXPECT_EQ(billing_of_attempt(503, true, false, false), Billing::not_billed);
  }
  EXPECT_EQ(billing_of_attempt(200, true, false, false), Billing::billed);
  EXPECT_EQ(billing_of_attempt(200, true, true, false), Billing::not_billed);       // a content violation
  EXPECT_EQ(billing_of_attempt(std::nullopt, true, false, false), Billing::unknown);  // sent, no answer
  EXPECT_EQ(billing_of_attempt(std::nullopt, false, false, false), Billing::not_billed);
  // Another success (a 201, a 204): the API did the work; counted on a last attempt as on a retried
  // one (a review found only a retried one counted).
  for (const bool retried : {false, true})
    for (const int status : {201, 204}) EXPECT_EQ(billing_of_attempt(status, true, false, retried), Billing::unknown);
}

// --max-spend 0.0099995 was rounded to the nearest micro-dollar, $0.01, and a $0.01 job was bought
// over the cap the user typed; --min-balance 0.2500004 read as $0.25 let the balance fall below it.
// A limit never moves to its unsafe side, and a cap written in cents still admits what fits in it.
TEST(SpendTest, ALimitIsNeverRoundedToItsUnsafeSide) {
  EXPECT_EQ(capped(0.0099995).reserve(usd(0.01)).kind, SpendDecision::Kind::stop);
  EXPECT_EQ(capped(0.01).reserve(usd(0.01)).kind, SpendDecision::Kind::go);
  for (int cents = 1; cents <= 2000; ++cents) {
    const double amount = std::strtod(fmt::format("{}.{:02}", cents / 100, cents % 100).c_str(), nullptr);
    ASSERT_EQ(capped(amount).reserve(usd(amount)).kind, SpendDecision::Kind::go) << amount;
  }
  SpendGuard g(SpendLimits{0, 0.2500004});
  g.observe_balance(1.00);
  EXPECT_EQ(g.reserve(usd(0.75)).kind, SpendDecision::Kind::stop) << "$0.25 would be left, under $0.2500004";
  SpendGuard exact(SpendLimits{0, 0.25});
  exact.observe_balance(1.00);
  EXPECT_EQ(exact.reserve(usd(0.75)).kind, SpendDecision::Kind::go) << "$0.25 left is not below $0.25";
}
