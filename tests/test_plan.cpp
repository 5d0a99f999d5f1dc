// `plan`: a manifest mixing four models against the fixture catalog (catalog_fixture.hpp) gives
// exact counts and cost, as the builder sees it and as the command prints and writes it.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <rapidjson/document.h>

#include "catalog_fixture.hpp"
#include "test_support.hpp"
#include "venice_batch/plan.hpp"

using namespace venice_batch;

namespace {

// Four models (default z-image-turbo from config/default.json), an alias, three preflight
// refusals, an unknown model and three lines the manifest reader refuses.
constexpr const char* kMixedManifest =
    R"({"id": "a1", "model": "venice-sd35", "prompt": "p", "width": 512, "height": 512}
{"id": "a2", "model": "venice-sd35", "prompt": "p", "variants": 4}
{"id": "a3", "model": "venice-sd35", "prompt": "p", "steps": 80}
{"id": "b1", "prompt": "p"}
{"id": "b2", "prompt": "p", "variants": 2, "format": "png"}
{"id": "c1", "model": "nano-banana-pro", "prompt": "p"}
{"id": "c2", "model": "nano-banana-pro", "prompt": "p", "resolution": "4K", "variants": 2}
{"id": "c3", "model": "nano-banana-pro", "prompt": "p", "enable_web_search": true}
{"id": "c4", "model": "nano-banana-pro", "prompt": "p", "width": 1024, "height": 1024}
{"id": "d1", "model": "gpt-image-2", "prompt": "p"}
{"id": "d2", "model": "gpt-image-2", "prompt": "p", "resolution": "4K", "quality": "high", "variants": 3}
{"id": "d3", "model": "gpt-image-2", "prompt": "p", "resolution": "2K", "quality": "high", "enhance_prompt": true}
{"id": "d4", "model": "gpt-image-2", "prompt": "p", "aspect_ratio": "16:9"}
{"id": "d5", "model": "gpt-image-2", "prompt": "p", "aspect_ratio": "16:9"}
{"id": "e1", "model": "dall-e-9", "prompt": "p"}
{"id": "f1", "prompt": ""}
not json
{"id": "a1", "model": "venice-sd35", "prompt": "the id again"}
{"id": "d6", "model": "gpt-image", "prompt": "p", "quality": "low"}
)";

PlanSummary plan_of(const Catalog& catalog, const std::string& manifest_text) {
  test_support::TempDir dir;
  test_support::write_file(dir / "m.jsonl", manifest_text);
  PlanBuilder builder(catalog);
  ManifestOptions mo;
  mo.defaults_json = R"({"model": "z-image-turbo", "format": "webp"})";
  ManifestReader reader(dir / "m.jsonl", mo);
  while (auto e = reader.next()) builder.add(*e);
  return builder.summary(std::uint64_t{1} << 40);
}

const ModelPlan* find_model(const PlanSummary& p, const std::string& id) {
  for (const auto& m : p.models)
    if (m.model == id) return &m;
  return nullptr;
}

}  // namespace

