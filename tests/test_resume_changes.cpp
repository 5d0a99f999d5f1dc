// Resume when the manifest changed between runs: what is left in the out dir and what is asked again.
#include <gtest/gtest.h>

#include "fault_fixture.hpp"
#include <set>

#include "venice_batch/layout.hpp"

using namespace fault_test;

TEST(ResumeChangesTest, AChangedFormatReplacesTheOldImagesInsteadOfLeavingThemBeside) {
  Fixture fx(MockFaults{});
  const auto manifest = fx.dir / "m.jsonl";
  test_support::write_file(manifest, R"({"id":"cat","prompt":"a cat","width":64,"height":64,"format":"png","variants":2})"
                                     "\n");
  ASSERT_EQ(fx.run(manifest).exit_status, 0);
  const auto images = fx.out() / "images" / venice_batch::fanout_folder("cat", 3);
  ASSERT_TRUE(std::filesystem::exists(images / "cat_0.png"));
  ASSERT_TRUE(std::filesystem::exists(images / "cat_1.png"));

  test_support::write_file(manifest, R"({"id":"cat","prompt":"a cat","width":64,"height":64,"format":"jpeg"})"
                                     "\n");
  auto r = fx.run(manifest);
  ASSERT_EQ(r.exit_status, 0) << r.err;
  EXPECT_NE(r.err.find("changed since it was recorded"), std::string::npos) << r.err;
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(images))
    names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"cat_0.jpg"}) << "the png variants of the old line must go";
}

TEST(ResumeChangesTest, AFixedInvalidLineRunsAndAnUnchangedOneIsNotRecordedTwice) {
  Fixture fx(MockFaults{});
  const auto manifest = fx.dir / "m.jsonl";
  test_support::write_file(manifest, R"({"id":"a","prompt":"ok"})" "\n" R"({"id":"b","prompt":"x","width":99999})" "\n");
  EXPECT_EQ(fx.run(manifest).exit_status, 1);
  EXPECT_EQ(fx.run(manifest).exit_status, 1);
  EXPECT_EQ(test_support::read_lines(fx.out() / "results.jsonl").size(), 2u) << "the same invalid line is recorded once";

  test_support::write_file(manifest, R"({"id":"a","prompt":"ok"})" "\n" R"({"id":"b","prompt":"x","width":64})" "\n");
  auto r = fx.run(manifest);
  EXPECT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(fx.server->stats().requests, 2u) << "a once, then the fixed b";
}

TEST(ResumeChangesTest, ADuplicateIdNeverUndoesTheFirstJobsOk) {
  Fixture fx(MockFaults{});
  const auto manifest = fx.dir / "m.jsonl";
  test_support::write_file(manifest, R"({"id":"dup","prompt":"one","width":64,"height":64})" "\n"
                                     R"({"id":"dup","prompt":"two","width":64,"height":64})" "\n");
  EXPECT_EQ(fx.run(manifest).exit_status, 1) << "the second line is refused";
  fx.run(manifest);
  auto r = fx.run(manifest, {"--retry-failed"});
  EXPECT_EQ(fx.server->stats().requests, 1u) << "the ok job was requested again: " << r.err;
}


// Found reading the leftovers: a changed line whose new request ended blurred left the old
// line's image in images/, the dataset, where nothing said it was not the line's. Each layout
// that keeps images in a folder is checked; the paid blurred image stays in flagged/.
TEST(ResumeChangesTest, AChangedLineThatEndsBlurredLeavesNoOldImageInTheDataset) {
  for (const std::string layout : {"files", "imagefolder"}) {
    SCOPED_TRACE(layout);
    Fixture fx(schedule("ok,blurred"));
    const auto manifest = fx.dir / "m.jsonl";
    test_support::write_file(manifest, R"({"id":"cat","prompt":"a cat","width":64,"height":64})" "\n");
    ASSERT_EQ(fx.run(manifest, {"--layout", layout}).exit_status, 0);
    ASSERT_EQ(dataset_files(fx.out()), std::set<std::string>{"cat_0.webp"});

    test_support::write_file(manifest, R"({"id":"cat","prompt":"a dog","width":64,"height":64})" "\n");
    auto r = fx.run(manifest, {"--layout", layout});
    EXPECT_EQ(r.exit_status, 1) << r.err;
    EXPECT_EQ(final_state(fx.out())["cat"].error_kind, "blurred");
    EXPECT_TRUE(dataset_files(fx.out()).empty()) << "the cat is not the dog's image";
    const std::string flagged = layout == "imagefolder" ? ".flagged" : "flagged";
    EXPECT_TRUE(std::filesystem::exists(fx.out() / flagged / "cat_0.webp")) << "the paid blurred image is kept apart";
    if (layout == "imagefolder") {
      EXPECT_TRUE(test_support::read_lines(fx.out() / "metadata.jsonl").empty())
          << "at the end of this run, not only at the next start";
    }
  }
}

