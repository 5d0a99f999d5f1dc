// Sweep specs: the matrix (lists, ranges, groups, fixed fields), how many lines it makes, what a
// line holds, and the messages for specs that cannot be expanded.
#include <gtest/gtest.h>

#include <set>

#include <fmt/format.h>

#include "test_expand_support.hpp"
#include "test_support.hpp"
#include "venice_batch/manifest.hpp"

using namespace venice_batch;
using namespace expand_test;

TEST(ExpandMatrixTest, EveryCombinationIsOneLine) {
  auto s = sweep(R"({"prompt": "a {red|blue} cat",
                     "matrix": {"model": ["z-image-turbo", "venice-sd35"], "seed": {"from": 1, "to": 3}}})");
  EXPECT_EQ(s.combinations(), 12u);
  auto out = expand_all(s);
  ASSERT_FALSE(out.error);
  ASSERT_EQ(out.lines.size(), 12u);
  std::set<std::string> ids;
  for (const auto& l : out.lines) ids.insert(id_of(l));
  EXPECT_EQ(ids.size(), 12u);
  // The last axis varies fastest, the template slowest.
  EXPECT_EQ(field_of(out.lines[0], "seed"), "1");
  EXPECT_EQ(field_of(out.lines[1], "seed"), "2");
  EXPECT_EQ(field_of(out.lines[3], "model"), R"("venice-sd35")");
  EXPECT_EQ(field_of(out.lines[5], "prompt"), R"("a red cat")");
  EXPECT_EQ(field_of(out.lines[6], "prompt"), R"("a blue cat")");
}

TEST(ExpandMatrixTest, LineHoldsIdRequestAndMetadata) {
  auto s = sweep(R"({"prompt": "a {red|blue} __animal__\n", "fixed": {"format": "png"},
                     "matrix": {"seed": [7], "size": [{"width": 512, "height": 768}]}})",
                 {{"animal", "cat"}});
  auto out = expand_all(s);
  ASSERT_EQ(out.lines.size(), 2u);
  const auto& line = out.lines[1];
  const auto id = id_of(line);
  ASSERT_EQ(id.size(), 18u) << line;
  EXPECT_EQ(id.substr(0, 2), "s-");
  EXPECT_TRUE(is_valid_job_id(id));
  const auto body = line.substr(line.find(",\"format\"") + 1, line.find(",\"metadata\"") - line.find(",\"format\"") - 1);
  EXPECT_EQ(body, R"("format":"png","height":768,"prompt":"a blue cat\n","seed":7,"width":512)");
  EXPECT_EQ(field_of(line, "metadata"),
            R"({"template":"a {red|blue} __animal__\n","values":{"{1}":"blue","__animal__":"cat","seed":7,)"
            R"("size":{"height":768,"width":512}}})");
}

TEST(ExpandMatrixTest, IdIsTheHashOfTheBodyTheRunSends) {
  auto s = sweep(R"({"prompt": "tab\there \"quoted\" \u00e9 \u0001", "fixed": {"cfg_scale": 7.50, "model": "m",
                     "style_references": [{"strength": 0.5, "image": "https://x/y.png"}]}})");
  auto out = expand_all(s);
  ASSERT_EQ(out.lines.size(), 1u);
  std::string line = out.lines[0];
  line = line.substr(0, line.find(",\"metadata\"")) + "}";  // the run does not read metadata yet
  auto entry = parse_manifest_line(line, 1, ManifestOptions{});
  ASSERT_TRUE(std::holds_alternative<JobSpec>(entry)) << std::get<InvalidLine>(entry).reason;
  const auto& job = std::get<JobSpec>(entry);
  EXPECT_EQ(job.id, id_of(out.lines[0]));
  EXPECT_EQ(job.id, "s-" + job.request_hash.substr(0, 16));
  EXPECT_EQ("{" + line.substr(line.find(',') + 1), job.body);
}

