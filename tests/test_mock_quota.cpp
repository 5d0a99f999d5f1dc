// The emulator's per-model limits and balance over HTTP, as a client sees them: each model's
// own x-ratelimit-*-requests headers, the window's length in the reset, the daily cap's 429,
// x-venice-balance-usd going down by each price until the 402, free content violations, and
// the counters of /__mock/stats.
#include <gtest/gtest.h>

#include <chrono>

#include "test_mock_support.hpp"

using namespace venice_batch;
using mock_test::Answer;
using mock_test::Emulator;

namespace {

const std::string kTurbo = R"({"model":"z-image-turbo","prompt":"p","width":64,"height":64,"format":"jpeg"})";
const std::string kSd35 = R"({"model":"venice-sd35","prompt":"p","width":64,"height":64,"format":"jpeg"})";

std::int64_t now_epoch_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// How far away the answer's reset header is, in milliseconds.
std::int64_t reset_in_ms(const Answer& a) { return std::stoll(a.header("x-ratelimit-reset-requests")) - now_epoch_ms(); }

// A gpt-image-2 job at 1K low ($0.02 an image) with `variants` images.
std::string gpt_job(int variants) {
  return R"({"model":"gpt-image-2","prompt":"p","resolution":"1K","quality":"low","aspect_ratio":"3:2","format":"jpeg",)"
         R"("variants":)" +
         std::to_string(variants) + "}";
}

}  // namespace

TEST(MockQuotaTest, ModelExhaustedDoesNotLimitAnother) {
  MockOptions o;
  o.faults.model_rpm = parse_model_limits("z-image-turbo=2,venice-sd35=3");
  Emulator emu(o);
  EXPECT_EQ(emu.generate(kTurbo).header("x-ratelimit-remaining-requests"), "1");
  EXPECT_EQ(emu.generate(kTurbo).header("x-ratelimit-remaining-requests"), "0");
  const auto refused = emu.generate(kTurbo);
  EXPECT_EQ(refused.status, 429);
  EXPECT_EQ(refused.header("x-ratelimit-limit-requests"), "2");
  for (int i = 0; i < 3; ++i) {
    const auto a = emu.generate(kSd35);
    EXPECT_EQ(a.status, 200) << "venice-sd35 has its own quota";
    EXPECT_EQ(a.header("x-ratelimit-limit-requests"), "3");
    EXPECT_EQ(a.header("x-ratelimit-remaining-requests"), std::to_string(2 - i));
  }
  EXPECT_EQ(emu.generate(kSd35).status, 429);
  const auto s = emu.server->stats();
  EXPECT_EQ(s.by_model.at("z-image-turbo").requests, 3u);
  EXPECT_EQ(s.by_model.at("z-image-turbo").rate_limited, 1u);
  EXPECT_EQ(s.by_model.at("venice-sd35").rate_limited, 1u);
}

TEST(MockQuotaTest, HeadersStateTheConfiguredWindow) {
  MockOptions o;
  o.faults.requests_per_minute = 60;
  o.faults.rate_window = std::chrono::seconds(20);
  Emulator emu(o);
  const auto first = emu.generate(kTurbo);
  EXPECT_EQ(first.header("x-ratelimit-limit-requests"), "60");
  EXPECT_EQ(first.header("x-ratelimit-remaining-requests"), "59");
  const auto reset = reset_in_ms(first);
  EXPECT_GT(reset, 15000) << "a 20 s window, not a minute";
  EXPECT_LE(reset, 20000);
  EXPECT_EQ(emu.rate_limits().body.find(R"({"apiModelId":"z-image-turbo","rateLimits":[{"amount":60,"type":"RPM"}]})") !=
                std::string::npos,
            true);
}