TEST(PlanTest, MixedManifestGivesExactCountsAndCostPerModel) {
  const Catalog catalog = test::fixture_catalog();
  const PlanSummary p = plan_of(catalog, kMixedManifest);

  const ModelPlan* sd = find_model(p, "venice-sd35");
  ASSERT_TRUE(sd);
  EXPECT_EQ(sd->jobs, 2u);
  EXPECT_EQ(sd->images, 5u);
  EXPECT_EQ(sd->invalid.total(), 1u);
  EXPECT_NEAR(sd->cost_usd, 0.05, 1e-9);
  EXPECT_NEAR(sd->cost_diem, 0.5, 1e-9);
  EXPECT_EQ(sd->rpm, 20u);
  EXPECT_EQ(sd->rpd, 1000u);

  const ModelPlan* z = find_model(p, "z-image-turbo");
  ASSERT_TRUE(z);
  EXPECT_EQ(z->jobs, 2u);
  EXPECT_EQ(z->images, 3u);
  EXPECT_NEAR(z->cost_usd, 0.03, 1e-9);
  EXPECT_EQ(z->cost_diem, 0);  // z-image-turbo lists no DIEM price
  EXPECT_FALSE(z->rpm);        // not stated: the plan assumes the default 20/min

  const ModelPlan* nano = find_model(p, "nano-banana-pro");
  ASSERT_TRUE(nano);
  EXPECT_EQ(nano->jobs, 4u);
  EXPECT_EQ(nano->images, 5u);
  EXPECT_NEAR(nano->cost_usd, 0.24 + 0.70 + 0.24 + 0.24, 1e-9);  // 2K by default
  EXPECT_NEAR(nano->cost_diem, 14.2, 1e-9);
  EXPECT_EQ(nano->unpriced_extras.at("enable_web_search"), 1u);
  EXPECT_EQ(nano->warnings.total(), 1u);  // width/height on an aspect-ratio model

  const ModelPlan* gpt = find_model(p, "gpt-image-2");  // the alias gpt-image counts here
  ASSERT_TRUE(gpt);
  EXPECT_EQ(gpt->jobs, 4u);
  EXPECT_EQ(gpt->images, 6u);
  EXPECT_NEAR(gpt->cost_usd, 0.07 + 3 * 0.83 + 0.42 + 0.02, 1e-9);
  EXPECT_NEAR(gpt->cost_diem, 0.7 + 24.9 + 0.2, 1e-9);  // 2K high lists no DIEM
  EXPECT_EQ(gpt->unpriced_extras.at("enhance_prompt"), 1u);
  ASSERT_EQ(gpt->invalid.entries().size(), 1u);  // the same reason twice
  const auto& [reason, entry] = *gpt->invalid.entries().begin();
  EXPECT_NE(reason.find("aspect_ratio"), std::string::npos) << reason;
  EXPECT_EQ(entry.count, 2u);
  EXPECT_EQ(entry.first_lines, (std::vector<std::uint64_t>{13, 14}));

  const ModelPlan* unknown = find_model(p, "dall-e-9");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->jobs, 0u);
  EXPECT_EQ(unknown->invalid.total(), 1u);

  EXPECT_EQ(p.manifest_invalid.total(), 3u);  // blank prompt, not JSON, repeated id
  EXPECT_EQ(p.jobs, 12u);
  EXPECT_EQ(p.images, 19u);
  EXPECT_EQ(p.invalid, 7u);
  EXPECT_NEAR(p.cost_usd, 4.50, 1e-9);
  EXPECT_NEAR(p.cost_diem, 40.5, 1e-9);
  EXPECT_EQ(p.unpriced_jobs, 0u);
  EXPECT_NEAR(p.minutes, 0.25, 1e-9);  // 5 images at 20/min: the slowest model
}

TEST(PlanTest, DiskEstimateFollowsFormatAndPixels) {
  EXPECT_EQ(estimate_image_bytes(ImageFormat::webp, 1024 * 1024), 262144u);
  EXPECT_EQ(estimate_image_bytes(ImageFormat::png, 1024 * 1024), 1887437u);
  EXPECT_GT(estimate_image_bytes(ImageFormat::jpeg, 100), estimate_image_bytes(ImageFormat::webp, 100));
  const Catalog catalog = test::fixture_catalog();
  const PlanSummary p = plan_of(catalog, R"({"model": "venice-sd35", "prompt": "p", "width": 512, "height": 512}
{"model": "venice-sd35", "prompt": "p", "variants": 4}
{"model": "gpt-image-2", "prompt": "p", "resolution": "4K", "format": "png"}
)");
  // 512x512 webp, 4 x 1024x1024 webp (the API's default size), each job + 1 KiB of journal.
  EXPECT_EQ(find_model(p, "venice-sd35")->disk_bytes, 65536u + 1024 + 4 * 262144u + 1024);
  // A 4K tier image is about 4096 x 4096 pixels.
  EXPECT_EQ(find_model(p, "gpt-image-2")->disk_bytes, estimate_image_bytes(ImageFormat::png, 4096u * 4096u) + 1024);
  PlanSummary tight = p;
  tight.free_bytes = p.disk_bytes - 1;
  EXPECT_FALSE(tight.fits());
  EXPECT_NE(format_plan(tight).find("NOT ENOUGH"), std::string::npos);
}

