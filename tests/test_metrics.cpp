// Run metrics as metrics.json and metrics.prom show them: a job total that is unknown (a
// manifest read from a pipe) is null, not 0; Prometheus numbers are written in full.
// (Histogram and snapshot tests: test_histogram.cpp.)
#include <gtest/gtest.h>

#include "venice_batch/metrics.hpp"

using namespace venice_batch;

TEST(MetricsTest, UnknownJobTotalIsNullInJsonAndAbsentFromPrometheus) {
  RunMetrics m;
  m.counters().jobs_ok = 3;
  const auto json = m.to_json("unpaced");
  EXPECT_NE(json.find(R"("jobs":{"total":null,"done":3)"), std::string::npos) << json;
  const auto prom = m.to_prometheus();
  EXPECT_EQ(prom.find(R"(outcome="total")"), std::string::npos) << prom;
  EXPECT_NE(prom.find("venice_batch_jobs{outcome=\"ok\"} 3\n"), std::string::npos) << prom;
}

TEST(MetricsTest, KnownJobTotalIsWritten) {
  RunMetrics m;
  m.counters().jobs_total = 1'000'000;
  EXPECT_NE(m.to_json("").find(R"("total":1000000)"), std::string::npos);
  EXPECT_NE(m.to_prometheus().find("venice_batch_jobs{outcome=\"total\"} 1000000\n"), std::string::npos);
}

TEST(MetricsTest, PrometheusCountersAreWrittenInFullAndQuantileLabelsShort) {
  RunMetrics m;
  m.counters().image_bytes = 123'456'789'012ull;
  m.counters().attempt_causes["timeout"] = 7;
  m.record(Phase::ttfb, 1500);
  const auto prom = m.to_prometheus();
  EXPECT_NE(prom.find("venice_batch_image_bytes_total 123456789012\n"), std::string::npos) << prom;
  EXPECT_NE(prom.find("venice_batch_attempts_by_cause_total{cause=\"timeout\"} 7\n"), std::string::npos) << prom;
  EXPECT_NE(prom.find("venice_batch_phase_seconds{phase=\"ttfb\",quantile=\"0.999\"} 0.0015\n"), std::string::npos) << prom;
  EXPECT_NE(prom.find("# HELP venice_batch_in_flight Requests in flight.\n# TYPE venice_batch_in_flight gauge\n"),
            std::string::npos) << prom;
}

TEST(MetricsTest, AttemptsThatMayHaveBeenBilledTwiceKeepTheirJsonKey) {
  RunMetrics m;
  m.counters().retries_maybe_billed = 2;
  EXPECT_NE(m.to_json("").find(R"("retries_maybe_billed":2)"), std::string::npos);
}
