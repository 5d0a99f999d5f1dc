// What the report counts and lists from results.jsonl: each id's last line, every run's
// attempts, "may have been billed twice" as the attempt policy marks it, and for a large run
// a page that lists only the first jobs by line while counting them all.
#include <gtest/gtest.h>

#include <simdjson.h>

#include "test_support.hpp"
#include "venice_batch/journal.hpp"
#include "venice_batch/layout.hpp"
#include "venice_batch/report.hpp"

using namespace venice_batch;
using test_support::TempDir;

namespace {

AttemptRecord attempt(int status, bool sent, bool maybe_billed_twice = false) {
  AttemptRecord a;
  a.http_status = status;
  a.cause = status == 200 ? "ok" : status == 0 ? "timeout" : "http_" + std::to_string(status);
  a.request_sent = sent;
  a.maybe_billed_twice = maybe_billed_twice;
  return a;
}

std::string line_of(const std::string& id, std::uint64_t line, JobStatus status, std::vector<AttemptRecord> attempts = {},
                    std::string prompt = "a prompt") {
  JobRecord r;
  r.id = id;
  r.line = line;
  r.status = status;
  r.prompt = std::move(prompt);
  r.request_hash = std::string(64, 'a');
  if (status == JobStatus::ok) r.files.push_back(FileRecord{"images/" + id + "_0.webp", 1000, ImageFormat::webp});
  else r.error = JobError{status == JobStatus::invalid ? "invalid_line" : "http_400", "why " + id, "", "", false};
  r.attempts = attempts.empty() ? std::vector<AttemptRecord>{attempt(200, true)} : std::move(attempts);
  return to_json_line(r) + "\n";
}

JournalDigest digest_of(const TempDir& dir, const std::string& journal, ReportLimits limits = {}) {
  test_support::write_file(dir / "results.jsonl", journal);
  std::string why;
  auto d = digest_journal(dir / "results.jsonl", limits, &why);
  EXPECT_TRUE(d) << why;
  return d ? *d : JournalDigest{};
}

// The JSON object the page's script reads.
std::string page_data(const std::filesystem::path& html) {
  const auto page = test_support::read_file(html);
  const std::string open = "<script type=\"application/json\" id=\"data\">";
  const auto from = page.find(open) + open.size();
  return page.substr(from, page.find("</script>", from) - from);
}

}  // namespace

TEST(ReportJournalTest, MayHaveBeenBilledTwiceCountsOnlyAttemptsThePolicyMarked) {
  TempDir dir;
  // An answered 503 is not a charge: sent, retried, not marked. A timed-out attempt is.
  const auto d = digest_of(dir, line_of("answered", 1, JobStatus::ok, {attempt(503, true), attempt(200, true)}) +
                                    line_of("lost", 2, JobStatus::ok, {attempt(0, true, true), attempt(200, true)}) +
                                    line_of("twice", 3, JobStatus::failed,
                                            {attempt(0, true, true), attempt(524, true, true), attempt(400, true)}));
  EXPECT_EQ(d.attempts, 7u);
  EXPECT_EQ(d.retries, 4u);
  EXPECT_EQ(d.maybe_billed_twice, 3u);
}

TEST(ReportJournalTest, SpendSumsTheCatalogPricesOfOkJobsAndTheBalanceGoesFirstToLast) {
  TempDir dir;
  auto priced = [](const std::string& id, std::uint64_t line, JobStatus status, double price, double balance) {
    JobRecord r;
    r.id = id;
    r.line = line;
    r.status = status;
    r.request_hash = std::string(64, 'a');
    r.estimated_price_usd = price;
    r.balance_usd = balance;
    if (status != JobStatus::ok) r.error = JobError{"http_400", "why", "", "", false};
    r.attempts = {attempt(status == JobStatus::ok ? 200 : 400, true)};
    return to_json_line(r) + "\n";
  };
  const auto d = digest_of(dir, priced("a", 1, JobStatus::ok, 0.83, 10.0) + priced("b", 2, JobStatus::failed, 0.5, 9.17) +
                                    priced("c", 3, JobStatus::ok, 0.02, 9.17) + line_of("unpriced", 4, JobStatus::ok));
  EXPECT_NEAR(d.ok_spend_usd, 0.85, 1e-9) << "a failed job costs nothing; an unpriced one is not guessed";
  EXPECT_EQ(d.priced_ok_lines, 2u);
  ASSERT_TRUE(d.balance_first_usd && d.balance_last_usd);
  EXPECT_EQ(*d.balance_first_usd, 10.0);
  EXPECT_EQ(*d.balance_last_usd, 9.17);
  ASSERT_TRUE(write_report(dir.path()));
  const auto data = page_data(dir / "report.html");
  EXPECT_NE(data.find(R"("ok_spend_usd":0.85)"), std::string::npos) << data;
}

