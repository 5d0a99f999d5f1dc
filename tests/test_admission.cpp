// Admission: one pacer per model behind one guard per key, with made-up times; and simulated
// runs against a server that states its quota in headers as VENICE_API.md describes.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <queue>
#include <tuple>

#include "venice_batch/admission.hpp"
#include "venice_batch/lookahead.hpp"

using namespace venice_batch;
using namespace std::chrono_literals;
using Kind = AdmitResult::Kind;

namespace {

const auto t0 = PacingClock::time_point{} + 1h;

RateLimitHeaders quota(std::uint64_t limit, std::uint64_t remaining, std::chrono::milliseconds reset_in) {
  return RateLimitHeaders{limit, remaining, reset_in, std::nullopt};
}

PacingSettings with_failure_budget() {
  PacingSettings s;
  s.failure_window = 30s;
  s.max_failures = 15;
  return s;
}

// --- a simulated server and run ---

enum class ResetForm { epoch_ms, epoch_s, seconds_from_now };
constexpr std::int64_t kEpochMsAtT0 = 1'700'000'000'400;

std::int64_t epoch_ms(PacingClock::time_point t) {
  return kEpochMsAtT0 + std::chrono::ceil<std::chrono::milliseconds>(t - t0).count();
}

// Windows as the emulator keeps them: `limit` requests per `window`, a window opening with the
// first request after the last one ended. Every answer states limit, remaining and reset: as they
// are when it is sent (the emulator), or as they were when its request arrived.
class SimServer {
 public:
  SimServer(std::uint64_t limit, PacingClock::duration window, ResetForm form = ResetForm::epoch_ms,
            bool states_at_arrival = false)
      : limit_(limit), window_(window), form_(form), states_at_arrival_(states_at_arrival) {}
  bool states_at_arrival() const { return states_at_arrival_; }

  // A request arrives: charged to the window, or refused past the limit.
  bool arrive(PacingClock::time_point now) {
    if (!window_end_ || now >= *window_end_) {
      window_end_ = now + window_;
      used_ = 0;
    }
    if (used_ + 1 > limit_) return false;
    ++used_;
    return true;
  }

  // The quota headers as they are at `now`.
  HttpResponse headers(PacingClock::time_point now, bool refused) const {
    const bool current = window_end_ && now < *window_end_;
    const auto reset_in_ms = std::chrono::ceil<std::chrono::milliseconds>(current ? *window_end_ - now : window_).count();
    std::int64_t reset = epoch_ms(now) + reset_in_ms;                                 // epoch ms
    if (form_ == ResetForm::epoch_s) reset = reset / 1000;                            // rounded down
    if (form_ == ResetForm::seconds_from_now) reset = reset_in_ms / 1000;             // rounded down
    HttpResponse r;
    r.status = refused ? 429 : 200;
    r.headers = {{"x-ratelimit-limit-requests", std::to_string(limit_)},
                 {"x-ratelimit-remaining-requests", std::to_string(refused ? 0 : limit_ - (current ? used_ : 0))},
                 {"x-ratelimit-reset-requests", std::to_string(reset)}};
    return r;
  }

