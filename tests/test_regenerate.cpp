// Regenerating what the filter spoiled (--regenerate-flagged): the decision with an injected
// random source, the body with its new seed, and runs against the emulator's blurred and
// content-violation answers.
#include <gtest/gtest.h>

#include <simdjson.h>
#include <sys/stat.h>

#include "fault_fixture.hpp"
#include "venice_batch/regenerate.hpp"

using namespace venice_batch;
using namespace fault_test;

TEST(RegenerateTest, AFlaggedTryIsAskedAgainWithANewSeedOnlyWhileTriesRemain) {
  RandomSource half = [] { return 0.5; };
  auto d = decide_regeneration(ImageFlag::blurred, 0, 2, half);
  EXPECT_TRUE(d.again);
  EXPECT_EQ(d.seed, 500'000'000);
  EXPECT_TRUE(decide_regeneration(ImageFlag::content_violation, 1, 2, half).again);
  EXPECT_FALSE(decide_regeneration(ImageFlag::blurred, 2, 2, half).again);
  EXPECT_FALSE(decide_regeneration(ImageFlag::none, 0, 5, half).again) << "an unflagged try is done";
  EXPECT_FALSE(decide_regeneration(ImageFlag::blurred, 0, 0, half).again) << "off by default";
  // The seed stays in the API's range and is never 0 (a literal seed, not a random one).
  EXPECT_EQ(decide_regeneration(ImageFlag::blurred, 0, 1, [] { return 0.0; }).seed, 1);
  EXPECT_EQ(decide_regeneration(ImageFlag::blurred, 0, 1, [] { return 0.9999999999999; }).seed, 999'999'999);
}

TEST(RegenerateTest, ARerunGoesOnWithTheRegenerationItsLastRecordWaitsForAndNothingElse) {
  JournalState between;
  between.status = JobStatus::failed;
  between.retryable = true;
  between.request_hash64 = 0xabc;
  between.regenerating = 2;
  EXPECT_EQ(resume_regeneration(&between, 0xabc), 2u);
  EXPECT_EQ(resume_regeneration(nullptr, 0xabc), 0u) << "never run";
  EXPECT_EQ(resume_regeneration(&between, 0xdef), 0u) << "a changed line starts from its own request";
  JournalState ended = between;
  ended.retryable = false;  // ended flagged: only --retry-failed asks again, from the line
  EXPECT_EQ(resume_regeneration(&ended, 0xabc), 0u);
  JournalState ok = between;
  ok.status = JobStatus::ok;
  EXPECT_EQ(resume_regeneration(&ok, 0xabc), 0u);
  JournalState unhashed = between;
  unhashed.request_hash64 = 0;  // an older record: its request is not known to be this one
  EXPECT_EQ(resume_regeneration(&unhashed, 0), 0u);
  EXPECT_EQ(random_seed([] { return 0.5; }), 500'000'000);
}

TEST(RegenerateTest, TheSeedIsReplacedOrAddedAndTheRestOfTheBodyKept) {
  simdjson::dom::parser p;
  auto replaced = request_with_seed(R"({"prompt":"a \"fox\"","seed":7,"width":64})", 99);
  EXPECT_EQ(p.parse(replaced)["seed"].get_int64().value(), 99);
  EXPECT_EQ(std::string_view(p.parse(replaced)["prompt"].get_string().value()), "a \"fox\"");
  auto added = request_with_seed(R"({"prompt":"p"})", 5);
  EXPECT_EQ(p.parse(added)["seed"].get_int64().value(), 5);
  EXPECT_EQ(request_with_seed("not json", 5), "not json");
}

namespace {
struct Try {
  std::string flag;
  std::optional<std::int64_t> seed;
  bool priced = false;
};
std::vector<Try> tries_of(const std::filesystem::path& out, const std::string& id) {
  std::vector<Try> tries;
  simdjson::dom::parser p;
  for (const auto& line : test_support::read_lines(out / "results.jsonl")) {
    simdjson::dom::element e;
    std::string_view line_id;
    simdjson::dom::array log;
    if (p.parse(line).get(e) || e["id"].get(line_id) || line_id != id || e["attempt_log"].get(log)) continue;
    tries.clear();  // the last record of the id
    for (simdjson::dom::element a : log) {
      Try t;
      std::string_view flag;
      if (!a["flag"].get(flag)) t.flag = flag;
      std::int64_t seed = 0;
      if (!a["seed"].get(seed)) t.seed = seed;
      double price = 0;
      t.priced = !a["price_usd"].get(price);
      tries.push_back(t);
    }
  }
  return tries;
}
}  // namespace

