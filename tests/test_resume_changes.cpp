// Resume when the manifest changed between runs: what is left in the out dir and what is asked again.
#include <gtest/gtest.h>

#include "fault_fixture.hpp"
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
