// Sweep ids: a hash of the request alone, so growing a spec keeps every old id with the same
// request; replicates; identical requests written once; true collisions refused; the sink.
#include <gtest/gtest.h>

#include <map>

#include "test_expand_support.hpp"
#include "venice_batch/manifest.hpp"

using namespace venice_batch;
using namespace expand_test;

namespace {

/// id -> the line without its metadata (the request as the run sees it).
std::map<std::string, std::string> requests_by_id(const Expanded& out) {
  std::map<std::string, std::string> m;
  for (const auto& l : out.lines) {
    EXPECT_TRUE(m.emplace(id_of(l), l.substr(0, l.find(",\"metadata\""))).second) << "repeated id in " << l;
  }
  return m;
}

void expect_keeps_every_old_line(const std::map<std::string, std::string>& before,
                                 const std::map<std::string, std::string>& after) {
  for (const auto& [id, request] : before) {
    auto it = after.find(id);
    ASSERT_NE(it, after.end()) << "id " << id << " is gone";
    EXPECT_EQ(it->second, request);
  }
}

}  // namespace

TEST(ExpandIdsTest, GrowingAWildcardKeepsEveryOldIdWithTheSameRequest) {
  const std::string spec = R"({"prompt": "a {red|blue} __animal__", "matrix": {"seed": [1, 2]}})";
  auto before = requests_by_id(expand_all(sweep(spec, {{"animal", "cat\ndog"}})));
  auto after = requests_by_id(expand_all(sweep(spec, {{"animal", "bird\ncat\nfox\ndog"}})));
  ASSERT_EQ(before.size(), 8u);
  ASSERT_EQ(after.size(), 16u);
  expect_keeps_every_old_line(before, after);
}

TEST(ExpandIdsTest, GrowingTheMatrixKeepsEveryOldId) {
  auto before = requests_by_id(expand_all(sweep(R"({"prompt": "{a|b}", "matrix": {"model": ["m1"], "seed": [5]}})")));
  auto after = requests_by_id(expand_all(
      sweep(R"({"prompt": "{a|b|c}", "matrix": {"model": ["m0", "m1"], "seed": {"from": 4, "to": 6}}})")));
  EXPECT_EQ(after.size(), 18u);
  expect_keeps_every_old_line(before, after);
}

TEST(ExpandIdsTest, IdDependsOnTheRequestNotOnHowTheSpecMadeIt) {
  auto a = requests_by_id(expand_all(sweep(R"({"prompt": "{cat|dog} in snow", "fixed": {"seed": 3}})")));
  auto b = requests_by_id(expand_all(sweep(R"({"prompt": "__animal__ in snow", "matrix": {"seed": [3]}})",
                                           {{"animal", "dog\ncat"}})));
  EXPECT_EQ(a, b);
}

TEST(ExpandIdsTest, ReplicatesAreNumberedAndKeepTheirIdsWhenAdded) {
  auto two = expand_all(sweep(R"({"prompt": "p", "replicates": 2})"));
  auto three = expand_all(sweep(R"({"prompt": "p", "replicates": 3})"));
  ASSERT_EQ(three.lines.size(), 3u);
  const auto base = id_of(three.lines[0]);
  EXPECT_EQ(id_of(three.lines[1]), base + "-r2");
  EXPECT_EQ(id_of(three.lines[2]), base + "-r3");
  EXPECT_EQ(two.lines, std::vector<std::string>(three.lines.begin(), three.lines.begin() + 2));
  EXPECT_TRUE(is_valid_job_id(id_of(three.lines[2])));
}

TEST(ExpandIdsTest, IdenticalRequestsAreWrittenOnce) {
  auto out = expand_all(sweep(R"({"prompt": "{a|a} {x|}{x|}", "matrix": {"seed": [1, 1]}})"));
  ASSERT_FALSE(out.error) << out.error->message;
  // Prompts: "a xx", "a x", "a x", "a " for each a (2) and seed (2): 16 combinations, 3 requests.
  EXPECT_EQ(out.lines.size(), 3u);
  EXPECT_EQ(out.summary.lines, 3u);
  EXPECT_EQ(out.summary.duplicates, 13u);
  // The first combination that made a request is the one recorded.
  EXPECT_EQ(field_of(field_of(out.lines[0], "metadata"), "values"), R"({"{1}":"a","{2}":"x","{3}":"x","seed":1})");
}

TEST(ExpandIdsTest, TrueCollisionIsRefused) {
  ExpandOptions options;
  options.id_hex_digits = 2;  // 256 ids for 1000 requests: certain to collide
  auto out = expand_all(sweep(R"({"prompt": "p", "matrix": {"seed": {"from": 1, "to": 1000}}})"), options);
  ASSERT_TRUE(out.error);
  EXPECT_EQ(out.error->kind, ExpandFailure::collision);
  EXPECT_NE(out.error->message.find("sweep.json: two different requests have the same id s-"), std::string::npos)
      << out.error->message;
}

TEST(ExpandIdsTest, CollisionWithTheFirstLineOfAnIdIsFoundToo) {
  // Two requests, one id (with one hex digit, seeds 1..17 must share one): the later one is met
  // as a "duplicate" first, and the recheck finds that the earlier line was another request.
  ExpandOptions options;
  options.id_hex_digits = 1;
  for (int last = 2; last <= 17; ++last) {
    auto out = expand_all(
        sweep(R"({"prompt": "p", "matrix": {"seed": {"from": 1, "to": )" + std::to_string(last) + "}}}"), options);
    if (!out.error) continue;
    EXPECT_EQ(out.error->kind, ExpandFailure::collision);
    return;
  }
  FAIL() << "17 requests over 16 ids never collided";
}

TEST(ExpandIdsTest, IdPrefixIsTheSpecs) {
  auto out = expand_all(sweep(R"({"prompt": "p", "id_prefix": "night-1"})"));
  ASSERT_EQ(out.lines.size(), 1u);
  const auto id = id_of(out.lines[0]);
  EXPECT_EQ(id.substr(0, 8), "night-1-");
  EXPECT_EQ(id.size(), 8u + 16u);
  EXPECT_TRUE(is_valid_job_id(id));
}

TEST(ExpandIdsTest, LinesReachTheSinkInChunksOfWholeLines) {
  auto s = sweep(R"({"prompt": "a fairly long prompt so that the lines add up {a|b|c|d|e|f|g|h|i|j}",
                     "matrix": {"seed": {"from": 1, "to": 2000}}})");
  std::string all;
  int chunks = 0;
  auto r = expand(s, {}, [&](std::string_view chunk) {
    EXPECT_EQ(chunk.back(), '\n');
    ++chunks;
    all += chunk;
    return true;
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->lines, 20000u);
  EXPECT_GT(chunks, 1);
  EXPECT_EQ(std::count(all.begin(), all.end(), '\n'), 20000);
}

TEST(ExpandIdsTest, SinkRefusalStopsTheExpansion) {
  auto s = sweep(R"({"prompt": "p", "matrix": {"seed": {"from": 1, "to": 100000}}})");
  int calls = 0;
  auto r = expand(s, {}, [&](std::string_view) { return ++calls < 2; });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ExpandFailure::write_failed);
  EXPECT_EQ(calls, 2);
}
