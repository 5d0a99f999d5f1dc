// A run that knows each model (issue 9), end to end against the emulator's catalog: lines its model
// would refuse are never sent, spend and balance limits stop the run resumably (exit 4), a model's
// daily cap stops only that model, --limit runs a trial, and a saved catalog works offline.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "fault_fixture.hpp"

using namespace fault_test;

namespace {

constexpr const char* kRetries = R"("retry": {"max_attempts": 4, "base_delay_ms": 20, "max_delay_ms": 200}, "timeouts": {"request_s": 3})";

std::string config_with(const std::string& more) { return "{" + std::string(kRetries) + (more.empty() ? "" : ", " + more) + "}"; }

// `n` z-image-turbo jobs ($0.01 each in the emulator's catalog), 64x64.
std::filesystem::path flat_jobs(const Fixture& fx, int n, const std::string& model = "z-image-turbo",
                                const std::string& name = "m.jsonl") {
  std::string m;
  for (int i = 0; i < n; ++i)
    m += fmt::format(R"({{"id":"{}-{}-{}","model":"{}","prompt":"p {}","width":64,"height":64}})",
                     std::filesystem::path(name).stem().string(), model, i, model, i) + "\n";
  test_support::write_file(fx.dir / name, m);
  return fx.dir / name;
}

std::size_t count_status(const std::filesystem::path& journal, std::string_view status) {
  std::size_t n = 0;
  for (const auto& line : test_support::read_lines(journal))
    if (line.find(fmt::format(R"("status":"{}")", status)) != std::string::npos) ++n;
  return n;
}

}  // namespace

