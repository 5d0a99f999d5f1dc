// `venice-batch expand` through the built executable: the manifest on stdout or, all or
// nothing, in a file; refusals and spec errors as exit 2 with the message a user reads; and
// end to end with `run` against the emulator, a grown sweep sending only its new jobs.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "test_support.hpp"
#include "venice_batch/mock_server.hpp"

using test_support::TempDir;

namespace {

constexpr const char* kSpec = R"({"prompt": "a __animal__ {in snow|at dusk}", "fixed": {"model": "z-image-turbo"},
  "matrix": {"seed": {"from": 1, "to": 3}, "size": [{"width": 64, "height": 64}]}})";

/// A sweep spec in a fresh directory, with wildcards/animal.txt holding `animals`.
struct SpecDir {
  explicit SpecDir(const std::string& animals, const std::string& spec = kSpec) {
    std::filesystem::create_directories(dir / "wildcards");
    write(animals, spec);
  }
  void write(const std::string& animals, const std::string& spec = kSpec) {
    test_support::write_file(dir / "wildcards" / "animal.txt", animals);
    test_support::write_file(dir / "sweep.json", spec);
  }
  test_support::ProcessResult expand(std::vector<std::string> args = {}) const {
    std::vector<std::string> argv = {VENICE_BATCH_EXE, "expand", (dir / "sweep.json").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return test_support::run_process(argv);
  }
  std::vector<std::string> files() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  TempDir dir;
};

std::size_t count_lines(const std::string& text) { return std::count(text.begin(), text.end(), '\n'); }

}  // namespace

TEST(ExpandCliTest, WritesTheManifestToStdoutOrAFile) {
  SpecDir spec("cat\ndog\n");
  auto out = spec.expand();
  ASSERT_EQ(out.exit_status, 0) << out.err;
  EXPECT_EQ(count_lines(out.out), 12u);
  EXPECT_NE(out.err.find("venice-batch: expand: 12 lines written"), std::string::npos) << out.err;
  auto file = spec.expand({"-o", (spec.dir / "m.jsonl").string()});
  ASSERT_EQ(file.exit_status, 0) << file.err;
  EXPECT_EQ(test_support::read_file(spec.dir / "m.jsonl"), out.out);
  EXPECT_EQ(spec.expand({"--count"}).out, "12\n");
}

TEST(ExpandCliTest, MaxJobsRefusalLeavesNoFile) {
  SpecDir spec("cat\ndog\n");
  auto r = spec.expand({"--max-jobs", "11", "-o", (spec.dir / "m.jsonl").string()});
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_NE(r.err.find("12 lines (12 combinations x 1 replicates) is more than the limit of 11 (--max-jobs): nothing written"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(spec.files(), (std::vector<std::string>{"sweep.json", "wildcards"}));
  EXPECT_EQ(spec.expand({"--max-jobs", "11"}).out, "");
  // A leading zero is decimal: CLI11 alone read "011" as octal 9.
  EXPECT_NE(spec.expand({"--max-jobs", "011"}).err.find("more than the limit of 11 "), std::string::npos);
  EXPECT_EQ(spec.expand({"--max-jobs", "-1"}).exit_status, 2);
}

// Found by a hostile test: a template whose choices can be blank ("{|  }", "") wrote lines with a
// blank prompt, exit 0, which every run then refused line by line. The spec is refused, no file.
TEST(ExpandCliTest, ATemplateThatMakesABlankPromptIsRefused) {
  SpecDir spec("cat\n", R"({"prompt": "{owl|   }", "fixed": {"model": "z-image-turbo"}})");
  auto r = spec.expand({"-o", (spec.dir / "m.jsonl").string()});
  EXPECT_EQ(r.exit_status, 2) << r.err;
  EXPECT_NE(r.err.find("the template makes a blank prompt (combination 2"), std::string::npos) << r.err;
  EXPECT_EQ(spec.files(), (std::vector<std::string>{"sweep.json", "wildcards"}));
  spec.write("cat\n", R"({"prompt": "{owl|__animal__}", "fixed": {"model": "z-image-turbo"}})");
  EXPECT_EQ(spec.expand().exit_status, 0) << "choices that are not blank";
}

// Found by a hostile test: variants and return_binary were each checked alone, so a matrix pairing
// variants 2 with return_binary true wrote lines every run refused. Such a pair is refused; a
// matrix that never pairs them (variants 1 only) is not.
TEST(ExpandCliTest, AMatrixPairingVariantsWithBinaryModeIsRefused) {
  SpecDir spec("cat\n", R"({"prompt": "owl", "fixed": {"model": "z-image-turbo"},
    "matrix": {"variants": [1, 2], "return_binary": [false, true]}})");
  auto r = spec.expand({"-o", (spec.dir / "m.jsonl").string()});
  EXPECT_EQ(r.exit_status, 2) << r.err;
  EXPECT_NE(r.err.find("sends variants above 1 with return_binary true"), std::string::npos) << r.err;
  EXPECT_EQ(spec.files(), (std::vector<std::string>{"sweep.json", "wildcards"}));
  // A falling range is looked at by its largest end too (a review found only the last was).
  spec.write("cat\n", R"({"prompt": "owl", "fixed": {"model": "z-image-turbo", "return_binary": true},
    "matrix": {"variants": {"from": 4, "to": 1, "step": -1}}})");
  auto falling = spec.expand();
  EXPECT_EQ(falling.exit_status, 2) << falling.err;
  EXPECT_NE(falling.err.find("sends variants above 1 with return_binary true"), std::string::npos) << falling.err;
  spec.write("cat\n", R"({"prompt": "owl", "fixed": {"model": "z-image-turbo", "variants": 1},
    "matrix": {"return_binary": [false, true]}})");
  auto fine = spec.expand();
  EXPECT_EQ(fine.exit_status, 0) << fine.err;
  EXPECT_EQ(count_lines(fine.out), 2u);
}