 private:
  std::uint64_t limit_;
  PacingClock::duration window_;
  ResetForm form_;
  bool states_at_arrival_;
  std::optional<PacingClock::time_point> window_end_;
  std::uint64_t used_ = 0;
};

struct SimResult {
  PacingClock::time_point last_answer{};
  std::map<std::string, int> accepted;  // requests the server charged, by model
  int refused = 0;                      // 429s
};

// `workers` workers take jobs (named by model, from `next_model` until it says none) through a
// Lookahead of 64 and the admission; each request is answered `latency()` after it starts. No
// request starts at or after `stop_at`.
SimResult simulate(std::map<std::string, SimServer>& servers, const std::function<std::optional<std::string>()>& next_model,
                   unsigned workers, const std::function<PacingClock::duration()>& latency,
                   PacingClock::time_point stop_at = PacingClock::time_point::max()) {
  Admission admission(PacingSettings{}, t0);
  Lookahead<std::string> queue(64);
  SimResult result;
  // (time, 0 = answer / 1 = worker free, sequence, model, refused)
  using Event = std::tuple<PacingClock::time_point, int, int, std::string, bool>;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events;
  std::map<int, HttpResponse> stated;  // by answer, when stated as the request arrived
  int seq = 0;
  for (unsigned w = 0; w < workers; ++w) events.emplace(t0, 1, seq++, "", false);
  while (!events.empty()) {
    auto [now, kind, id, model, refused] = events.top();
    events.pop();
    if (kind == 0) {
      const auto headers =
          parse_rate_limit_headers(stated.count(id) ? stated[id] : servers.at(model).headers(now, refused), epoch_ms(now));
      admission.on_answer(model, now, refused ? 429 : 200, headers, false, true);
      result.last_answer = std::max(result.last_answer, now);
      events.emplace(now, 1, seq++, "", false);
      continue;
    }
    if (now >= stop_at) continue;
    while (!queue.full()) {
      auto m = next_model();
      if (!m) break;
      queue.push(std::string(*m), *m, 1);
    }
    auto taken = queue.take(now, admission);
    if (taken.job) {
      SimServer& server = servers.at(*taken.job);
      const bool ok = server.arrive(now);
      ok ? ++result.accepted[*taken.job] : ++result.refused;
      if (server.states_at_arrival()) stated[seq] = server.headers(now, !ok);
      events.emplace(now + latency(), 0, seq++, *taken.job, !ok);
    } else if (taken.retry_at) {
      events.emplace(*taken.retry_at, 1, seq++, "", false);
    }
  }
  return result;
}

// Latencies spread between `low` and `high`, the same in every run.
std::function<PacingClock::duration()> latencies(std::chrono::milliseconds low, std::chrono::milliseconds high) {
  return [low, high, state = std::uint32_t{12345}]() mutable {
    state = state * 1664525u + 1013904223u;
    return PacingClock::duration(low + (high - low) * (state >> 16) / 65536);
  };
}

std::function<std::optional<std::string>()> jobs_of(std::string model, int n) {
  return [model, n]() mutable -> std::optional<std::string> { return n-- > 0 ? std::optional(model) : std::nullopt; };
}

// `jobs` jobs of one model "m" served by `server`, 16 workers.
SimResult run_one_model(const SimServer& server, int jobs, const std::function<PacingClock::duration()>& latency) {
  std::map<std::string, SimServer> servers{{"m", server}};
  return simulate(servers, jobs_of("m", jobs), 16, latency);
}

}  // namespace

// --- Admission, unit by unit ---

TEST(AdmissionTest, AModelOutOfQuotaDoesNotDelayAnother) {
  Admission a(PacingSettings{}, t0);
  a.on_answer("z-image-turbo", t0, 200, quota(30, 0, 40s), false, true);
  const auto held = a.try_start("z-image-turbo", t0 + 1s);
  EXPECT_EQ(held.kind, Kind::wait);
  EXPECT_GE(held.until, t0 + 40s);
  EXPECT_EQ(held.why, PacingHold::quota_reset);
  EXPECT_EQ(a.try_start("venice-sd35", t0 + 1s).kind, Kind::go);
  EXPECT_EQ(a.hold(t0 + 1s), PacingHold::none) << "the key is not held";
}

TEST(AdmissionTest, AQuota429HoldsThatModelOnly) {
  Admission a(with_failure_budget(), t0);
  a.on_answer("a", t0, 429, RateLimitHeaders{30, 0, 20s, 20s}, false, true);
  EXPECT_EQ(a.try_start("a", t0 + 1s).kind, Kind::wait);
  EXPECT_EQ(a.try_start("b", t0 + 1s).kind, Kind::go);
}

TEST(AdmissionTest, AFailureLockHoldsEveryModelForThirtySeconds) {
  Admission a(PacingSettings{}, t0);
  a.on_answer("a", t0, 429, RateLimitHeaders{}, true, true);
  for (const char* model : {"a", "b"}) {
    const auto r = a.try_start(model, t0 + 1s);
    EXPECT_EQ(r.kind, Kind::wait) << model;
    EXPECT_EQ(r.until, t0 + 30s) << model;
    EXPECT_EQ(r.why, PacingHold::failure_lock) << model;
  }
  EXPECT_EQ(a.hold(t0 + 1s), PacingHold::failure_lock);
  EXPECT_EQ(a.try_start("b", t0 + 30s).kind, Kind::go);
}

