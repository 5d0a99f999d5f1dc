// Look-ahead: a waiting model never holds back another; FIFO per model; bounded; jobs of a model
// at its daily cap handed back. Driven by a scripted admission and by the real one.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "venice_batch/lookahead.hpp"

using namespace venice_batch;
using namespace std::chrono_literals;
using Kind = AdmitResult::Kind;

namespace {

const auto t0 = PacingClock::time_point{} + 1h;

struct Job {
  int line;
  std::string model;
};

// An admission that answers per model as scripted (go when not scripted) and counts the asks.
struct ScriptedAdmission {
  std::map<std::string, AdmitResult, std::less<>> answers;
  std::map<std::string, int, std::less<>> asked;
  AdmitResult operator()(std::string_view model, PacingClock::time_point, unsigned) {
    ++asked[std::string(model)];
    auto it = answers.find(model);
    return it == answers.end() ? AdmitResult{} : it->second;
  }
};

AdmitResult wait_until(PacingClock::time_point t) { return {Kind::wait, t, PacingHold::quota_reset}; }

Lookahead<Job> queue_of(std::initializer_list<const char*> models, std::size_t capacity = 64) {
  Lookahead<Job> q(capacity);
  int line = 1;
  for (const char* m : models) EXPECT_TRUE(q.push(Job{line++, m}, m, 1));
  return q;
}

}  // namespace

TEST(LookaheadTest, ALaterJobOfAFreeModelGoesWhileTheFirstModelWaits) {
  auto q = queue_of({"a", "a", "b", "a"});
  ScriptedAdmission admission;
  admission.answers["a"] = wait_until(t0 + 40s);
  auto taken = q.take(t0, std::ref(admission));
  ASSERT_TRUE(taken.job);
  EXPECT_EQ(taken.job->line, 3);
  EXPECT_EQ(admission.asked["a"], 1) << "asked once for the model, not once per job";
  EXPECT_EQ(q.size(), 3u);
}

TEST(LookaheadTest, NothingMayGoGivesTheEarliestTimeAnyMay) {
  auto q = queue_of({"a", "b", "a", "b"});
  ScriptedAdmission admission;
  admission.answers["a"] = wait_until(t0 + 40s);
  admission.answers["b"] = wait_until(t0 + 4s);
  auto taken = q.take(t0, std::ref(admission));
  EXPECT_FALSE(taken.job);
  EXPECT_EQ(taken.retry_at, t0 + 4s);
  EXPECT_EQ(admission.asked["a"], 1);
  EXPECT_EQ(admission.asked["b"], 1);
  EXPECT_EQ(q.size(), 4u);
}

TEST(LookaheadTest, JobsOfOneModelLeaveInManifestOrder) {
  auto q = queue_of({"a", "b", "a", "b", "a"});
  ScriptedAdmission admission;
  admission.answers["b"] = wait_until(t0 + 1s);
  std::vector<int> lines;
  while (auto job = q.take(t0, std::ref(admission)).job) lines.push_back(job->line);
  EXPECT_EQ(lines, (std::vector<int>{1, 3, 5}));
  admission.answers.erase("b");
  while (auto job = q.take(t0 + 1s, std::ref(admission)).job) lines.push_back(job->line);
  EXPECT_EQ(lines, (std::vector<int>{1, 3, 5, 2, 4}));
}

TEST(LookaheadTest, ACostlyJobThatMustWaitIsNotOvertakenByACheaperOneOfItsModel) {
  Admission admission(PacingSettings{}, t0);
  admission.on_answer("a", t0, 200, RateLimitHeaders{20, 2, 30s, std::nullopt}, false, true);
  Lookahead<Job> q(8);
  q.push(Job{1, "a"}, "a", 4);  // 4 variants: more than the 2 left
  q.push(Job{2, "a"}, "a", 1);
  q.push(Job{3, "b"}, "b", 1);
  auto taken = q.take(t0, admission);
  ASSERT_TRUE(taken.job);
  EXPECT_EQ(taken.job->line, 3);
  taken = q.take(t0, admission);
  EXPECT_FALSE(taken.job) << "line 2 must not go before line 1";
  ASSERT_TRUE(taken.retry_at);
  EXPECT_GE(*taken.retry_at, t0 + 30s);
}

TEST(LookaheadTest, TheQueueHoldsNoMoreThanItsCapacity) {
  Lookahead<Job> q(2);
  EXPECT_TRUE(q.push(Job{1, "a"}, "a", 1));
  EXPECT_TRUE(q.push(Job{2, "a"}, "a", 1));
  EXPECT_TRUE(q.full());
  Job third{3, "b"};
  EXPECT_FALSE(q.push(std::move(third), "b", 1));
  EXPECT_EQ(third.model, "b") << "a refused job is left as it was";
  EXPECT_EQ(q.size(), 2u);
  ScriptedAdmission admission;
  EXPECT_TRUE(q.take(t0, std::ref(admission)).job);
  EXPECT_FALSE(q.full());
}

TEST(LookaheadTest, JobsOfAModelAtItsDailyCapAreHandedBack) {
  Admission admission(PacingSettings{}, t0);
  admission.set_model_limits("a", std::nullopt, 1);
  auto q = queue_of({"a", "a", "b", "a"});
  auto taken = q.take(t0, admission);
  ASSERT_TRUE(taken.job);
  EXPECT_EQ(taken.job->line, 1);
  taken = q.take(t0, admission);
  ASSERT_TRUE(taken.job);
  EXPECT_EQ(taken.job->line, 3) << "b goes on";
  std::set<int> stopped;
  for (const auto& j : taken.stopped_at_daily_cap) stopped.insert(j.line);
  taken = q.take(t0, admission);
  for (const auto& j : taken.stopped_at_daily_cap) stopped.insert(j.line);
  EXPECT_EQ(stopped, (std::set<int>{2, 4}));
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(taken.job);
  EXPECT_FALSE(taken.retry_at) << "nothing left to wait for";
}