TEST(ReportJournalTest, LastLinePerIdIsTheJobsStateAndEveryRunsAttemptsCount) {
  TempDir dir;
  const auto d = digest_of(dir, line_of("a", 1, JobStatus::failed, {attempt(503, true), attempt(503, true)}) +
                                    line_of("b", 2, JobStatus::ok) + line_of("a", 1, JobStatus::ok));
  EXPECT_EQ(d.jobs, 2u);
  EXPECT_EQ(d.ok, 2u);
  EXPECT_EQ(d.failed, 0u);
  EXPECT_TRUE(d.failure_kinds.empty());
  EXPECT_EQ(d.images, 2u);
  EXPECT_EQ(d.image_bytes, 2000u) << "from the journal's file sizes";
  EXPECT_EQ(d.attempts, 4u) << "the first run's requests were made too";
  EXPECT_EQ(d.lines, 3u);
}

// The report decides a job's state as resume does: an invalid line after an ok one (a changed
// line refused before sending, a duplicate id) does not undo it; the job and its images stay ok
// (found by a hostile test: the report counted such a job invalid while its images were kept).
TEST(ReportJournalTest, AnInvalidLineAfterAnOkOneLeavesTheJobOk) {
  TempDir dir;
  const auto d = digest_of(dir, line_of("a", 1, JobStatus::ok) + line_of("a", 1, JobStatus::invalid) +
                                    line_of("b", 2, JobStatus::failed) + line_of("b", 2, JobStatus::invalid));
  EXPECT_EQ(d.jobs, 2u);
  EXPECT_EQ(d.ok, 1u) << "a stays ok";
  EXPECT_EQ(d.invalid, 1u) << "b's invalid line does replace a failure";
  EXPECT_EQ(d.images, 1u) << "a's image is still the dataset's";
}

TEST(ReportJournalTest, BlurredImagesKeptInAFlaggedFolderAreNotCountedAsTheDatasets) {
  TempDir dir;
  JobRecord r;  // tries ran out: its last image is kept apart, in flagged/ (.flagged/ with imagefolder)
  r.id = "owl";
  r.line = 2;
  r.status = JobStatus::failed;
  r.request_hash = std::string(64, 'a');
  r.error = JobError{"blurred", "still blurred", "", "", false};
  r.files.push_back(FileRecord{"flagged/owl_0.webp", 700, ImageFormat::webp});
  r.attempts = {attempt(200, true)};
  JobRecord folder = r;
  folder.id = "cat";
  folder.line = 3;
  folder.files = {FileRecord{".flagged/cat_0.webp", 600, ImageFormat::webp}};
  const auto d = digest_of(dir, line_of("fox", 1, JobStatus::ok) + to_json_line(r) + "\n" + to_json_line(folder) + "\n");
  EXPECT_EQ(d.images, 1u) << "only fox's image is in the dataset";
  EXPECT_EQ(d.image_bytes, 1000u);
  EXPECT_TRUE(is_flagged_path("flagged/owl_0.webp"));
  EXPECT_TRUE(is_flagged_path(".flagged/a/b.png"));
  EXPECT_FALSE(is_flagged_path("images/flagged/x.webp"));
  EXPECT_FALSE(is_flagged_path("flaggedx/x.webp"));
  EXPECT_FALSE(is_flagged_path("flagged"));
}

TEST(ReportJournalTest, TornAndForeignLinesAreCountedUnreadableAndSkipped) {
  TempDir dir;
  const auto d = digest_of(dir, line_of("a", 1, JobStatus::ok) + "{\"id\":\"torn\",\"sta\n[1,2]\n{\"id\":\"x\",\"status\":\"weird\"}\n\n" +
                                    line_of("b", 2, JobStatus::invalid) + "{\"id\":\"cut");
  EXPECT_EQ(d.jobs, 2u);
  EXPECT_EQ(d.unreadable_lines, 4u);
  EXPECT_EQ(d.failure_kinds.at("invalid_line"), 1u);
}