TEST(AdmissionTest, TheFailureBudgetCountsEveryModelsFailures) {
  Admission a(with_failure_budget(), t0);
  for (int i = 0; i < 15; ++i) a.on_answer(i % 2 ? "a" : "b", t0 + i * 100ms, 500, {}, false, true);
  const auto r = a.try_start("c", t0 + 2s);
  EXPECT_EQ(r.kind, Kind::wait);
  EXPECT_EQ(r.why, PacingHold::failure_budget);
  EXPECT_EQ(r.until, t0 + 30s);
}

TEST(AdmissionTest, AnUnreachableApiHoldsEveryModel) {
  Admission a(PacingSettings{}, t0);
  a.on_unreachable(t0);
  EXPECT_EQ(a.try_start("a", t0).why, PacingHold::unreachable);
  EXPECT_EQ(a.try_start("b", t0).until, t0 + 1s);
  EXPECT_EQ(a.blocked_for(t0), 1000ms);
}

TEST(AdmissionTest, ADailyCapStopsThatModelAndTheOtherGoesOn) {
  Admission a(PacingSettings{}, t0);
  a.set_model_limits("a", std::nullopt, 5);
  EXPECT_EQ(a.try_start("a", t0, 4).kind, Kind::go);
  EXPECT_FALSE(a.daily_cap_reached("a"));
  EXPECT_EQ(a.try_start("a", t0 + 1s, 4).kind, Kind::daily_cap_reached) << "4 more images would make 8 of 5";
  EXPECT_TRUE(a.daily_cap_reached("a"));
  EXPECT_EQ(a.try_start("a", t0 + 2s, 1).kind, Kind::daily_cap_reached) << "stopped for the run";
  EXPECT_EQ(a.try_start("b", t0 + 2s).kind, Kind::go);
  EXPECT_FALSE(a.daily_cap_reached("b"));
  EXPECT_NE(a.describe(t0 + 2s).find("a stopped at its daily cap"), std::string::npos) << a.describe(t0 + 2s);
  EXPECT_EQ(a.daily_stop_reason("a"), "it used its daily request cap (4 of 5 today, counted one per image: the next request did not fit)");
  EXPECT_EQ(a.daily_stop_reason("b"), "") << "not stopped";
}

TEST(AdmissionTest, TheDailyCapCountsEarlierRunsOfTheDayAndANewDayLiftsIt) {
  Admission a(PacingSettings{}, t0);
  a.set_model_limits("a", std::nullopt, 10);
  a.set_started_today("a", 9);  // an earlier run today sent 9
  EXPECT_EQ(a.try_start("a", t0).kind, Kind::go);
  EXPECT_EQ(a.try_start("a", t0 + 1s).kind, Kind::daily_cap_reached) << "9 + 1 of 10 used";
  EXPECT_EQ(a.try_start("b", t0 + 1s).kind, Kind::go);
  const auto counts = a.started_today();
  EXPECT_EQ(counts.at("a"), 10u) << "the seeded 9 and this run's 1: what daily_usage.json keeps";
  EXPECT_EQ(counts.at("b"), 1u);
  a.start_new_day();
  EXPECT_FALSE(a.daily_cap_reached("a"));
  EXPECT_EQ(a.try_start("a", t0 + 2s).kind, Kind::go);
  EXPECT_EQ(a.started_today().at("a"), 1u);
  EXPECT_EQ(a.started_today().count("b"), 0u) << "no request of b yet today";
}

