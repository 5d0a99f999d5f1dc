// daily_usage.json: the day's requests per model, kept across runs of one out dir.
#include <gtest/gtest.h>

#include "venice_batch/daily_usage.hpp"

using namespace venice_batch;
using namespace std::chrono;

namespace {
system_clock::time_point at(int y, unsigned m, unsigned d, int h, int min, int s) {
  return sys_days{year{y} / month{m} / day{d}} + hours{h} + minutes{min} + seconds{s};
}
}  // namespace

TEST(DailyUsageTest, TheDayIsTheUtcCalendarDay) {
  EXPECT_EQ(utc_day(at(2026, 11, 29, 23, 59, 59)), "2026-11-29");
  EXPECT_EQ(utc_day(at(2026, 11, 30, 0, 0, 0)), "2026-11-30");
  EXPECT_EQ(utc_day(at(2028, 2, 29, 12, 0, 0)), "2028-02-29");
}

// The run checks the clock against this before each admission, so a model stopped at its cap
// goes again at midnight UTC, not at the next metrics snapshot.
TEST(DailyUsageTest, TheNextDayBeginsAtUtcMidnight) {
  EXPECT_EQ(next_utc_day(at(2026, 11, 29, 23, 59, 59)), at(2026, 11, 30, 0, 0, 0));
  EXPECT_EQ(next_utc_day(at(2026, 11, 30, 0, 0, 0)), at(2026, 12, 1, 0, 0, 0)) << "midnight itself is the new day";
  EXPECT_EQ(next_utc_day(at(2026, 12, 31, 12, 0, 0)), at(2027, 1, 1, 0, 0, 0));
  EXPECT_EQ(next_utc_day(at(2028, 2, 28, 1, 0, 0)), at(2028, 2, 29, 0, 0, 0));
  for (auto t : {at(2026, 11, 29, 23, 59, 59), at(2026, 11, 30, 0, 0, 0)})
    EXPECT_NE(utc_day(next_utc_day(t)), utc_day(t));
}

TEST(DailyUsageTest, CountsRoundTripAndApplyOnlyOnTheirDay) {
  DailyUsage u;
  u.day = "2026-11-29";
  u.requests["z-image-turbo"] = 1234;
  u.requests["gpt-image-2"] = 7;
  const DailyUsage back = parse_daily_usage(to_json(u));
  EXPECT_EQ(back.day, "2026-11-29");
  EXPECT_EQ(back.requests, u.requests);
  EXPECT_EQ(counts_for_day(back, "2026-11-29").at("z-image-turbo"), 1234u);
  EXPECT_TRUE(counts_for_day(back, "2026-11-30").empty()) << "yesterday's requests do not count today";
}

TEST(DailyUsageTest, AnUnreadableFileCountsNothingRatherThanInventing) {
  for (const char* bad : {"", "{\"day\": \"2026-11-29\", \"requests\": {\"a\": 5", "[]", "{\"day\": 5, \"requests\": {}}",
                          "{\"day\": \"2026-11-29\", \"requests\": {\"a\": -1}}",
                          "{\"day\": \"2026-11-29\", \"requests\": {\"a\": 2.5}}",
                          "{\"day\": \"2026-11-29\", \"requests\": {\"a\": \"9\"}}", "{\"day\": \"2026-11-29\"}"}) {
    const DailyUsage u = parse_daily_usage(bad);
    EXPECT_TRUE(u.day.empty() && u.requests.empty()) << bad;
  }
}

TEST(DailyUsageTest, AModelIdThatIsNotUtf8IsWrittenAsValidJson) {
  DailyUsage u;
  u.day = "2026-11-29";
  u.requests[std::string("bad\xff", 4)] = 3;
  const DailyUsage back = parse_daily_usage(to_json(u));
  ASSERT_EQ(back.requests.size(), 1u);
  EXPECT_EQ(back.requests.begin()->first, "bad\xEF\xBF\xBD");
}