TEST(PlanTest, DailyCapTurnsTheTimeIntoDays) {
  const Catalog catalog = test::fixture_catalog();
  std::string manifest;
  for (int i = 0; i < 300; ++i) manifest += R"({"model": "venice-sd35", "prompt": "p", "variants": 4})" "\n";
  const PlanSummary p = plan_of(catalog, manifest);
  const ModelPlan* sd = find_model(p, "venice-sd35");
  ASSERT_TRUE(sd);
  EXPECT_EQ(sd->images, 1200u);
  EXPECT_NEAR(sd->minutes(), 60, 1e-9);  // 1200 images at 20/min
  EXPECT_EQ(sd->days(), 2u);              // over the 1000 a day cap
  EXPECT_EQ(p.days, 2u);
  EXPECT_NE(format_plan(p).find("2 days at 1000/day"), std::string::npos) << format_plan(p);
}

TEST(PlanTest, UnpricedModelIsCountedApart) {
  const Catalog catalog = test::fixture_catalog();
  const PlanSummary p = plan_of(catalog, R"({"model": "venice-internal", "prompt": "p"}
)");
  const ModelPlan* m = find_model(p, "venice-internal");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->jobs, 1u);
  EXPECT_EQ(m->unpriced_jobs, 1u);
  EXPECT_EQ(m->cost_usd, 0);
  EXPECT_EQ(p.unpriced_jobs, 1u);
  EXPECT_NE(format_plan(p).find("Not in the estimate"), std::string::npos);
}

TEST(PlanTest, CommandPrintsThePlanAndWritesParsableJson) {
  test_support::TempDir dir;
  test_support::write_file(dir / "m.jsonl", kMixedManifest);
  test_support::write_file(dir / "catalog.json", catalog_sources_to_json(test::fixture_sources()));
  auto r = test_support::run_process({VENICE_BATCH_EXE, "plan", "--manifest", (dir / "m.jsonl").string(), "--catalog",
                                      (dir / "catalog.json").string(), "--out", (dir / "not-yet/out").string(),
                                      "--json", (dir / "plan.json").string()});
  EXPECT_EQ(r.exit_status, 1) << r.err;  // some lines are invalid
  EXPECT_NE(r.out.find("gpt-image-2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("$4.50"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Invalid lines (7)"), std::string::npos) << r.out;

  rapidjson::Document doc;
  const std::string json = test_support::read_file(dir / "plan.json");
  ASSERT_FALSE(doc.Parse(json.c_str()).HasParseError()) << json;
  const auto& totals = doc["totals"];
  EXPECT_EQ(totals["jobs"].GetUint64(), 12u);
  EXPECT_EQ(totals["images"].GetUint64(), 19u);
  EXPECT_EQ(totals["invalid"].GetUint64(), 7u);
  EXPECT_NEAR(totals["cost_usd"].GetDouble(), 4.50, 1e-9);
  EXPECT_EQ(doc["models"].Size(), 5u);
  EXPECT_EQ(doc["manifest_invalid"].Size(), 3u);
  EXPECT_TRUE(doc["disk"]["fits"].GetBool());
  EXPECT_TRUE(doc["disk"]["free_bytes"].IsUint64());  // the nearest existing parent's file system
}

TEST(PlanTest, RefusesWithoutACatalog) {
  test_support::TempDir dir;
  test_support::write_file(dir / "m.jsonl", R"({"prompt": "p"})" "\n");
  auto r = test_support::run_process({VENICE_BATCH_EXE, "plan", "--manifest", (dir / "m.jsonl").string()});
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_NE(r.err.find("plan needs the catalog's prices: "), std::string::npos) << r.err;
}

TEST(PlanTest, AllValidAndFittingExitsZero) {
  test_support::TempDir dir;
  test_support::write_file(dir / "m.jsonl", R"({"prompt": "p"})" "\n");
  test_support::write_file(dir / "catalog.json", catalog_sources_to_json(test::fixture_sources()));
  auto r = test_support::run_process({VENICE_BATCH_EXE, "plan", "--manifest", (dir / "m.jsonl").string(), "--catalog",
                                      (dir / "catalog.json").string(), "--out", dir.path().string()});
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("z-image-turbo"), std::string::npos) << r.out;
}

