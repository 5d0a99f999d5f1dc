// A job done again (its line changed, a failure retried): what the dataset folder holds at each
// point, under a kill, a full disk, a refused line and sidecars. Found by a hostile test of the
// rule "images/ keeps only what an ok record names".
#include <gtest/gtest.h>

#include <set>

#include "fault_fixture.hpp"
#include "venice_batch/layout.hpp"

using namespace fault_test;


// A redo wrote its new image over the earlier one of the same name while the journal still said
// ok for the earlier line: a kill there, the earlier line put back, and the job was skipped as
// done with the other prompt's image. Now the journal says first that the job is being redone,
// and the earlier images go before the request is sent.
TEST(ResumeRedoTest, AChangedLineIsNoLongerOkInTheJournalBeforeItsRequestIsAnswered) {
  Fixture fx(MockFaults{}, std::chrono::milliseconds(1500));
  const auto manifest = fx.dir / "m.jsonl";
  const std::string one = R"({"id":"j0","prompt":"PROMPTONE","width":64,"height":64,"format":"png","variants":2})" "\n";
  test_support::write_file(manifest, one);
  ASSERT_EQ(fx.run(manifest).exit_status, 0);
  ASSERT_EQ(dataset_files(fx.out()), (std::set<std::string>{"j0_0.png", "j0_1.png"}));

  test_support::write_file(manifest, R"({"id":"j0","prompt":"PROMPTTWO","width":64,"height":64,"format":"png"})" "\n");
  {
    test_support::ChildProcess child(fx.args(manifest), {{"VENICE_API_KEY", kKey}});
    ASSERT_TRUE(test_support::wait_until([&] { return fx.server->stats().requests == 2; }));
    child.kill(SIGKILL);  // the redo's request is at the server, its answer 1.5 s away
    child.wait();
  }
  auto s = final_state(fx.out());
  EXPECT_EQ(s["j0"].status, "failed");
  EXPECT_EQ(s["j0"].error_kind, "redoing");
  EXPECT_TRUE(dataset_files(fx.out()).empty()) << "the earlier line's images are not the changed line's";

  test_support::write_file(manifest, one);  // the user puts the first line back
  auto r = fx.run(manifest);
  ASSERT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(fx.server->stats().requests, 3u) << "done again, not skipped as done";
  EXPECT_EQ(final_state(fx.out())["j0"].status, "ok");
  EXPECT_EQ(dataset_files(fx.out()), (std::set<std::string>{"j0_0.png", "j0_1.png"}));
}

// A job's first run whose second image could not be written (a full disk; here a directory
// planted at its name) was recorded failed with its first image left in images/, which in
// imagefolder no metadata.jsonl line names (and a loader fails on).
TEST(ResumeRedoTest, AFailedWriteLeavesNoImageOfTheJobInTheDataset) {
  for (const std::string layout : {"files", "imagefolder"}) {
    SCOPED_TRACE(layout);
    Fixture fx(MockFaults{});
    const auto manifest = fx.dir / "m.jsonl";
    test_support::write_file(manifest, R"({"id":"x","prompt":"a fox","width":64,"height":64,"variants":2})" "\n");
    std::filesystem::create_directories(fx.out() / "images" / venice_batch::fanout_folder("x", 3) / "x_1.webp");
    auto r = fx.run(manifest, {"--layout", layout});
    EXPECT_EQ(r.exit_status, 3) << r.err;
    auto s = final_state(fx.out());
    EXPECT_EQ(s["x"].status, "failed");
    EXPECT_EQ(s["x"].error_kind, "write_failed");
    EXPECT_EQ(dataset_files(fx.out()), std::set<std::string>{}) << "x_0.webp of a failed job";
  }
}