TEST(MockQuotaTest, DailyCapAnswers429UntilTheDayEnds) {
  MockOptions o;
  o.faults.model_rpd = parse_model_limits("z-image-turbo=2");
  Emulator emu(o);
  EXPECT_EQ(emu.generate(kTurbo).status, 200);
  EXPECT_EQ(emu.generate(kTurbo).status, 200);
  const auto capped = emu.generate(kTurbo);
  EXPECT_EQ(capped.status, 429);
  EXPECT_EQ(capped.body, R"({"error":"Rate limit exceeded for requests per day"})");
  EXPECT_EQ(capped.header("x-ratelimit-remaining-requests"), "0");
  EXPECT_GT(reset_in_ms(capped), 23 * 3600 * 1000) << "the reset is the day's end";
  EXPECT_EQ(emu.generate(kSd35).status, 200);
  EXPECT_NE(emu.rate_limits().body.find(R"([{"amount":100000,"type":"RPM"},{"amount":2,"type":"RPD"}])"), std::string::npos);
}

TEST(MockQuotaTest, BalanceHeaderGoesDownByEachPriceThen402) {
  MockOptions o;
  o.balance_usd = 0.14;
  Emulator emu(o);
  std::vector<std::string> seen;
  for (int i = 0; i < 3; ++i) {
    const auto a = emu.generate(gpt_job(2));  // 2 images at $0.02
    EXPECT_EQ(a.status, 200) << a.body.substr(0, 200);
    seen.push_back(a.header("x-venice-balance-usd"));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"0.14", "0.10", "0.06"})) << "the balance before each request";
  const auto refused = emu.generate(gpt_job(2));
  EXPECT_EQ(refused.status, 402) << "$0.02 cannot cover $0.04";
  EXPECT_EQ(refused.body, R"({"error":"Insufficient USD or Diem balance to complete request"})");
  EXPECT_EQ(refused.header("x-venice-balance-usd"), "0.02");
  EXPECT_EQ(refused.header("x-venice-balance-diem"), "0.00");
  EXPECT_EQ(emu.generate(kTurbo).header("x-venice-balance-usd"), "0.02");
  EXPECT_EQ(emu.generate(kTurbo).header("x-venice-balance-usd"), "0.01");
  EXPECT_EQ(emu.generate(kTurbo).status, 402);
  EXPECT_EQ(emu.rate_limits().header("x-venice-balance-usd"), "0.00");
  const auto s = emu.server->stats();
  EXPECT_EQ(s.spent, to_micros(0.14));
  EXPECT_EQ(s.balance, 0);
  EXPECT_EQ(s.by_model.at("gpt-image-2").spent, to_micros(0.12));
  const auto page = emu.exchange(boost::beast::http::verb::get, "/__mock/stats", std::nullopt).body;
  EXPECT_NE(page.find(R"("gpt-image-2":{"requests":4,"rate_limited":0,"images":6,"spent_usd":0.12})"), std::string::npos) << page;
  EXPECT_NE(page.find(R"("spent_usd":0.14,"balance_usd":0.0})"), std::string::npos) << page;
}

TEST(MockQuotaTest, ContentViolationIsFlaggedAndCostsNothing) {
  MockOptions o;
  o.balance_usd = 1;
  o.faults.schedule = parse_fault_schedule("violation,violation");
  Emulator emu(o);
  const auto json = emu.generate(kTurbo);
  EXPECT_EQ(json.status, 200);
  EXPECT_EQ(json.header("x-venice-is-content-violation"), "true");
  const auto binary = emu.generate(R"({"model":"z-image-turbo","prompt":"p","width":64,"height":64,"format":"jpeg",)"
                                   R"("return_binary":true})");
  EXPECT_EQ(binary.header("content-type"), "image/png") << "the placeholder is a PNG whatever was asked";
  EXPECT_EQ(binary.body.substr(1, 3), "PNG");
  const auto next = emu.generate(kTurbo);
  EXPECT_EQ(next.header("x-venice-is-content-violation"), "false");
  EXPECT_EQ(next.header("x-venice-balance-usd"), "1.00") << "the violations cost nothing";
  EXPECT_EQ(emu.generate(kTurbo).header("x-venice-balance-usd"), "0.99");
}