TEST(PlanTest, ReasonTallyKeepsMemoryBounded) {
  ReasonTally t;
  for (std::uint64_t i = 1; i <= 1000; ++i) t.add(fmt::format("prompt: {} characters, over the limit", 8000 + i), i);
  EXPECT_EQ(t.total(), 1000u);
  EXPECT_EQ(t.entries().size(), ReasonTally::kReasonsKept + 1);
  EXPECT_EQ(t.entries().at(ReasonTally::kOtherReasons).count, 1000 - ReasonTally::kReasonsKept);
  EXPECT_EQ(t.entries().at("prompt: 8001 characters, over the limit").first_lines, std::vector<std::uint64_t>{1});
}

TEST(PlanTest, ManifestTextReachesTheTerminalEscaped) {
  const Catalog catalog = test::fixture_catalog();
  const PlanSummary p = plan_of(catalog, R"({"model": "evil\u001b[2J", "prompt": "p"})" "\n");
  ASSERT_EQ(p.invalid, 1u);
  const std::string text = format_plan(p);
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_NE(text.find("evil\\x1b[2J"), std::string::npos) << text;
}

TEST(PlanTest, HelpListsEveryOptionAndTheReadmeDocumentsIt) {
  const auto help = test_support::run_process({VENICE_BATCH_EXE, "plan", "--help"});
  EXPECT_EQ(help.exit_status, 0);
  const std::string readme = test_support::read_file(std::filesystem::path(VENICE_SOURCE_DIR) / "README.md");
  const auto plan_section = readme.find("`plan` is a dry run");
  ASSERT_NE(plan_section, std::string::npos);
  for (const char* opt : {"--manifest", "--catalog", "--out", "--retry-failed", "--json", "--config", "--base-url", "--ca-file", "--timeout"}) {
    EXPECT_NE(help.out.find(opt), std::string::npos) << "plan --help lacks " << opt;
    EXPECT_NE(readme.find(std::string("`") + opt, plan_section), std::string::npos) << opt << " is not in README's plan";
  }
  EXPECT_NE(help.out.find("Exit status"), std::string::npos);
}

TEST(PlanTest, APromptOverTheGenericCapButWithinItsModelsLimitIsValidAsInARun) {
  // 20,000 characters: over the generic 7,500, within nano-banana-pro's 32,768 (run lifts the
  // generic cap with a catalog; plan did not, and counted the line invalid). An OpenAI Batch line
  // is planned with its size mapped by the model's family.
  test_support::TempDir dir;
  const std::string long_prompt(20000, 'a');
  test_support::write_file(
      dir / "m.jsonl",
      R"({"model": "nano-banana-pro", "prompt": ")" + long_prompt + R"(", "aspect_ratio": "1:1"})" "\n"
      R"({"custom_id": "oa", "method": "POST", "url": "/v1/images/generations", "body": {"model": "gpt-image-2", "prompt": "p", "size": "1536x1024", "quality": "low"}})" "\n");
  test_support::write_file(dir / "catalog.json", catalog_sources_to_json(test::fixture_sources()));
  auto r = test_support::run_process({VENICE_BATCH_EXE, "plan", "--manifest", (dir / "m.jsonl").string(), "--catalog",
                                      (dir / "catalog.json").string(), "--out", dir.path().string()});
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("nano-banana-pro"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("gpt-image-2"), std::string::npos) << r.out;
}

namespace {

// A journal as a run would have left it for the manifest `text`: `a` ok, `b` failed for good,
// `c` failed retryable, `d` ok for another request (its line changed since); `e` never recorded.
constexpr const char* kResumeManifest =
    R"({"id": "a", "prompt": "p"}
{"id": "b", "prompt": "p"}
{"id": "c", "prompt": "p"}
{"id": "d", "prompt": "p, changed"}
{"id": "e", "prompt": "p"}
)";

void write_resume_journal(const std::filesystem::path& manifest, const std::filesystem::path& journal) {
  ManifestOptions mo;
  mo.defaults_json = R"({"model": "z-image-turbo", "format": "webp"})";
  ManifestReader reader(manifest, mo);
  std::string lines;
  while (auto e = reader.next()) {
    const auto& job = std::get<JobSpec>(*e);
    JobRecord r;
    r.id = job.id;
    r.line = job.line;
    r.request_hash = job.request_hash;
    r.line_key = job.line_key;
    if (job.id == "a") r.status = JobStatus::ok;
    else if (job.id == "b") r.error = JobError{"http_400", "bad", "", "", false, false};
    else if (job.id == "c") r.error = JobError{"timeout", "slow", "", "", true, false};
    else if (job.id == "d") r.status = JobStatus::ok, r.request_hash = std::string(64, 'a'), r.line_key.clear();
    else continue;
    lines += to_json_line(r) + "\n";
  }
  test_support::write_file(journal, lines);
}

}  // namespace