// A changed line that ends ok in imagefolder appended its new line after the old one for the
// same file name: the dataset named one image twice until the next run rewrote it.
TEST(ResumeChangesTest, AnImagefolderLineRedoneOkIsNamedOnceInMetadataWhenTheRunEnds) {
  Fixture fx(MockFaults{});
  const auto manifest = fx.dir / "m.jsonl";
  test_support::write_file(manifest, R"({"id":"cat","prompt":"a cat","width":64,"height":64})" "\n"
                                     R"({"id":"owl","prompt":"an owl","width":64,"height":64})" "\n");
  ASSERT_EQ(fx.run(manifest, {"--layout", "imagefolder"}).exit_status, 0);
  test_support::write_file(manifest, R"({"id":"cat","prompt":"a black cat","width":64,"height":64})" "\n"
                                     R"({"id":"owl","prompt":"an owl","width":64,"height":64})" "\n");
  ASSERT_EQ(fx.run(manifest, {"--layout", "imagefolder"}).exit_status, 0);
  const auto lines = test_support::read_lines(fx.out() / "metadata.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  std::size_t black = 0;
  for (const auto& l : lines) black += l.find("a black cat") != std::string::npos;
  EXPECT_EQ(black, 1u) << "the new line's prompt, once";
  EXPECT_EQ(dataset_files(fx.out()), (std::set<std::string>{"cat_0.webp", "owl_0.webp"}));
}

// The rule above must not reach a duplicate id: its line is recorded invalid after the first
// line's job was done again ok in this run, and that record is not the job's.
TEST(ResumeChangesTest, ADuplicateIdsRecordNeverRemovesTheImagesOfTheJobItDuplicates) {
  Fixture fx(schedule("blurred,ok"));
  const auto manifest = fx.dir / "m.jsonl";
  test_support::write_file(manifest, R"({"id":"dup","prompt":"one","width":64,"height":64})" "\n");
  EXPECT_EQ(fx.run(manifest).exit_status, 1);
  test_support::write_file(manifest, R"({"id":"dup","prompt":"one","width":64,"height":64})" "\n"
                                     R"({"id":"dup","prompt":"two","width":64,"height":64})" "\n");
  auto r = fx.run(manifest, {"--retry-failed", "--concurrency", "1"});
  EXPECT_EQ(fx.server->stats().requests, 2u) << r.err;
  EXPECT_EQ(dataset_files(fx.out()), std::set<std::string>{"dup_0.webp"}) << r.err;
}

// A new line pasted above a job's unchanged ok line, with the same id: the first line of an id is
// the job (README), so it is done again, and the duplicate's message must say so rather than
// "its record is kept" (found in review).
TEST(ResumeChangesTest, ADuplicateBelowAChangedFirstLineIsNotSaidToKeepTheRecord) {
  Fixture fx(MockFaults{});
  const auto manifest = fx.dir / "m.jsonl";
  const std::string cat = R"({"id":"X","prompt":"a cat","width":64,"height":64})" "\n";
  test_support::write_file(manifest, cat);
  ASSERT_EQ(fx.run(manifest).exit_status, 0);
  test_support::write_file(manifest, R"({"id":"X","prompt":"a dog","width":64,"height":64})" "\n" + cat);
  auto r = fx.run(manifest, {"--lookahead", "1"});
  EXPECT_NE(r.err.find("is done again in this run from its first line"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("its record is kept"), std::string::npos) << r.err;
  EXPECT_EQ(fx.server->stats().requests, 2u);
}