TEST(RegenerateTest, ABlurredAnswerIsAskedAgainAndEachTryIsRecordedWithItsSeedFlagAndPrice) {
  Fixture fx(schedule("blurred,violation,ok"));
  test_support::write_file(fx.dir / "m.jsonl", R"({"id":"fox","prompt":"a fox","width":64,"height":64,"seed":42})" "\n");
  auto r = fx.run(fx.dir / "m.jsonl", {"--regenerate-flagged", "3"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  auto s = final_state(fx.out());
  EXPECT_EQ(s["fox"].status, "ok");
  auto tries = tries_of(fx.out(), "fox");
  ASSERT_EQ(tries.size(), 3u);
  EXPECT_EQ(tries[0].flag, "blurred");
  EXPECT_EQ(tries[0].seed, 42) << "the line's own seed";
  EXPECT_EQ(tries[1].flag, "content_violation");
  EXPECT_FALSE(tries[1].priced) << "a content violation is not billed";
  EXPECT_EQ(tries[2].flag, "");
  ASSERT_TRUE(tries[1].seed && tries[2].seed);
  EXPECT_NE(*tries[1].seed, 42);
  EXPECT_NE(*tries[2].seed, *tries[1].seed);
  // The kept image is in the dataset; the blurred one apart.
  ASSERT_EQ(s["fox"].files.size(), 1u);
  EXPECT_TRUE(s["fox"].files[0].starts_with("images/")) << s["fox"].files[0];
  EXPECT_TRUE(std::filesystem::exists(fx.out() / "flagged/fox_0.webp"));
  // Counted apart too: the dataset holds one image, the summary says where the other is.
  const auto metrics = test_support::read_file(fx.out() / "metrics.json");
  EXPECT_NE(metrics.find(R"("images":1,)"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find(R"("images_flagged":1,)"), std::string::npos) << metrics;
  EXPECT_NE(r.err.find("flagged: 1 blurred images kept apart in"), std::string::npos) << r.err;
  // A resume pays for nothing again: the hash is the line's, not the regenerated body's.
  const auto requests = fx.server->stats().requests;
  ASSERT_EQ(fx.run(fx.dir / "m.jsonl", {"--regenerate-flagged", "3"}).exit_status, 0);
  EXPECT_EQ(fx.server->stats().requests, requests);
}

// metrics.json's images_blurred counted blurred answers: a blurred answer of two variants was one.
TEST(RegenerateTest, BlurredImagesAreCountedAsImagesNotAnswers) {
  Fixture fx(schedule("blurred,ok"));
  test_support::write_file(fx.dir / "m.jsonl",
                           R"({"id":"fox","prompt":"a fox","width":64,"height":64,"variants":2})" "\n");
  auto r = fx.run(fx.dir / "m.jsonl", {"--regenerate-flagged", "1"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  const auto metrics = test_support::read_file(fx.out() / "metrics.json");
  EXPECT_NE(metrics.find(R"("images":2,)"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find(R"("images_blurred":2,)"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find(R"("images_flagged":2,)"), std::string::npos) << metrics;
}

TEST(RegenerateTest, WhenTriesRunOutABlurredJobFailsAndItsImageIsNeverInTheDataset) {
  Fixture fx(schedule("blurred,blurred"));
  test_support::write_file(fx.dir / "m.jsonl", R"({"id":"owl","prompt":"an owl","width":64,"height":64})" "\n");
  auto r = fx.run(fx.dir / "m.jsonl", {"--regenerate-flagged", "1", "--flagged-images", "discard"});
  EXPECT_EQ(r.exit_status, 1) << r.err;
  auto s = final_state(fx.out());
  EXPECT_EQ(s["owl"].status, "failed");
  EXPECT_EQ(s["owl"].error_kind, "blurred");
  EXPECT_EQ(tries_of(fx.out(), "owl").size(), 2u);
  EXPECT_FALSE(std::filesystem::exists(fx.out() / "flagged")) << "discarded";
  // Between the two tries the journal said where the job was: a kill there would not pay the first again.
  bool progress_recorded = false;
  for (const auto& line : test_support::read_lines(fx.out() / "results.jsonl"))
    progress_recorded |= line.find(R"("status":"failed","retryable":true)") != std::string::npos &&
                         line.find(R"("regenerating":1)") != std::string::npos &&
                         line.find(R"("kind":"regenerating")") != std::string::npos;
  EXPECT_TRUE(progress_recorded);
  const auto metrics = test_support::read_file(fx.out() / "metrics.json");
  EXPECT_NE(metrics.find(R"("done":1,"ok":0,"failed":1)"), std::string::npos) << "a progress record is not a finished job";
  for (auto& e : std::filesystem::recursive_directory_iterator(fx.out() / "images"))
    EXPECT_FALSE(e.is_regular_file()) << e.path();
  // Not asked again on a plain rerun (each try is paid); --retry-failed asks.
  const auto requests = fx.server->stats().requests;
  ASSERT_EQ(fx.run(fx.dir / "m.jsonl").exit_status, 1);
  EXPECT_EQ(fx.server->stats().requests, requests);
}

TEST(RegenerateTest, EachFlaggedTryKeepsItsOwnImageInFlagged) {
  Fixture fx(schedule("blurred,blurred,blurred"));
  test_support::write_file(fx.dir / "m.jsonl", R"({"id":"owl","prompt":"an owl","width":64,"height":64})" "\n");
  EXPECT_EQ(fx.run(fx.dir / "m.jsonl", {"--regenerate-flagged", "2"}).exit_status, 1);
  EXPECT_TRUE(std::filesystem::exists(fx.out() / "flagged/owl_0.webp"));
  EXPECT_TRUE(std::filesystem::exists(fx.out() / "flagged/owl_0.regen1.webp"));
  EXPECT_TRUE(std::filesystem::exists(fx.out() / "flagged/owl_0.regen2.webp"));
  auto s = final_state(fx.out());
  ASSERT_EQ(s["owl"].files.size(), 1u);
  EXPECT_EQ(s["owl"].files[0], "flagged/owl_0.regen2.webp") << "the record names the last try's image";
  const auto metrics = test_support::read_file(fx.out() / "metrics.json");
  EXPECT_NE(metrics.find(R"("images":0,)"), std::string::npos) << "no image reached the dataset: " << metrics;
  EXPECT_NE(metrics.find(R"("images_flagged":3,)"), std::string::npos) << metrics;
}

// Found reading the leftovers: --retry-failed on a job that ended blurred wrote its new blurred
// image over flagged/owl_0.webp, the image the first run had paid for. Nothing in flagged/ is
// ever replaced: the new one gets a number, and the record names it.
TEST(RegenerateTest, AskingABlurredJobAgainNeverReplacesTheImageAnEarlierRunPaidFor) {
  Fixture fx(schedule("blurred,blurred,blurred"));
  test_support::write_file(fx.dir / "m.jsonl", R"({"id":"owl","prompt":"an owl","width":64,"height":64})" "\n");
  EXPECT_EQ(fx.run(fx.dir / "m.jsonl").exit_status, 1);
  const auto first = test_support::read_file(fx.out() / "flagged/owl_0.webp");
  ASSERT_FALSE(first.empty());
  auto inode = [&] {
    struct stat st {};
    return ::stat((fx.out() / "flagged/owl_0.webp").c_str(), &st) == 0 ? st.st_ino : 0;
  };
  const auto first_inode = inode();
  EXPECT_EQ(fx.run(fx.dir / "m.jsonl", {"--retry-failed"}).exit_status, 1);
  EXPECT_EQ(fx.run(fx.dir / "m.jsonl", {"--retry-failed"}).exit_status, 1);
  EXPECT_EQ(fx.server->stats().requests, 3u);
  EXPECT_EQ(test_support::read_file(fx.out() / "flagged/owl_0.webp"), first) << "the first run's paid image, untouched";
  EXPECT_EQ(inode(), first_inode) << "not replaced, even by the same bytes";
  EXPECT_TRUE(std::filesystem::exists(fx.out() / "flagged/owl_0.2.webp"));
  EXPECT_TRUE(std::filesystem::exists(fx.out() / "flagged/owl_0.3.webp"));
  auto s = final_state(fx.out());
  ASSERT_EQ(s["owl"].files.size(), 1u);
  EXPECT_EQ(s["owl"].files[0], "flagged/owl_0.3.webp") << "the record names the file this try wrote";
  const auto metrics = test_support::read_file(fx.out() / "metrics.json");
  EXPECT_NE(metrics.find(R"("images_flagged":1,)"), std::string::npos) << "this run's one: " << metrics;
}

// A run that stops in the middle of a job's regenerations (here the key is refused on the
// regeneration) must not make the rerun pay for the flagged try again: it goes on with the
// regeneration, with a new seed, and sends nothing else.
TEST(RegenerateTest, ARunStoppedBetweenTriesGoesOnWithTheRegenerationNotTheFlaggedTry) {
  Fixture fx(schedule("blurred,401"));
  test_support::write_file(fx.dir / "m.jsonl", R"({"id":"fox","prompt":"a fox","width":64,"height":64,"seed":42})" "\n");
  auto first = fx.run(fx.dir / "m.jsonl", {"--regenerate-flagged", "3"});
  EXPECT_NE(first.exit_status, 0);
  EXPECT_EQ(fx.server->stats().requests, 2u);
  EXPECT_NE(test_support::read_file(fx.out() / "results.jsonl").find(R"("regenerating":1)"), std::string::npos);
  auto again = fx.run(fx.dir / "m.jsonl", {"--regenerate-flagged", "3"});
  ASSERT_EQ(again.exit_status, 0) << again.err;
  EXPECT_EQ(fx.server->stats().requests, 3u) << "one request: the regeneration, not the flagged try again";
  auto s = final_state(fx.out());
  EXPECT_EQ(s["fox"].status, "ok");
  auto tries = tries_of(fx.out(), "fox");
  ASSERT_EQ(tries.size(), 1u);
  ASSERT_TRUE(tries[0].seed);
  EXPECT_NE(*tries[0].seed, 42) << "a new seed: the line's own was flagged";
  // The answer echoes the regeneration's seed; the echo check compares it with that one, not the
  // line's (which would turn the seed check off, with a warning, on this first answer).
  EXPECT_EQ(again.err.find("echoed a seed other"), std::string::npos) << again.err;
}

// Found by a hostile test: the spend cap (or the model's daily cap) met between two tries ended
// the job for good, recorded "blurred", not retryable, "after 3 regeneration(s)" when 2 were sent.
// It waits for its regeneration like a run stopped there: a later run sends just that one.
TEST(RegenerateTest, ALimitMetBetweenTriesLeavesTheJobWaitingForItsRegeneration) {
  Fixture fx(schedule("blurred,blurred,ok"));
  test_support::write_file(fx.dir / "m.jsonl", R"({"id":"fox","prompt":"a fox","width":64,"height":64,"seed":42})" "\n");
  auto first = fx.run(fx.dir / "m.jsonl", {"--regenerate-flagged", "5", "--max-spend", "0.02"});
  EXPECT_EQ(first.exit_status, 4) << first.err;
  EXPECT_EQ(fx.server->stats().requests, 2u) << "two paid tries fit $0.02";
  auto s = final_state(fx.out());
  EXPECT_EQ(s["fox"].status, "failed");
  EXPECT_EQ(s["fox"].error_kind, "interrupted");
  EXPECT_NE(s["fox"].error_message.find("before regeneration 2 was sent"), std::string::npos) << s["fox"].error_message;
  EXPECT_NE(test_support::read_lines(fx.out() / "results.jsonl").back().find(R"("regenerating":2)"), std::string::npos);
  auto again = fx.run(fx.dir / "m.jsonl", {"--regenerate-flagged", "5"});
  ASSERT_EQ(again.exit_status, 0) << again.err;
  EXPECT_EQ(fx.server->stats().requests, 3u) << "one request: regeneration 2, no paid try again";
  EXPECT_EQ(final_state(fx.out())["fox"].status, "ok");
}

// Found by a hostile test: a run stopped waiting for regeneration 2, resumed with
// --regenerate-flagged 1, sent and paid for regeneration 2 anyway. The lower cap holds: nothing
// is sent, and the job keeps waiting (ending it blurred would leave only --retry-failed, which
// pays again for the line's own flagged request); exit 4 says a limit held it.
TEST(RegenerateTest, AResumeWithFewerTriesAllowedSendsNoRegenerationBeyondThem) {
  Fixture fx(schedule("blurred,blurred,ok"));
  test_support::write_file(fx.dir / "m.jsonl", R"({"id":"fox","prompt":"a fox","width":64,"height":64,"seed":42})" "\n");
  EXPECT_EQ(fx.run(fx.dir / "m.jsonl", {"--regenerate-flagged", "5", "--max-spend", "0.02"}).exit_status, 4);
  ASSERT_NE(test_support::read_lines(fx.out() / "results.jsonl").back().find(R"("regenerating":2)"), std::string::npos);
  for (const char* fewer : {"1", "0"}) {
    auto held = fx.run(fx.dir / "m.jsonl", {"--regenerate-flagged", fewer});
    EXPECT_EQ(held.exit_status, 4) << held.err;
    EXPECT_NE(held.err.find("wait for a regeneration beyond --regenerate-flagged"), std::string::npos) << held.err;
    EXPECT_NE(held.err.find("--regenerate-flagged 2 sends them all"), std::string::npos) << held.err;
    EXPECT_EQ(fx.server->stats().requests, 2u) << "regeneration 2 is beyond the tries this run allows";
  }
  EXPECT_NE(test_support::read_lines(fx.out() / "results.jsonl").back().find(R"("regenerating":2)"), std::string::npos)
      << "still waiting for it";
  auto again = fx.run(fx.dir / "m.jsonl", {"--regenerate-flagged", "2"});
  ASSERT_EQ(again.exit_status, 0) << again.err;
  EXPECT_EQ(fx.server->stats().requests, 3u) << "regeneration 2, nothing paid again";
  EXPECT_EQ(final_state(fx.out())["fox"].status, "ok");
}

// Found in review: a job waiting for its regeneration, refused before sending by a later run (an
// extra the catalog does not price, under --max-spend), was recorded invalid; that record replaced
// the one saying which regeneration it waited for, and the run after sent the line's own, flagged,
// seed again. The refusal now leaves the waiting record as it is.
TEST(RegenerateTest, ARefusalBeforeSendingKeepsAJobWaitingForItsRegeneration) {
  Fixture fx(schedule("blurred,401"));
  test_support::write_file(fx.dir / "m.jsonl",
                           R"({"id":"fox","prompt":"a fox","width":64,"height":64,"seed":42,"enhance_prompt":true})" "\n");
  EXPECT_EQ(fx.run(fx.dir / "m.jsonl", {"--regenerate-flagged", "3"}).exit_status, 3);
  ASSERT_NE(test_support::read_lines(fx.out() / "results.jsonl").back().find(R"("regenerating":1)"), std::string::npos);
  auto refused = fx.run(fx.dir / "m.jsonl", {"--regenerate-flagged", "3", "--max-spend", "1"});
  EXPECT_NE(refused.err.find("keeps waiting for its regeneration"), std::string::npos) << refused.err;
  EXPECT_EQ(fx.server->stats().requests, 2u);
  EXPECT_NE(test_support::read_lines(fx.out() / "results.jsonl").back().find(R"("regenerating":1)"), std::string::npos);
  auto again = fx.run(fx.dir / "m.jsonl", {"--regenerate-flagged", "3"});
  ASSERT_EQ(again.exit_status, 0) << again.err;
  EXPECT_EQ(fx.server->stats().requests, 3u);
  auto tries = tries_of(fx.out(), "fox");
  ASSERT_EQ(tries.size(), 1u);
  ASSERT_TRUE(tries[0].seed);
  EXPECT_NE(*tries[0].seed, 42) << "the regeneration's new seed, not the flagged line's own";
}