TEST(ReportJournalTest, JournalWithoutAReadableLineIsAnError) {
  TempDir dir;
  test_support::write_file(dir / "results.jsonl", "{\"id\":\"torn\n");
  std::string why;
  EXPECT_FALSE(digest_journal(dir / "results.jsonl", {}, &why));
  EXPECT_NE(why.find("no readable line"), std::string::npos) << why;
}

TEST(ReportJournalTest, LargeJournalIsCountedWholeButListsOnlyTheFirstJobsByLine) {
  TempDir dir;
  std::string journal;
  for (int i = 20000; i >= 1; --i)  // written out of line order, as concurrent jobs finish
    journal += line_of("job-" + std::to_string(i), i, i % 10 == 0 ? JobStatus::failed : JobStatus::ok);
  ReportLimits limits;
  limits.gallery_jobs = 50;
  limits.failed_jobs = 20;
  const auto d = digest_of(dir, journal, limits);
  EXPECT_EQ(d.jobs, 20000u);
  EXPECT_EQ(d.ok, 18000u);
  EXPECT_EQ(d.failed, 2000u);
  EXPECT_EQ(d.gallery_total, 18000u);
  ASSERT_EQ(d.gallery.size(), 50u);
  EXPECT_EQ(d.gallery.front().id, "job-1");
  EXPECT_EQ(d.gallery.back().line, 55u) << "the first 50 ok lines (every 10th failed)";
  EXPECT_EQ(d.gallery.front().files, (std::vector<std::string>{"images/job-1_0.webp"}));
  ASSERT_EQ(d.not_ok.size(), 20u);
  EXPECT_EQ(d.not_ok.front().id, "job-10");
  EXPECT_EQ(d.not_ok.front().message, "why job-10");
  EXPECT_EQ(d.not_ok.back().line, 200u);
}

TEST(ReportJournalTest, LongPromptsAndMessagesAreCutAtACharacterBoundary) {
  TempDir dir;
  std::string prompt;
  for (int i = 0; i < 200; ++i) prompt += "é";  // 2 bytes each
  ReportLimits limits;
  limits.text_bytes = 11;
  const auto d = digest_of(dir, line_of("a", 1, JobStatus::ok, {}, prompt), limits);
  ASSERT_EQ(d.gallery.size(), 1u);
  EXPECT_EQ(d.gallery[0].prompt, "ééééé…");
}

TEST(ReportJournalTest, PageOfALargeRunStaysSmallAndCountsEverything) {
  TempDir dir;
  std::string journal, timeline;
  for (int i = 1; i <= 20000; ++i) journal += line_of("job-" + std::to_string(i), i, i % 4 ? JobStatus::ok : JobStatus::failed);
  for (int i = 1; i <= 5000; ++i)
    timeline += "{\"t_s\":" + std::to_string(2 * i) + ",\"interval_s\":2,\"images\":4,\"errors\":1,\"http_429\":0,"
                "\"latency_p50_ms\":100,\"latency_p99_ms\":" + std::to_string(100 + i % 7) + "}\n";
  test_support::write_file(dir / "results.jsonl", journal);
  test_support::write_file(dir / "timeline.jsonl", timeline);
  ReportLimits limits;
  limits.gallery_jobs = 100;
  limits.failed_jobs = 100;
  limits.timeline_points = 500;
  std::string why;
  auto html = write_report(dir.path(), &why, limits);
  ASSERT_TRUE(html) << why;
  EXPECT_LT(std::filesystem::file_size(*html), 150'000u) << "the page lists 200 jobs and 500 points, not 20,000 jobs";
  simdjson::dom::parser parser;
  simdjson::dom::element data;
  ASSERT_EQ(parser.parse(page_data(*html)).get(data), simdjson::SUCCESS);
  EXPECT_EQ(std::uint64_t(data["summary"]["jobs"]), 20000u);
  EXPECT_EQ(std::uint64_t(data["summary"]["not_ok_total"]), 5000u);
  EXPECT_EQ(simdjson::dom::array(data["gallery"]).size(), 100u);
  EXPECT_EQ(simdjson::dom::array(data["not_ok"]).size(), 100u);
  simdjson::dom::array points = data["timeline"];
  EXPECT_EQ(points.size(), 500u);
  double images = 0, worst_p99 = 0;
  for (auto p : points) {
    images += double(p["images"]);
    worst_p99 = std::max(worst_p99, double(p["latency_p99_ms"]));
  }
  EXPECT_EQ(images, 20000.0) << "merged intervals keep every image";
  EXPECT_EQ(worst_p99, 106.0) << "and the worst p99";
  EXPECT_EQ(double(points.at(499)["t_s"]), 10000.0);
}