TEST(ExpandMatrixTest, RangesCountDownAndStep) {
  auto s = sweep(R"({"prompt": "p", "matrix": {"seed": {"from": 10, "to": 1, "step": -3}}})");
  auto out = expand_all(s);
  ASSERT_EQ(out.lines.size(), 4u);
  std::vector<std::string> seeds;
  for (const auto& l : out.lines) seeds.push_back(field_of(l, "seed"));
  EXPECT_EQ(seeds, (std::vector<std::string>{"10", "7", "4", "1"}));
}

TEST(ExpandMatrixTest, HugeRangesAreCountedNotListed) {
  auto s = sweep(R"({"prompt": "{a|b}", "matrix": {"seed": {"from": -999999999, "to": 999999999}}})");
  EXPECT_EQ(s.combinations(), 2u * 1'999'999'999u);
}

TEST(ExpandMatrixTest, GroupAxisSetsSeveralFieldsTogether) {
  auto s = sweep(R"({"prompt": "p", "matrix": {"size": [{"width": 1024, "height": 1024}, {"aspect_ratio": "16:9"}]}})");
  auto out = expand_all(s);
  ASSERT_EQ(out.lines.size(), 2u);
  EXPECT_EQ(field_of(out.lines[0], "width"), "1024");
  EXPECT_EQ(field_of(out.lines[0], "aspect_ratio"), "<absent>");
  EXPECT_EQ(field_of(out.lines[1], "aspect_ratio"), R"("16:9")");
  EXPECT_EQ(field_of(out.lines[1], "width"), "<absent>");
  EXPECT_EQ(field_of(field_of(out.lines[1], "metadata"), "values"), R"({"size":{"aspect_ratio":"16:9"}})");
}

TEST(ExpandMatrixTest, SingleValueInTheMatrixIsFixed) {
  auto out = expand_all(sweep(R"({"prompt": "p", "matrix": {"model": "z-image-turbo", "seed": [1, 2]}})"));
  ASSERT_EQ(out.lines.size(), 2u);
  EXPECT_EQ(field_of(out.lines[1], "model"), R"("z-image-turbo")");
  EXPECT_EQ(field_of(field_of(out.lines[1], "metadata"), "values"), R"({"seed":2})");
}

TEST(ExpandMatrixTest, FieldSetTwiceIsAnError) {
  EXPECT_EQ(spec_error(R"({"prompt": "p", "fixed": {"seed": 1}, "matrix": {"seed": [1, 2]}})"),
            "sweep.json: field 'seed' is set twice: by fixed.seed and by matrix.seed");
  EXPECT_EQ(spec_error(R"({"prompt": "p", "matrix": {"width": [512], "size": [{"width": 1024}]}})"),
            "sweep.json: field 'width' is set twice: by matrix.width and by matrix.size");
}

TEST(ExpandMatrixTest, BadValueNamesWhereItIs) {
  EXPECT_EQ(spec_error(R"({"prompt": "p", "matrix": {"width": [512, 2000]}})"),
            "sweep.json: matrix.width[1]: width: must be an integer from 1 to 1280 (got 2000)");
  EXPECT_EQ(spec_error(R"({"prompt": "p", "matrix": {"size": [{"width": 512, "height": 0}]}})"),
            "sweep.json: matrix.size[0].height: height: must be an integer from 1 to 1280 (got 0)");
  EXPECT_EQ(spec_error(R"({"prompt": "p", "matrix": {"seed": {"from": 0, "to": 1000000000}}})"),
            "sweep.json: matrix.seed: seed: must be an integer from -999999999 to 999999999 (got 1000000000)");
}

TEST(ExpandMatrixTest, UnknownFieldIsRefusedUnlessAllowed) {
  EXPECT_EQ(spec_error(R"({"prompt": "p", "fixed": {"stlye_preset": "Anime"}})"),
            "sweep.json: fixed.stlye_preset: unknown field 'stlye_preset'");
  auto out = expand_all(sweep(R"({"prompt": "p", "allow_unknown_fields": true, "fixed": {"new_field": 1},
                                  "matrix": {"other_new": [true, false]}})"));
  ASSERT_EQ(out.lines.size(), 2u);
  EXPECT_EQ(field_of(out.lines[1], "other_new"), "false");
}

TEST(ExpandMatrixTest, SpecMistakesAreNamed) {
  EXPECT_EQ(spec_error(R"({"prompt": "p", "matrx": {}})"),
            "sweep.json: unknown key 'matrx' (a spec has prompt, wildcards, fixed, matrix, replicates, id_prefix, "
            "allow_unknown_fields, description)");
  EXPECT_EQ(spec_error(R"({"matrix": {}})"), "sweep.json: 'prompt' (the template) is required and must be a string");
  EXPECT_EQ(spec_error(R"({"prompt": "p", "matrix": {"prompt": ["a", "b"]}})"),
            "sweep.json: matrix.prompt: 'prompt' is the template: set it at the top of the spec");
  EXPECT_EQ(spec_error(R"({"prompt": "p", "fixed": {"id": "x"}})"), "sweep.json: fixed.id: 'id' is written by expand itself");
  EXPECT_EQ(spec_error(R"({"prompt": "p", "matrix": {"seed": []}})"),
            "sweep.json: matrix.seed is an empty list: the sweep would have no lines");
  EXPECT_EQ(spec_error(R"({"prompt": "p", "matrix": {"seed": {"from": 5, "to": 1}}})"),
            "sweep.json: matrix.seed: the range from 5 to 1 by 1 is empty");
  EXPECT_NE(spec_error(R"({"prompt": "p", "matrix": {"sizes": ["1024x1024"]}})").find("'sizes' is not a request field"),
            std::string::npos);
  EXPECT_EQ(spec_error(R"({"prompt": "p", "replicates": 0})"), "sweep.json: 'replicates' must be an integer from 1 to 1000");
  EXPECT_NE(spec_error(R"({"prompt": "p", "id_prefix": "../x"})").find("'id_prefix' must be"), std::string::npos);
  EXPECT_EQ(spec_error("[1]"), "sweep.json: must be a JSON object");
  EXPECT_NE(spec_error("{").find("sweep.json: not valid JSON"), std::string::npos);
}

TEST(ExpandMatrixTest, TemplateErrorsNameTheSpec) {
  EXPECT_EQ(spec_error(R"({"prompt": "a __animal__"})"),
            "sweep.json: prompt, line 1, column 3: wildcard __animal__: no file wildcards/animal.txt");
}

TEST(ExpandMatrixTest, MoreCombinationsThanA64BitCountIsAnError) {
  std::string groups;
  for (int i = 0; i < 40; ++i) groups += "{a|b}";
  EXPECT_EQ(spec_error(R"({"prompt": ")" + groups + R"(", "matrix": {"seed": {"from": -999999999, "to": 999999999}}})"),
            "sweep.json: more than 2^64-1 combinations");
}

TEST(ExpandMatrixTest, LoadReadsWildcardsNextToTheSpec) {
  test_support::TempDir dir;
  std::filesystem::create_directories(dir / "wildcards");
  std::filesystem::create_directories(dir / "lists");
  test_support::write_file(dir / "wildcards" / "animal.txt", "cat\ndog\n");
  test_support::write_file(dir / "lists" / "animal.txt", "fox\n");
  test_support::write_file(dir / "a.json", R"({"prompt": "a __animal__"})");
  test_support::write_file(dir / "b.json", R"({"prompt": "a __animal__", "wildcards": "lists"})");
  test_support::write_file(dir / "c.json", R"({"prompt": "a __bird__"})");
  auto a = Sweep::load(dir / "a.json");
  ASSERT_TRUE(a) << a.error();
  EXPECT_EQ(a->combinations(), 2u);
  auto b = Sweep::load(dir / "b.json");
  ASSERT_TRUE(b) << b.error();
  EXPECT_EQ(b->combinations(), 1u);
  auto overridden = Sweep::load(dir / "a.json", dir / "lists");
  ASSERT_TRUE(overridden) << overridden.error();
  EXPECT_EQ(overridden->combinations(), 1u);
  auto c = Sweep::load(dir / "c.json");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error(), fmt::format("{}: prompt, line 1, column 3: wildcard __bird__: no file {}", (dir / "c.json").string(),
                                   (dir / "wildcards" / "bird.txt").string()));
  auto missing = Sweep::load(dir / "none.json");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("none.json: cannot be read"), std::string::npos);
}