TEST(RunModelsTest, ALineItsModelWouldRefuseIsRecordedInvalidAndNeverSent) {
  Fixture fx(MockFaults{});
  const auto manifest = fx.dir / "m.jsonl";
  test_support::write_file(manifest,
                           R"({"id":"too-many-steps","model":"venice-sd35","prompt":"p","width":64,"height":64,"steps":60})" "\n"
                           R"({"id":"fine","model":"z-image-turbo","prompt":"p","width":64,"height":64})" "\n");
  auto r = fx.run(manifest);
  EXPECT_EQ(r.exit_status, 1) << r.err;
  EXPECT_EQ(fx.server->stats().requests, 1u) << "only the line its model accepts is sent";
  const auto lines = test_support::read_lines(fx.out() / "results.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  const auto& refused = lines[0].find("too-many-steps") != std::string::npos ? lines[0] : lines[1];
  EXPECT_NE(refused.find(R"("status":"invalid")"), std::string::npos) << refused;
  EXPECT_NE(refused.find("steps"), std::string::npos) << refused;
  EXPECT_TRUE(std::filesystem::exists(fx.out() / "catalog.json")) << "the catalog used is kept with the run";
}

TEST(RunModelsTest, MaxSpendStopsWithinOnePriceOfTheCapAndALaterRunFinishes) {
  Fixture fx(MockFaults{});
  fx.config(config_with(R"("max_spend_usd": 0.05)"));
  const auto manifest = flat_jobs(fx, 10);
  auto r = fx.run(manifest, {"--concurrency", "4"});
  EXPECT_EQ(r.exit_status, 4) << r.err;
  EXPECT_NE(r.err.find("max-spend"), std::string::npos) << r.err;
  const auto spent = fx.server->stats().spent;
  EXPECT_LE(spent, to_micros(0.05)) << "never over the cap";
  EXPECT_GE(spent, to_micros(0.04)) << "within one request's price of it";
  fx.config(config_with(R"("max_spend_usd": 1.0)"));
  auto again = fx.run(manifest, {"--concurrency", "4"});
  EXPECT_EQ(again.exit_status, 0) << again.err;
  EXPECT_EQ(fx.server->stats().requests, 10u) << "no job paid twice";
  EXPECT_EQ(count_status(fx.out() / "results.jsonl", "ok"), 10u);
}

TEST(RunModelsTest, MinBalanceStopsBeforeTheBalanceRunsOutNotAtThe402) {
  MockOptions o = mock_options(MockFaults{});
  o.balance_usd = 0.10;
  Fixture fx(o);
  fx.config(config_with(R"("min_balance_usd": 0.05)"));
  auto r = fx.run(flat_jobs(fx, 20), {"--concurrency", "2"});
  EXPECT_EQ(r.exit_status, 4) << r.err;
  const auto stats = fx.server->stats();
  EXPECT_GE(stats.balance, to_micros(0.05)) << "stopped before the balance fell below the minimum";
  EXPECT_EQ(stats.by_status.count(402), 0u) << "no request was refused for the balance";
}

// Found by a hostile test: without a model catalog (--no-catalog, or none could be had) the
// start-up check's limits and balance were dropped: a model's stated daily cap was learnt from its
// first refusal (a 429 past the cap), and --min-balance knew no balance until the first answer
// (a run starting below it bought one image). They hold from the first request now.
TEST(RunModelsTest, WithoutACatalogTheStatedLimitsAndBalanceStillHold) {
  MockFaults f;
  f.model_rpd = parse_model_limits("z-image-turbo=2");
  Fixture capped(f);
  auto r = capped.run(flat_jobs(capped, 4), {"--no-catalog"});
  EXPECT_EQ(r.exit_status, 4) << r.err;
  const auto stats = capped.server->stats();
  EXPECT_EQ(stats.requests, 2u) << r.err;
  EXPECT_EQ(stats.by_status.count(429), 0u) << "the stated cap was not kept: " << r.err;
  EXPECT_NE(r.err.find("daily request cap (2 of 2"), std::string::npos) << r.err;

  MockOptions o = mock_options(MockFaults{});
  o.balance_usd = 0.04;
  Fixture poor(o);
  poor.config(config_with(R"("min_balance_usd": 0.05)"));
  auto p = poor.run(flat_jobs(poor, 3), {"--no-catalog"});
  EXPECT_EQ(p.exit_status, 4) << p.err;
  EXPECT_EQ(poor.server->stats().requests, 0u) << "the balance was below the minimum before the first request";
}

// Found by a hostile test: a line the manifest reader refused (a misspelt field, a number out of
// range) was only counted on stderr ("0 ok, 0 failed, 3 invalid"), while a line the catalog check
// refused was printed with its number and reason. Both say why now, the first 20 of them.
TEST(RunModelsTest, EachRefusedLineSaysWhyOnStderrUpToTwenty) {
  Fixture fx(MockFaults{});
  std::string m = R"({"id":"typo","prompt":"p","widht":512})" "\n";
  for (int i = 0; i < 30; ++i) m += fmt::format(R"({{"id":"w{}","prompt":"p","width":99999}})", i) + "\n";
  test_support::write_file(fx.dir / "bad.jsonl", m);
  auto r = fx.run(fx.dir / "bad.jsonl");
  EXPECT_EQ(r.exit_status, 1) << r.err;
  EXPECT_NE(r.err.find("line 1: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("widht"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 2: "), std::string::npos) << r.err;
  std::size_t printed = 0;
  for (std::size_t at = r.err.find("venice-batch: line "); at != std::string::npos;
       at = r.err.find("venice-batch: line ", at + 1))
    ++printed;
  EXPECT_EQ(printed, 20u) << r.err;
  EXPECT_NE(r.err.find("more lines are refused"), std::string::npos) << r.err;
  EXPECT_EQ(fx.server->stats().requests, 0u);
}

TEST(RunModelsTest, LimitRunsOnlyTheFirstPendingJobsAndTheNextRunTakesTheNext) {
  Fixture fx(MockFaults{});
  const auto manifest = flat_jobs(fx, 5);
  // `--limit -5` was read as 2^64 - 5 and bought the whole manifest; 2^64 as the largest limit.
  for (const char* bad : {"-5", "0", "18446744073709551616", "3x", "+3"}) {
    auto refused = fx.run(manifest, {"--limit", bad});
    EXPECT_EQ(refused.exit_status, 2) << bad << ": " << refused.err;
  }
  EXPECT_EQ(fx.server->stats().requests, 0u);
  auto r = fx.run(manifest, {"--limit", "3"});
  EXPECT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(fx.server->stats().requests, 3u);
  r = fx.run(manifest, {"--limit", "3"});
  EXPECT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(fx.server->stats().requests, 5u) << "the two left, none twice";
}

TEST(RunModelsTest, ADailyCapStopsOnlyItsModelAndTheRunEndsWithExit4) {
  MockFaults f;
  f.model_rpd = parse_model_limits("venice-sd35=2");
  Fixture fx(f);
  const auto capped = flat_jobs(fx, 4, "venice-sd35", "a.jsonl");
  const auto free = flat_jobs(fx, 3, "z-image-turbo", "b.jsonl");
  test_support::write_file(fx.dir / "m.jsonl", test_support::read_file(capped) + test_support::read_file(free));
  auto r = fx.run(fx.dir / "m.jsonl");
  EXPECT_EQ(r.exit_status, 4) << r.err;
  EXPECT_NE(r.err.find("daily"), std::string::npos) << r.err;
  const auto stats = fx.server->stats();
  EXPECT_EQ(stats.by_model.at("z-image-turbo").images, 3u) << "the other model is not held back";
  EXPECT_EQ(stats.by_model.at("venice-sd35").images, 2u) << r.err;
  EXPECT_EQ(count_status(fx.out() / "results.jsonl", "ok"), 5u) << "the capped jobs stay unrecorded: resumable";
}

TEST(RunModelsTest, ASecondRunTheSameDayCountsTheFirstRunsRequestsAgainstTheDailyCap) {
  MockFaults f;
  f.model_rpd = parse_model_limits("venice-sd35=3");
  Fixture fx(f);
  auto first = fx.run(flat_jobs(fx, 2, "venice-sd35", "a.jsonl"));
  ASSERT_EQ(first.exit_status, 0) << first.err;
  const auto usage = test_support::read_file(fx.out() / "daily_usage.json");
  EXPECT_NE(usage.find(R"("venice-sd35":2)"), std::string::npos) << usage;

  auto second = fx.run(flat_jobs(fx, 2, "venice-sd35", "b.jsonl"));
  EXPECT_EQ(second.exit_status, 4) << second.err;
  EXPECT_NE(second.err.find("model 'venice-sd35' stopped for this run: it used its daily request cap (3 of 3 today"),
            std::string::npos)
      << second.err;
  const auto stats = fx.server->stats();
  EXPECT_EQ(stats.by_model.at("venice-sd35").images, 3u) << "2 in the first run and 1 more fit the cap of 3";
  EXPECT_EQ(stats.by_status.count(429), 0u) << "the cap is kept by counting, not learned from 429s";
}

// Found by review: a line naming its model by an alias is paced under the catalog's id, and the
// message looked the alias up: "stops for this run: ;" with the reason left out.
TEST(RunModelsTest, AModelNamedByItsAliasSaysWhyItStopped) {
  MockFaults f;
  f.model_rpd = parse_model_limits("venice-sd35=1");
  Fixture fx(f);
  auto r = fx.run(flat_jobs(fx, 2, "stable-diffusion-3.5"), {"--concurrency", "1"});
  EXPECT_EQ(r.exit_status, 4) << r.err;
  EXPECT_NE(r.err.find("model 'stable-diffusion-3.5' (catalog id 'venice-sd35') stopped for this run: it used its "
                       "daily request cap (1 of 1 today"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(count_status(fx.out() / "results.jsonl", "ok"), 1u);
}

// Found by a hostile test: the day's requests spent where this out dir cannot see them (another
// out dir, another tool on the key), the API refuses with a 429 whose reset is hours away. The
// run waited 5 minutes (its cap on a stated wait) and asked again, for hours. Now that 429 stops
// the model as its daily cap does: one request, exit 4, the job retryable, the rest unsent.
TEST(RunModelsTest, TheApisOwnDailyRefusalStopsTheModelAtOnceInsteadOfAskingEveryFiveMinutes) {
  MockFaults f;
  f.model_rpd = parse_model_limits("venice-sd35=2");
  Fixture fx(f);
  ASSERT_EQ(fx.run(flat_jobs(fx, 2, "venice-sd35", "a.jsonl")).exit_status, 0);
  std::filesystem::remove(fx.out() / "daily_usage.json");  // as if the 2 were sent from elsewhere
  // One request at a time, so the one refusal is the whole story (with more in flight, each of
  // them meets its own 429 before the first answer stops the model).
  auto second = fx.run(flat_jobs(fx, 3, "venice-sd35", "b.jsonl"), {"--concurrency", "1"});
  EXPECT_EQ(second.exit_status, 4) << second.err;
  // Said as what happened: the API refused for long; that it is the daily limit is a reading.
  EXPECT_NE(second.err.find("model 'venice-sd35' stopped for this run: the API refused it with a wait over 5 minutes"),
            std::string::npos)
      << second.err;
  const auto stats = fx.server->stats();
  EXPECT_EQ(stats.by_status.count(429) ? stats.by_status.at(429) : 0u, 1u) << "one refusal, not one per 5 minutes";
  bool recorded = false;
  for (const auto& line : test_support::read_lines(fx.out() / "results.jsonl"))
    recorded |= line.find(R"("id":"b-venice-sd35-0")") != std::string::npos &&
                line.find(R"("retryable":true)") != std::string::npos &&
                line.find(R"("kind":"daily_cap")") != std::string::npos;
  EXPECT_TRUE(recorded) << "the refused job is kept for a later run";
  EXPECT_EQ(count_status(fx.out() / "results.jsonl", "ok"), 2u) << "b's other jobs are not sent";
}

// Found by a hostile test: a daily_usage.json that could not be written failed silently, and the
// next run the same day went over the cap. It still does not stop the run; it is said.
TEST(RunModelsTest, ADailyUsageFileThatCannotBeWrittenIsAWarning) {
  MockFaults f;
  f.model_rpd = parse_model_limits("venice-sd35=10");
  Fixture fx(f);
  std::filesystem::create_directories(fx.out() / "daily_usage.json");  // in the way
  auto r = fx.run(flat_jobs(fx, 2, "venice-sd35"));
  EXPECT_EQ(r.exit_status, 0) << r.err;
  EXPECT_NE(r.err.find("warning: cannot write"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("daily caps"), std::string::npos) << r.err;
}

TEST(RunModelsTest, ASavedCatalogIsUsedOfflineAndMaxSpendWithoutOneRefusesToStart) {
  Fixture fx(MockFaults{});
  const auto manifest = flat_jobs(fx, 2);
  ASSERT_EQ(fx.run(manifest).exit_status, 0);
  const auto fetches = fx.server->stats().catalog_requests;
  const auto saved = fx.dir / "catalog.json";
  std::filesystem::copy_file(fx.out() / "catalog.json", saved);

  fx.config(config_with(R"("max_spend_usd": 1.0, "fetch_catalog": false)"));
  const auto more = flat_jobs(fx, 3, "z-image-turbo", "more.jsonl");
  auto refused = fx.run(more);
  EXPECT_EQ(refused.exit_status, 2) << refused.err;
  EXPECT_NE(refused.err.find("catalog"), std::string::npos) << refused.err;
  EXPECT_EQ(fx.server->stats().requests, 2u) << "nothing sent without prices";

  auto offline = fx.run(more, {"--catalog", saved.string()});
  EXPECT_EQ(offline.exit_status, 0) << offline.err;
  EXPECT_EQ(fx.server->stats().catalog_requests, fetches) << "the saved catalog, not a fetch";
  EXPECT_EQ(fx.server->stats().requests, 5u) << offline.err;
}

TEST(RunModelsTest, MetricsAndTheJournalCarryEachModelsPacingAndThePrices) {
  Fixture fx(MockFaults{});
  auto r = fx.run(flat_jobs(fx, 3));
  ASSERT_EQ(r.exit_status, 0) << r.err;
  const auto metrics = test_support::read_file(fx.out() / "metrics.json");
  EXPECT_NE(metrics.find(R"("z-image-turbo":{"limit":)"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find(R"("spend":{"estimated":{"usd":0.03)"), std::string::npos) << metrics;
  const auto line = test_support::read_lines(fx.out() / "results.jsonl").at(0);
  EXPECT_NE(line.find(R"("estimated_price_usd":0.01)"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("balance_usd":)"), std::string::npos) << line;
  EXPECT_NE(r.err.find("spend: $0.03"), std::string::npos) << r.err;
  EXPECT_EQ(metrics.find(R"("bytes_wire":0,)"), std::string::npos) << "compressed or not, the bodies are counted";
}

// --catalog FILE took its balance from the file: a catalog saved when the key held $1,000,000 let
// --min-balance send against a key holding $0.10 (and one saved near empty stopped a full key).
// The balance is the start-up check's, fetched now; the file's models and prices stay.
TEST(RunModelsTest, ASavedCatalogsBalanceIsNeverTakenForTodays) {
  const auto saved_from = [](double balance, const std::filesystem::path& to) {
    MockOptions o = mock_options(MockFaults{});
    o.balance_usd = balance;
    Fixture fx(o);
    ASSERT_EQ(fx.run(flat_jobs(fx, 1)).exit_status, 0);
    std::filesystem::copy_file(fx.out() / "catalog.json", to);
  };
  test_support::TempDir saved;
  saved_from(1000000, saved / "rich.json");
  saved_from(0.03, saved / "poor.json");

  MockOptions poor = mock_options(MockFaults{});
  poor.balance_usd = 0.10;
  Fixture low(poor);
  low.config(config_with(R"("min_balance_usd": 0.095)"));
  auto r = low.run(flat_jobs(low, 4), {"--catalog", (saved / "rich.json").string(), "--concurrency", "4"});
  EXPECT_EQ(r.exit_status, 4) << r.err;
  EXPECT_EQ(low.server->stats().requests, 0u) << "$0.10 less $0.01 is below $0.095: nothing is sent";
  EXPECT_NE(r.err.find("$0.10"), std::string::npos) << r.err;

  Fixture rich(MockFaults{});
  rich.config(config_with(R"("min_balance_usd": 0.05)"));
  r = rich.run(flat_jobs(rich, 3), {"--catalog", (saved / "poor.json").string()});
  EXPECT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(rich.server->stats().requests, 3u);
}

// Under --max-spend, a line asking for enhance_prompt (an extra charge the catalog does not price)
// was sent at the image's price alone; --max-spend 0 meant no cap at all.
TEST(RunModelsTest, UnderACapALineWithAnUnpricedExtraIsRefusedAndACapOfZeroIsAUsageError) {
  Fixture fx(MockFaults{});
  const auto manifest = fx.dir / "m.jsonl";
  test_support::write_file(manifest,
                           R"({"id":"plain","model":"z-image-turbo","prompt":"p","width":64,"height":64})" "\n"
                           R"({"id":"enhanced","model":"z-image-turbo","prompt":"p","width":64,"height":64,"enhance_prompt":true})" "\n");
  for (const char* no_cap : {"0", "nan", "inf", "-1"}) {
    auto refused = fx.run(manifest, {"--max-spend", no_cap});
    EXPECT_EQ(refused.exit_status, 2) << no_cap << ": " << refused.err;
  }
  EXPECT_EQ(fx.run(manifest, {"--min-balance", "nan"}).exit_status, 2);
  EXPECT_EQ(fx.server->stats().requests, 0u);

  auto r = fx.run(manifest, {"--max-spend", "1"});
  EXPECT_EQ(r.exit_status, 1) << r.err;
  EXPECT_EQ(fx.server->stats().requests, 1u) << "only the line whose price is known";
  EXPECT_NE(r.err.find("enhance_prompt costs extra"), std::string::npos) << r.err;
  EXPECT_EQ(final_state(fx.out())["enhanced"].status, "invalid");
}