// Found by a hostile test: the key's daily quota used up elsewhere (another out dir, another
// tool), the API answers 429 with a reset hours away. The pacer capped the wait at 5 minutes and
// asked again, one 429 per 5 minutes for hours. A 429 whose own wait is longer than the cap now
// stops that model for the run, as its daily cap would; a short one only holds it.
TEST(AdmissionTest, A429ThatSaysWaitHoursStopsThatModelAsItsDailyCapWould) {
  const std::int64_t now_ms = 1'800'000'000'000;
  auto answer = [&](std::vector<std::pair<std::string, std::string>> headers) {
    HttpResponse r;
    r.status = 429;
    r.headers = std::move(headers);
    return parse_rate_limit_headers(r, now_ms);
  };
  const auto daily = answer({{"x-ratelimit-limit-requests", "100"}, {"x-ratelimit-remaining-requests", "0"},
                             {"x-ratelimit-reset-requests", std::to_string(now_ms + 6 * 3600 * 1000)}});
  ASSERT_TRUE(refused_for_long(daily));
  Admission a(PacingSettings{}, t0);
  a.on_answer("a", t0, 429, daily, false, true);
  EXPECT_TRUE(a.daily_cap_reached("a"));
  EXPECT_EQ(a.try_start("a", t0 + 1s).kind, Kind::daily_cap_reached);
  EXPECT_EQ(a.try_start("b", t0 + 1s).kind, Kind::go) << "another model goes on";
  // The user is told what the API said, and that the daily limit is our reading of it: the
  // run's own count (0 here) never reached a cap.
  EXPECT_NE(a.daily_stop_reason("a").find("refused it with a wait over 5 minutes"), std::string::npos)
      << a.daily_stop_reason("a");
  EXPECT_NE(a.describe(t0 + 1s).find("a stopped: refused for the day"), std::string::npos) << a.describe(t0 + 1s);
  // Retry-After decides when both are stated (VENICE_API.md): an overloaded model's 30 s is a hold.
  auto overloaded = answer({{"retry-after", "30"}, {"x-ratelimit-reset-requests", std::to_string(now_ms + 6 * 3600 * 1000)}});
  EXPECT_FALSE(refused_for_long(overloaded));
  EXPECT_TRUE(refused_for_long(answer({{"retry-after", "7200"}})));
  EXPECT_FALSE(refused_for_long(answer({{"x-ratelimit-reset-requests", "45"}})));
  EXPECT_FALSE(refused_for_long(answer({{"x-ratelimit-reset-requests", std::to_string(now_ms + 300'000)}})))
      << "5 minutes is still waited";
  a.on_answer("c", t0, 429, overloaded, false, true);
  EXPECT_FALSE(a.daily_cap_reached("c"));
  EXPECT_EQ(a.try_start("c", t0 + 1s).kind, Kind::wait);
  // The failure lock's 429 is the key's 30 s, whatever it says of the quota.
  a.on_answer("d", t0, 429, daily, true, true);
  EXPECT_FALSE(a.daily_cap_reached("d"));
  // A new day lifts it (hours later: the lock's 30 s and the capped 5-minute hold are over).
  a.start_new_day();
  EXPECT_EQ(a.try_start("a", t0 + 6h).kind, Kind::go);
}

TEST(AdmissionTest, ASeededRateSpacesStartsUntilTheHeadersSpeak) {
  Admission a(PacingSettings{}, t0);
  a.set_model_limits("a", 30, std::nullopt);
  EXPECT_EQ(a.try_start("a", t0).kind, Kind::go);
  const auto next = a.try_start("a", t0 + 100ms);
  EXPECT_EQ(next.kind, Kind::wait);
  EXPECT_EQ(next.why, PacingHold::rate);
  EXPECT_NEAR(std::chrono::duration<double>(next.until - t0).count(), 2.0, 0.01) << "30/min: one every 2 s";
  // The answer says 10 remain until the reset: they may go now.
  a.on_answer("a", t0 + 500ms, 200, quota(30, 10, 50s), false, true);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.try_start("a", t0 + 500ms).kind, Kind::go) << i;
  EXPECT_EQ(a.try_start("a", t0 + 500ms).why, PacingHold::quota_reset);
}

TEST(AdmissionTest, ViewsShowEachModelsLimitWindowRemainingAndWait) {
  Admission a(PacingSettings{}, t0);
  EXPECT_EQ(a.describe(t0), "unpaced");
  a.on_answer("z-image-turbo", t0, 200, quota(30, 12, 60s), false, true);
  a.on_answer("venice-sd35", t0, 200, quota(90, 0, 4s), false, true);
  const auto views = a.models(t0);
  ASSERT_EQ(views.size(), 2u);
  EXPECT_EQ(views[1].model, "z-image-turbo");
  EXPECT_EQ(views[1].limit, 30u);
  EXPECT_EQ(views[1].window, 60s);
  EXPECT_EQ(views[1].remaining, 12);
  EXPECT_DOUBLE_EQ(views[1].rate_per_minute, 30);
  EXPECT_EQ(views[0].remaining, 0);
  EXPECT_EQ(views[0].hold, PacingHold::quota_reset);
  EXPECT_GE(views[0].wait, 4s);
  EXPECT_EQ(a.describe(t0), "venice-sd35 90/4s (0 left), waiting 5 s (quota reset); z-image-turbo 30/min (12 left)");
  a.on_answer("venice-sd35", t0, 429, RateLimitHeaders{}, true, true);
  EXPECT_EQ(a.describe(t0).rfind("all models waiting 30 s (failure lock); ", 0), 0u) << a.describe(t0);
  EXPECT_EQ(a.models(t0)[1].hold, PacingHold::failure_lock);
}

// --- simulated runs ---

TEST(PacingSimulationTest, ATwentySecondWindowIsUsedInFullNotPacedAsAMinute) {
  // 60 requests per 20 s, 180 jobs, 16 workers: three windows, so about 40 s. Paced as 60 a
  // minute it took 179 s.
  auto run = run_one_model(SimServer(60, 20s), 180, latencies(300ms, 700ms));
  EXPECT_EQ(run.accepted["m"], 180);
  EXPECT_EQ(run.refused, 0);
  EXPECT_LE(run.last_answer - t0, 45s);
}

TEST(PacingSimulationTest, ASixtySecondWindowIsStillPacedToItsLimit) {
  // 20 per 60 s, 100 jobs: five windows, the last opening at 240 s.
  auto run = run_one_model(SimServer(20, 60s), 100, latencies(1s, 4s));
  EXPECT_EQ(run.accepted["m"], 100);
  EXPECT_EQ(run.refused, 0);
  EXPECT_GE(run.last_answer - t0, 240s);
  EXPECT_LE(run.last_answer - t0, 250s);
}

TEST(PacingSimulationTest, AResetInEpochSecondsOrSecondsFromNowIsFollowedToo) {
  for (auto form : {ResetForm::epoch_ms, ResetForm::epoch_s, ResetForm::seconds_from_now}) {
    auto run = run_one_model(SimServer(60, 20s, form), 180, latencies(300ms, 700ms));
    EXPECT_EQ(run.refused, 0) << static_cast<int>(form);
    EXPECT_LE(run.last_answer - t0, 48s) << static_cast<int>(form);
  }
}

TEST(PacingSimulationTest, QuotaStatedAsTheRequestArrivedCostsAtMostTheFirstAnswersRequestsInFlight) {
  // The answer states what remained when its request arrived, not when it is sent: the first
  // answer of the run cannot count the requests started while it was on its way (15 here). Our
  // own count covers every later one.
  auto run = run_one_model(SimServer(60, 20s, ResetForm::epoch_ms, true), 180, latencies(300ms, 700ms));
  EXPECT_LE(run.refused, 15);
  EXPECT_LE(run.last_answer - t0, 45s);
}

TEST(PacingSimulationTest, TwoModelsEachReachTheirOwnLimitOverFiveMinutes) {
  // 30/min and 90/min; the manifest mixes them one to three; latencies of 0.5-5 s.
  std::map<std::string, SimServer> servers{{"a", SimServer(30, 60s)}, {"b", SimServer(90, 60s)}};
  int n = 0;
  auto mixed = [&n]() -> std::optional<std::string> { return n++ % 4 == 0 ? "a" : "b"; };
  auto run = simulate(servers, mixed, 16, latencies(500ms, 5s), t0 + 300s);
  EXPECT_EQ(run.refused, 0);
  EXPECT_GE(run.accepted["a"], 0.97 * 150);
  EXPECT_GE(run.accepted["b"], 0.97 * 450);
}