// Two ways to refuse a changed line were handled in opposite ways: a bad width kept the ok
// record and its image, an unknown model deleted the paid image while the journal kept the ok
// (an invalid record never undoes an ok one). Both keep the image now; the line put back is free.
TEST(ResumeRedoTest, AChangedLineRefusedBeforeSendingKeepsTheEarlierImage) {
  Fixture fx(MockFaults{});
  const auto manifest = fx.dir / "m.jsonl";
  const std::string good = R"({"id":"m","prompt":"a cat","width":64,"height":64})" "\n";
  test_support::write_file(manifest, good);
  ASSERT_EQ(fx.run(manifest).exit_status, 0);
  test_support::write_file(manifest, R"({"id":"m","prompt":"a cat","width":64,"height":64,"model":"no-such-model"})" "\n");
  auto refused = fx.run(manifest);
  EXPECT_NE(refused.err.find("job 'm' stays done from its earlier line"), std::string::npos) << refused.err;
  EXPECT_EQ(fx.server->stats().requests, 1u);
  EXPECT_EQ(dataset_files(fx.out()), std::set<std::string>{"m_0.webp"});
  test_support::write_file(manifest, good);
  EXPECT_EQ(fx.run(manifest).exit_status, 0);
  EXPECT_EQ(fx.server->stats().requests, 1u) << "the line put back pays nothing";
  EXPECT_EQ(dataset_files(fx.out()), std::set<std::string>{"m_0.webp"});
}

// The same for a refusal that comes later, at the spend check: a changed line naming a model
// the catalog has no price for, under --max-spend (found in review: the images went first).
TEST(ResumeRedoTest, AChangedLineRefusedAtTheSpendCheckKeepsTheEarlierImage) {
  Fixture fx(MockFaults{});
  const auto manifest = fx.dir / "m.jsonl";
  test_support::write_file(manifest, R"({"id":"m","prompt":"a cat","width":64,"height":64})" "\n");
  ASSERT_EQ(fx.run(manifest).exit_status, 0);
  test_support::write_file(manifest,
                           R"({"id":"m","prompt":"a cat","width":64,"height":64,"model":"venice-preview"})" "\n");
  auto r = fx.run(manifest, {"--max-spend", "5"});
  EXPECT_EQ(fx.server->stats().requests, 1u) << r.err;
  EXPECT_EQ(dataset_files(fx.out()), std::set<std::string>{"m_0.webp"}) << r.err;
}

// A link planted at a fan-out folder's name is never followed by the removal of a job's earlier
// images (the writes refuse it already): the file it points at is not the out dir's to delete.
TEST(ResumeRedoTest, RemovingEarlierImagesNeverFollowsALinkAtTheirFolder) {
  Fixture fx(MockFaults{});
  const auto manifest = fx.dir / "m.jsonl";
  test_support::write_file(manifest, R"({"id":"x","prompt":"a cat","width":64,"height":64})" "\n");
  ASSERT_EQ(fx.run(manifest).exit_status, 0);
  const auto folder = fx.out() / "images" / venice_batch::fanout_folder("x", 3);
  const auto elsewhere = fx.dir / "elsewhere";
  std::filesystem::create_directories(elsewhere);
  test_support::write_file(elsewhere / "x_0.webp", "someone else's file");
  std::filesystem::remove_all(folder);
  std::filesystem::create_directory_symlink(elsewhere, folder);
  test_support::write_file(manifest, R"({"id":"x","prompt":"a dog","width":64,"height":64})" "\n");
  fx.run(manifest);  // its write fails on the link (exit 3); what matters is what was removed
  EXPECT_EQ(test_support::read_file(elsewhere / "x_0.webp"), "someone else's file");
}

// An earlier run's sidecars describe its prompt: a redo that writes none, or fewer variants,
// must not leave them beside the new images (a LoRA trainer reads x_0.txt as x_0.webp's caption).
TEST(ResumeRedoTest, AnEarlierRunsSidecarsGoWithItsImages) {
  Fixture fx(MockFaults{});
  const auto manifest = fx.dir / "m.jsonl";
  test_support::write_file(manifest, R"({"id":"x","prompt":"a cat","width":64,"height":64,"variants":2})" "\n");
  ASSERT_EQ(fx.run(manifest, {"--sidecars", "txt,json"}).exit_status, 0);
  ASSERT_EQ(dataset_files(fx.out()),
            (std::set<std::string>{"x_0.webp", "x_0.txt", "x_0.json", "x_1.webp", "x_1.txt", "x_1.json"}));

  test_support::write_file(manifest, R"({"id":"x","prompt":"a red bus","width":64,"height":64})" "\n");
  ASSERT_EQ(fx.run(manifest, {"--sidecars", "json"}).exit_status, 0);
  EXPECT_EQ(dataset_files(fx.out()), (std::set<std::string>{"x_0.webp", "x_0.json"}))
      << "the cat's caption beside the bus, or a variant's sidecars without their image";
  const auto folder = fx.out() / "images" / venice_batch::fanout_folder("x", 3);
  EXPECT_NE(test_support::read_file(folder / "x_0.json").find("a red bus"), std::string::npos);
}

