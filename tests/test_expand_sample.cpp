// Sweep modes: every combination, or a seeded sample drawn without replacement (the same on
// every machine); --max-jobs and impossible samples refused before anything is written.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "test_expand_support.hpp"

using namespace venice_batch;
using namespace expand_test;

namespace {

const char* kSpec = R"({"prompt": "{a|b|c|d} __animal__", "matrix": {"seed": {"from": 1, "to": 25}}})";
const std::map<std::string, std::string> kAnimals = {{"animal", "cat\ndog"}};

ExpandOptions sample(std::uint64_t n, std::uint64_t seed) {
  ExpandOptions o;
  o.sample = n;
  o.sample_seed = seed;
  return o;
}

std::set<std::string> ids(const Expanded& out) {
  std::set<std::string> s;
  for (const auto& l : out.lines) s.insert(id_of(l));
  return s;
}

}  // namespace

TEST(ExpandSampleTest, SplitMix64MatchesItsReference) {
  std::uint64_t state = 0;
  EXPECT_EQ(splitmix64(state), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(splitmix64(state), 0x6e789e6aa1b965f4ULL);
}

TEST(ExpandSampleTest, PermutationIsABijection) {
  for (std::uint64_t size : {1u, 2u, 3u, 5u, 16u, 17u, 255u, 1000u}) {
    for (std::uint64_t seed : {0u, 1u, 99u}) {
      IndexPermutation p(size, seed);
      std::vector<bool> hit(size);
      for (std::uint64_t i = 0; i < size; ++i) {
        const auto x = p(i);
        ASSERT_LT(x, size);
        EXPECT_FALSE(hit[x]) << "size " << size << " seed " << seed;
        hit[x] = true;
      }
    }
  }
}

TEST(ExpandSampleTest, PermutationIsTheSameOnEveryMachine) {
  IndexPermutation p(1'000'000, 42);
  std::vector<std::uint64_t> first;
  for (int i = 0; i < 4; ++i) first.push_back(p(i));
  EXPECT_EQ(first, (std::vector<std::uint64_t>{237208, 447847, 732176, 132488}));
}

TEST(ExpandSampleTest, SameSeedGivesTheSameManifest) {
  auto s = sweep(kSpec, kAnimals);
  auto a = expand_all(s, sample(30, 7));
  auto b = expand_all(sweep(kSpec, kAnimals), sample(30, 7));
  ASSERT_EQ(a.lines.size(), 30u);
  EXPECT_EQ(a.lines, b.lines);
}

TEST(ExpandSampleTest, AnotherSeedGivesAnotherSample) {
  auto s = sweep(kSpec, kAnimals);
  EXPECT_NE(ids(expand_all(s, sample(30, 7))), ids(expand_all(s, sample(30, 8))));
}

TEST(ExpandSampleTest, SampleIsDrawnWithoutReplacementFromTheSweep) {
  auto s = sweep(kSpec, kAnimals);
  const auto everything = ids(expand_all(s));
  ASSERT_EQ(everything.size(), 200u);
  auto some = expand_all(s, sample(120, 1));
  const auto picked = ids(some);
  EXPECT_EQ(picked.size(), 120u);
  EXPECT_TRUE(std::includes(everything.begin(), everything.end(), picked.begin(), picked.end()));
  EXPECT_EQ(ids(expand_all(s, sample(200, 3))), everything);
}

TEST(ExpandSampleTest, SampleOfAHugeSweepIsStreamed) {
  std::string groups;
  for (int i = 0; i < 40; ++i) groups += "{a|b}";
  auto s = sweep(R"({"prompt": ")" + groups + R"("})");
  auto out = expand_all(s, sample(1000, 5));
  EXPECT_EQ(ids(out).size(), 1000u);
}

TEST(ExpandSampleTest, SampleLargerThanTheSweepIsRefusedWritingNothing) {
  auto out = expand_all(sweep(kSpec, kAnimals), sample(201, 1));
  ASSERT_TRUE(out.error);
  EXPECT_EQ(out.error->kind, ExpandFailure::refused);
  EXPECT_EQ(out.error->message, "sweep.json: a sample of 201 from only 200 combinations");
  EXPECT_EQ(out.chunks, 0u);
}

TEST(ExpandSampleTest, MaxJobsRefusesBeforeWritingAnything) {
  auto s = sweep(R"({"prompt": "{a|b}", "replicates": 3, "matrix": {"seed": {"from": 1, "to": 10}}})");
  ExpandOptions o;
  o.max_jobs = 59;
  auto out = expand_all(s, o);
  ASSERT_TRUE(out.error);
  EXPECT_EQ(out.error->kind, ExpandFailure::refused);
  EXPECT_EQ(out.error->message,
            "sweep.json: 60 lines (20 combinations x 3 replicates) is more than the limit of 59 (--max-jobs): nothing written");
  EXPECT_EQ(out.chunks, 0u);
  o.max_jobs = 60;
  EXPECT_EQ(expand_all(s, o).lines.size(), 60u);
  EXPECT_EQ(*planned_lines(s, o), 60u);
}

TEST(ExpandSampleTest, MaxJobsCountsTheSampleNotTheSweep) {
  std::string groups;
  for (int i = 0; i < 63; ++i) groups += "{a|b}";
  auto s = sweep(R"({"prompt": ")" + groups + R"(", "replicates": 2})");
  ExpandOptions o;
  o.max_jobs = 100;
  EXPECT_EQ(planned_lines(s, o).error().kind, ExpandFailure::refused);
  o.sample = 50;
  EXPECT_EQ(*planned_lines(s, o), 100u);
  EXPECT_EQ(planned_lines(s, ExpandOptions{}).error().message, "sweep.json: more than 2^64-1 lines");
}

TEST(ExpandSampleTest, SweepTooLargeToTrackIsRefusedWritingNothing) {
  std::string groups;
  for (int i = 0; i < 63; ++i) groups += "{a|b}";
  auto out = expand_all(sweep(R"({"prompt": ")" + groups + R"("})"));
  ASSERT_TRUE(out.error);
  EXPECT_EQ(out.error->kind, ExpandFailure::refused);
  EXPECT_EQ(out.error->message, "sweep.json: 9223372036854775808 combinations are too many to remember their ids "
                                "(11 bytes each): narrow the sweep or use --sample");
  EXPECT_EQ(out.chunks, 0u);
}
