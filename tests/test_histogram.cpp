#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "venice_batch/histogram.hpp"
#include "venice_batch/metrics.hpp"

using namespace venice_batch;

namespace {

std::uint64_t exact_percentile(std::vector<std::uint64_t> v, double p) {
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
}

void expect_within_one_percent(const LatencyHistogram& h, const std::vector<std::uint64_t>& values) {
  for (double p : {0.0, 1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 100.0}) {
    const double exact = static_cast<double>(exact_percentile(values, p));
    const double got = static_cast<double>(h.value_at_percentile(p));
    EXPECT_LE(std::abs(got - exact), std::max(1.0, exact * 0.01)) << "p" << p << " exact " << exact << " got " << got;
  }
}

}  // namespace

TEST(HistogramTest, PercentilesOfUniformValuesAreWithinOnePercent) {
  std::mt19937_64 rng(1);
  std::vector<std::uint64_t> values;
  LatencyHistogram h;
  for (int i = 0; i < 200000; ++i) {
    auto v = 1 + rng() % 1'000'000;
    values.push_back(v);
    h.record(v);
  }
  expect_within_one_percent(h, values);
  EXPECT_EQ(h.count(), values.size());
  EXPECT_EQ(h.min(), *std::min_element(values.begin(), values.end()));
  EXPECT_EQ(h.max(), *std::max_element(values.begin(), values.end()));
}

TEST(HistogramTest, TwoClustersAndLogNormalTails) {
  std::mt19937_64 rng(2);
  std::lognormal_distribution<double> slow(13.0, 0.6);  // ~0.5 s in microseconds, long tail
  std::vector<std::uint64_t> values;
  LatencyHistogram h;
  for (int i = 0; i < 50000; ++i) {
    std::uint64_t v = i % 3 ? 200 + rng() % 50 : static_cast<std::uint64_t>(slow(rng));
    values.push_back(v);
    h.record(v);
  }
  expect_within_one_percent(h, values);
}

TEST(HistogramTest, ConstantValueIsExact) {
  LatencyHistogram h;
  for (int i = 0; i < 1000; ++i) h.record(123456);
  EXPECT_EQ(h.value_at_percentile(50), 123456u);
  EXPECT_EQ(h.value_at_percentile(99.9), 123456u);
  EXPECT_DOUBLE_EQ(h.mean(), 123456.0);
}

TEST(HistogramTest, MergeEqualsRecordingEverythingInOne) {
  LatencyHistogram a, b, all;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 10000; ++i) {
    auto v = rng() % 5'000'000;
    (i % 2 ? a : b).record(v);
    all.record(v);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  for (double p : {50.0, 90.0, 99.0}) EXPECT_EQ(a.value_at_percentile(p), all.value_at_percentile(p));
}

TEST(HistogramTest, EmptyAndHugeValues) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.value_at_percentile(50), 0u);
  EXPECT_EQ(h.min(), 0u);
  h.record(UINT64_MAX / 2);  // far past the top bucket: clamps, max stays exact
  h.record(10);
  EXPECT_EQ(h.max(), UINT64_MAX / 2);
  EXPECT_EQ(h.value_at_percentile(100), UINT64_MAX / 2);
  EXPECT_EQ(h.value_at_percentile(0), 10u);
  h.reset();
  EXPECT_EQ(h.count(), 0u);
}

TEST(MetricsTest, SnapshotsCarryPhasesCountersAndPrometheusText) {
  RunMetrics m;
  m.counters().jobs_total = 10;
  m.counters().jobs_ok = 3;
  m.counters().images = 4;
  m.counters().status_counts[200] = 3;
  m.counters().status_counts[429] = 2;
  m.counters().retry_causes["http_429"] = 2;
  for (int i = 1; i <= 100; ++i) m.record(Phase::ttfb, i * 1000);
  const auto json = m.to_json("20/min");
  EXPECT_NE(json.find("\"ttfb\":{\"count\":100"), std::string::npos) << json;
  EXPECT_NE(json.find("\"p99_ms\":99"), std::string::npos) << json;
  EXPECT_NE(json.find("\"429\":2"), std::string::npos);
  EXPECT_NE(json.find("\"pacing\":\"20/min\""), std::string::npos);
  const auto prom = m.to_prometheus();
  EXPECT_NE(prom.find("# TYPE venice_batch_responses_total counter"), std::string::npos);
  EXPECT_NE(prom.find("venice_batch_responses_total{status=\"429\"} 2"), std::string::npos) << prom;
  EXPECT_NE(prom.find("venice_batch_phase_seconds{phase=\"ttfb\",quantile=\"0.5\"}"), std::string::npos) << prom;
  EXPECT_NE(prom.find("venice_batch_retries_total{cause=\"http_429\"} 2"), std::string::npos) << prom;
}

TEST(MetricsTest, TimelineLinesHoldPerIntervalDeltas) {
  RunMetrics m;
  m.counters().jobs_ok = 5;
  m.counters().images = 5;
  m.counters().status_counts[429] = 1;
  m.record(Phase::attempt_total, 200000);
  auto first = m.next_timeline_line(20, "20/min");
  EXPECT_NE(first.find("\"jobs_ok\":5"), std::string::npos) << first;
  EXPECT_NE(first.find("\"http_429\":1"), std::string::npos) << first;
  EXPECT_NE(first.find("\"latency_p50_ms\":"), std::string::npos) << first;
  m.counters().jobs_ok = 7;
  m.counters().images = 7;
  auto second = m.next_timeline_line(20, "20/min");
  EXPECT_NE(second.find("\"jobs_ok\":2"), std::string::npos) << second;
  EXPECT_NE(second.find("\"http_429\":0"), std::string::npos) << second;
  EXPECT_EQ(second.find("latency_p50_ms"), std::string::npos) << "no requests ended in that interval";
}