// A flagged/ that cannot take images was found only when a blurred image had been bought: the
// write failed, the job was retryable, and a rerun paid again. It is refused before anything is sent.
TEST(ResumeRedoTest, AFlaggedFolderThatCannotTakeImagesIsRefusedBeforeAnythingIsPaid) {
  for (const std::string planted : {"symlink", "file"}) {
    SCOPED_TRACE(planted);
    Fixture fx(schedule("blurred"));
    const auto manifest = fx.dir / "m.jsonl";
    test_support::write_file(manifest, R"({"id":"b","prompt":"a fox","width":64,"height":64})" "\n");
    std::filesystem::create_directories(fx.out());
    if (planted == "symlink") {
      std::filesystem::create_directories(fx.dir / "elsewhere");
      std::filesystem::create_directory_symlink(fx.dir / "elsewhere", fx.out() / "flagged");
    } else {
      test_support::write_file(fx.out() / "flagged", "not a folder");
    }
    auto r = fx.run(manifest);
    EXPECT_EQ(r.exit_status, 2) << r.err;
    EXPECT_NE(r.err.find("flagged"), std::string::npos) << r.err;
    EXPECT_EQ(fx.server->stats().requests, 0u);
    // Not kept, nothing to check: the run goes on.
    EXPECT_EQ(fx.run(manifest, {"--flagged-images", "discard"}).exit_status, 1);
    EXPECT_EQ(fx.server->stats().requests, 1u);
  }
}

// A link planted at a job's fan-out folder was met only by the write, after the image was bought:
// the job was recorded failed and retryable, and every rerun paid again. It is refused before the
// request; the run stops (exit 3) with nothing recorded for the job, and goes on once it is removed.
TEST(ResumeRedoTest, AFanOutFolderThatIsALinkStopsTheRunBeforeTheJobIsPaid) {
  Fixture fx(MockFaults{});
  const auto manifest = fx.dir / "m.jsonl";
  test_support::write_file(manifest, R"({"id":"x","prompt":"a fox","width":64,"height":64})" "\n");
  const auto folder = fx.out() / "images" / venice_batch::fanout_folder("x", 3);
  std::filesystem::create_directories(fx.dir / "elsewhere");
  std::filesystem::create_directories(fx.out() / "images");
  std::filesystem::create_directory_symlink(fx.dir / "elsewhere", folder);
  auto r = fx.run(manifest);
  EXPECT_EQ(r.exit_status, 3) << r.err;
  EXPECT_NE(r.err.find("symbolic link"), std::string::npos) << r.err;
  EXPECT_EQ(fx.server->stats().requests, 0u);
  EXPECT_FALSE(final_state(fx.out()).contains("x"));
  EXPECT_TRUE(std::filesystem::is_empty(fx.dir / "elsewhere"));

  std::filesystem::remove(folder);
  r = fx.run(manifest);
  EXPECT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(fx.server->stats().requests, 1u);
  EXPECT_EQ(final_state(fx.out())["x"].status, "ok");
}