TEST(ExpandCliTest, MissingWildcardFileIsExit2NamingTheSpecAndColumn) {
  SpecDir spec("cat\n", R"({"prompt": "a __bird__"})");
  auto r = spec.expand();
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_NE(r.err.find("sweep.json: prompt, line 1, column 3: wildcard __bird__: no file "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("wildcards/bird.txt"), std::string::npos) << r.err;
}

TEST(ExpandCliTest, SameSampleSeedSameManifest) {
  SpecDir spec("cat\ndog\nfox\n");
  auto a = spec.expand({"--sample", "5", "--sample-seed", "3"});
  auto b = spec.expand({"--sample", "5", "--sample-seed", "3"});
  ASSERT_EQ(a.exit_status, 0) << a.err;
  EXPECT_EQ(count_lines(a.out), 5u);
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(spec.expand({"--sample-seed", "3"}).exit_status, 2);  // a seed without a sample is a mistake
  EXPECT_EQ(spec.expand({"--sample", "19"}).exit_status, 2);      // 18 combinations
}

// Expand, run, grow the spec by one wildcard value, expand and run again: only the new jobs are
// sent, and every result line carries the metadata expand wrote (never sent to the API).
TEST(ExpandCliTest, GrownSweepRunsOnlyItsNewJobs) {
  venice_batch::MockOptions options;
  TempDir certs;
  options.api_key = "test-key-expand";
  options.cert_dir = certs.path();
  venice_batch::MockServer mock(options);
  mock.start();
  SpecDir spec("cat\ndog\n");
  const auto manifest = (spec.dir / "m.jsonl").string(), out = (spec.dir / "out").string();
  auto run = [&] {
    return test_support::run_process(
        {VENICE_BATCH_EXE, "run", "--manifest", manifest, "--out", out, "--base-url",
         "https://127.0.0.1:" + std::to_string(mock.port()) + "/api/v1", "--ca-file", mock.ca_file().string()},
        {{"VENICE_API_KEY", options.api_key}});
  };
  ASSERT_EQ(spec.expand({"-o", manifest}).exit_status, 0);
  auto first = run();
  ASSERT_EQ(first.exit_status, 0) << first.err;
  EXPECT_EQ(mock.stats().requests, 12u);

  spec.write("bird\ncat\ndog\n");  // one more wildcard value, first in the file: every line moves
  ASSERT_EQ(spec.expand({"-o", manifest}).exit_status, 0);
  auto second = run();
  ASSERT_EQ(second.exit_status, 0) << second.err;
  EXPECT_EQ(mock.stats().requests, 18u);  // only the 6 new jobs were sent
  const auto results = test_support::read_lines(spec.dir / "out" / "results.jsonl");
  EXPECT_EQ(results.size(), 18u);
  for (const auto& line : results) EXPECT_NE(line.find(R"("metadata":{"template":)"), std::string::npos) << line;
}