TEST(PlanTest, AnOutDirARunUsedIsPlannedAsItsResumeWouldSendIt) {
  // A user planning the rest of a half-done run must see the rest's cost, not the whole
  // manifest's again (z-image-turbo costs $0.01 a job in the fixture).
  test_support::TempDir dir;
  test_support::write_file(dir / "m.jsonl", kResumeManifest);
  std::filesystem::create_directory(dir / "out");
  write_resume_journal(dir / "m.jsonl", dir / "out" / "results.jsonl");
  const Catalog catalog = test::fixture_catalog();
  const JournalSummary previous = read_journal(dir / "out" / "results.jsonl");
  for (const bool retry_failed : {false, true}) {
    PlanBuilder builder(catalog);
    builder.resume_from(&previous, false);
    builder.set_retry_failed(retry_failed);
    ManifestOptions mo;
    mo.defaults_json = R"({"model": "z-image-turbo", "format": "webp"})";
    ManifestReader reader(dir / "m.jsonl", mo);
    while (auto e = reader.next()) builder.add(*e);
    const PlanSummary p = builder.summary(std::uint64_t{1} << 40);
    EXPECT_TRUE(p.journal);
    EXPECT_EQ(p.already_done, 1u);                       // a
    EXPECT_EQ(p.failed_skipped, retry_failed ? 0u : 1u);  // b
    EXPECT_EQ(p.changed, 1u);                            // d
    EXPECT_EQ(p.jobs, retry_failed ? 4u : 3u) << retry_failed;  // c, d, e (and b)
  }
  // A webdataset keeps the sample of an ok job whose line changed: nothing is sent for d.
  PlanBuilder wds(catalog);
  wds.resume_from(&previous, true);
  ManifestOptions mo;
  mo.defaults_json = R"({"model": "z-image-turbo", "format": "webp"})";
  ManifestReader reader(dir / "m.jsonl", mo);
  while (auto e = reader.next()) wds.add(*e);
  EXPECT_EQ(wds.summary(std::nullopt).already_done, 2u);
  EXPECT_EQ(wds.summary(std::nullopt).jobs, 2u);

  // The command reads --out's journal, says so, and writes the counts in its JSON.
  test_support::write_file(dir / "catalog.json", catalog_sources_to_json(test::fixture_sources()));
  auto r = test_support::run_process({VENICE_BATCH_EXE, "plan", "--manifest", (dir / "m.jsonl").string(), "--catalog",
                                      (dir / "catalog.json").string(), "--out", (dir / "out").string(), "--json",
                                      (dir / "plan.json").string()});
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("1 job already done (skipped), 1 job failed for good (skipped; --retry-failed sends them), "
                       "1 job whose line changed since (sent again)"),
            std::string::npos)
      << r.out;
  rapidjson::Document doc;
  const std::string json = test_support::read_file(dir / "plan.json");
  ASSERT_FALSE(doc.Parse(json.c_str()).HasParseError()) << json;
  EXPECT_EQ(doc["totals"]["jobs"].GetUint64(), 3u);
  EXPECT_TRUE(doc["resume"]["journal"].GetBool());
  EXPECT_EQ(doc["resume"]["already_done"].GetUint64(), 1u);
  EXPECT_EQ(doc["resume"]["failed_skipped"].GetUint64(), 1u);
  EXPECT_EQ(doc["resume"]["changed"].GetUint64(), 1u);
  // An out dir without a journal plans the whole manifest, and says nothing of resuming.
  auto fresh = test_support::run_process({VENICE_BATCH_EXE, "plan", "--manifest", (dir / "m.jsonl").string(),
                                          "--catalog", (dir / "catalog.json").string(), "--out", dir.path().string()});
  EXPECT_EQ(fresh.out.find("Resuming"), std::string::npos) << fresh.out;
}