// A kill between a job's renames and its record left its images under final names with no
// record; the job came back in another format (or fewer variants, or its line was removed) and
// nothing ever removed them: a second picture of the id in images/, in imagefolder one no
// metadata.jsonl line names (found by a hostile kill loop). A run that ends empties the lock
// file; one that finds a pid there sweeps images/ of files no ok record names. Here the killed
// run's state is planted exactly.
TEST(ResumeRedoTest, ImagesAKilledRunWroteWithoutARecordAreRemovedByTheNextRun) {
  for (const std::string layout : {"files", "imagefolder"}) {
    SCOPED_TRACE(layout);
    Fixture fx(MockFaults{});
    const auto manifest = fx.dir / "m.jsonl";
    const std::string done = R"({"id":"done","prompt":"a cat","width":64,"height":64})" "\n";
    test_support::write_file(manifest, done);
    ASSERT_EQ(fx.run(manifest, {"--layout", layout}).exit_status, 0);
    const auto lock = fx.out() / ".venice-batch.lock";
    EXPECT_EQ(std::filesystem::file_size(lock), 0u) << "a run that ended leaves no pid behind";

    // What a run killed mid-job leaves: k's jpegs and a sidecar, an image of a line since removed,
    // and its pid in the lock file. A file that is not a job's name is not ours to judge.
    const auto k_folder = fx.out() / "images" / venice_batch::fanout_folder("k", 3);
    std::filesystem::create_directories(k_folder);
    for (const char* name : {"k_0.jpg", "k_1.jpg", "k_0.txt"}) test_support::write_file(k_folder / name, "killed run");
    const auto gone_folder = fx.out() / "images" / venice_batch::fanout_folder("gone", 3);
    std::filesystem::create_directories(gone_folder);
    test_support::write_file(gone_folder / "gone_0.webp", "killed run");
    test_support::write_file(fx.out() / "images" / "notes.md", "the user's");
    test_support::write_file(lock, "writing 4242\n");

    test_support::write_file(manifest, done + R"({"id":"k","prompt":"a dog","width":64,"height":64})" "\n");
    auto r = fx.run(manifest, {"--layout", layout});
    ASSERT_EQ(r.exit_status, 0) << r.err;
    EXPECT_NE(r.err.find("removed 4 file(s)"), std::string::npos) << r.err;
    EXPECT_EQ(dataset_files(fx.out()), (std::set<std::string>{"done_0.webp", "k_0.webp", "notes.md"}));
    EXPECT_EQ(fx.server->stats().requests, 2u) << "the job recorded ok was not sent again";
    if (layout == "imagefolder") {
      const auto metadata = test_support::read_lines(fx.out() / "metadata.jsonl");
      EXPECT_EQ(metadata.size(), 2u);
    }
    EXPECT_EQ(std::filesystem::file_size(lock), 0u);
  }
}

// The sweep is for a run killed while writing, and for nothing else: after a run that ended, one
// stopped before its jobs (a bare pid, as an older version also leaves) or a fresh out dir, a
// file in images/ that no record names is left alone.
TEST(ResumeRedoTest, OnlyARunKilledWhileWritingMakesTheNextOneSweep) {
  for (const std::string mark : {"", "4242\n", "writing 4242\n"}) {
    SCOPED_TRACE(mark);
    Fixture fx(MockFaults{});
    const auto manifest = fx.dir / "m.jsonl";
    test_support::write_file(manifest, R"({"id":"done","prompt":"a cat","width":64,"height":64})" "\n");
    ASSERT_EQ(fx.run(manifest).exit_status, 0);
    const auto folder = fx.out() / "images" / venice_batch::fanout_folder("stray", 3);
    std::filesystem::create_directories(folder);
    test_support::write_file(folder / "stray_0.webp", "no record names it");
    test_support::write_file(fx.out() / ".venice-batch.lock", mark);
    ASSERT_EQ(fx.run(manifest).exit_status, 0);
    EXPECT_EQ(std::filesystem::exists(folder / "stray_0.webp"), mark.empty() || mark == "4242\n");
  }
}

// A run that stops before its jobs (here a layout the out dir does not have: exit 2) leaves a
// bare pid, not the mark of a run killed while writing.
TEST(ResumeRedoTest, ARunStoppedBeforeItsJobsLeavesNoWritingMark) {
  Fixture fx(MockFaults{});
  const auto manifest = fx.dir / "m.jsonl";
  test_support::write_file(manifest, R"({"id":"done","prompt":"a cat","width":64,"height":64})" "\n");
  ASSERT_EQ(fx.run(manifest).exit_status, 0);
  ASSERT_EQ(fx.run(manifest, {"--layout", "webdataset"}).exit_status, 2);
  EXPECT_EQ(test_support::read_file(fx.out() / ".venice-batch.lock").find("writing"), std::string::npos);
}
