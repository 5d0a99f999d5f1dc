#include <gtest/gtest.h>

#include <simdjson.h>

#include "test_support.hpp"
#include "venice_batch/manifest.hpp"
#include "venice_batch/request_schema.hpp"

using namespace venice_batch;
using test_support::TempDir;

namespace {

ManifestOptions with_defaults(std::string defaults = R"({"model":"z-image-turbo"})") {
  ManifestOptions o;
  o.defaults_json = std::move(defaults);
  return o;
}

JobSpec ok(std::string_view line, const ManifestOptions& o = with_defaults(), std::uint64_t n = 1) {
  auto e = parse_manifest_line(line, n, o);
  if (auto* bad = std::get_if<InvalidLine>(&e)) {
    ADD_FAILURE() << "rejected: " << line << " -> " << bad->reason;
    return {};
  }
  return std::get<JobSpec>(e);
}

std::string bad(std::string_view line, const ManifestOptions& o = with_defaults()) {
  auto e = parse_manifest_line(line, 3, o);
  if (std::holds_alternative<JobSpec>(e)) {
    ADD_FAILURE() << "accepted: " << line;
    return {};
  }
  return std::get<InvalidLine>(e).reason;
}

}  // namespace

TEST(ManifestTest, AcceptsEveryDocumentedField) {
  auto job = ok(R"({"id":"all","model":"m","prompt":"p","negative_prompt":"n","width":1280,"height":1,)"
                R"("aspect_ratio":"16:9","resolution":"2K","quality":"high","format":"png","variants":4,)"
                R"("seed":-999999999,"steps":30,"cfg_scale":20,"style_preset":"3D Model","lora_strength":0,)"
                R"("safe_mode":false,"hide_watermark":true,"embed_exif_metadata":false,"enable_web_search":false,)"
                R"("enhance_prompt":false,"disable_prompt_optimization_thinking":true,)"
                R"("style_references":[{"image":"data:image/png;base64,AAAA","strength":0.1}],"anon_user_id":"u-1"})");
  EXPECT_EQ(job.id, "all");
  EXPECT_EQ(job.format, ImageFormat::png);
  EXPECT_EQ(job.variants, 4);
  EXPECT_EQ(job.model, "m");
  EXPECT_EQ(job.body.find("\"id\""), std::string::npos) << "our id is not an API field";
}

TEST(ManifestTest, EachOutOfRangeFieldIsRefusedWithItsName) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"prompt":"p","width":0})", "width"},           {R"({"prompt":"p","width":1281})", "width"},
      {R"({"prompt":"p","height":1024.0})", "height"},    {R"({"prompt":"p","height":"1024"})", "height"},
      {R"({"prompt":"p","variants":0})", "variants"},     {R"({"prompt":"p","variants":5})", "variants"},
      {R"({"prompt":"p","seed":1000000000})", "seed"},    {R"({"prompt":"p","seed":-1000000000})", "seed"},
      {R"({"prompt":"p","steps":0})", "steps"},           {R"({"prompt":"p","cfg_scale":0})", "cfg_scale"},
      {R"({"prompt":"p","cfg_scale":20.5})", "cfg_scale"}, {R"({"prompt":"p","lora_strength":101})", "lora_strength"},
      {R"({"prompt":"p","lora_strength":-1})", "lora_strength"}, {R"({"prompt":"p","format":"gif"})", "format"},
      {R"({"prompt":"p","quality":"ultra"})", "quality"}, {R"({"prompt":"p","resolution":"8K"})", "resolution"},
      {R"({"prompt":"p","aspect_ratio":"wide"})", "aspect_ratio"}, {R"({"prompt":"p","aspect_ratio":"16:0"})", "aspect_ratio"},
      {R"({"prompt":"p","safe_mode":"yes"})", "safe_mode"}, {R"({"prompt":"p","return_binary":1})", "return_binary"},
      {R"({"prompt":"p","style_references":[{"image":"x","strength":0.05}]})", "strength"},
      {R"({"prompt":"p","style_references":[{"strength":0.5}]})", "image"},
      {R"({"prompt":"p","style_references":"x"})", "style_references"},
      {R"({"prompt":"p","anon_user_id":"a||b"})", "anon_user_id"},
      {R"({"prompt":"p","negative_prompt":5})", "negative_prompt"},
      {R"({"prompt":"   "})", "prompt"},                  {R"({"prompt":""})", "prompt"},
      {R"({"width":512})", "prompt"},                      {R"({"prompt":"p","model":""})", "model"},
  };
  for (auto [line, field] : cases) {
    auto reason = bad(line);
    EXPECT_NE(reason.find(field), std::string::npos) << line << " -> " << reason;
  }
}

TEST(ManifestTest, VariantsWithReturnBinaryIsRefused) {
  EXPECT_NE(bad(R"({"prompt":"p","return_binary":true,"variants":2})").find("return_binary"), std::string::npos);
  EXPECT_TRUE(ok(R"({"prompt":"p","return_binary":true})").return_binary);
}

TEST(ManifestTest, InpaintIsRefusedAsRetired) {
  EXPECT_NE(bad(R"({"prompt":"p","inpaint":null})").find("retired"), std::string::npos);
}

TEST(ManifestTest, UnknownFieldIsRefusedUnlessPassThroughIsOn) {
  EXPECT_NE(bad(R"({"prompt":"p","widht":512})").find("unknown field 'widht'"), std::string::npos);
  auto o = with_defaults();
  o.allow_unknown_fields = true;
  auto job = ok(R"({"prompt":"p","new_api_field":{"nested":[1,2.5,"x"]}})", o);
  EXPECT_NE(job.body.find(R"("new_api_field":{"nested":[1,2.5,"x"]})"), std::string::npos) << job.body;
}

TEST(ManifestTest, InvalidJsonAndNonObjectsAreRefused) {
  EXPECT_NE(bad("{\"prompt\": \"p\"").find("not valid JSON"), std::string::npos);
  EXPECT_NE(bad("[1,2]").find("not a JSON object"), std::string::npos);
  EXPECT_NE(bad("\"just a string\"").find("not a JSON object"), std::string::npos);
}

TEST(ManifestTest, RejectsIdThatEscapesOutDir) {
  for (const char* id : {"../x", "a/b", ".hidden", "-dash", "_under", "", "a b", "a\\b", "é"}) {
    std::string line = std::string(R"({"prompt":"p","id":")") + id + "\"}";
    EXPECT_NE(bad(line).find("cannot name files"), std::string::npos) << id;
  }
  EXPECT_NE(bad(R"({"prompt":"p","id":"a\u0001b"})").find("cannot name files"), std::string::npos);
  EXPECT_NE(bad(R"({"prompt":"p","id":42})").find("id must be a string"), std::string::npos);
  EXPECT_NE(bad(std::string(R"({"prompt":"p","id":")") + std::string(129, 'a') + "\"}").find("cannot name files"),
            std::string::npos);
  EXPECT_EQ(ok(std::string(R"({"prompt":"p","id":")") + std::string(128, 'a') + "\"}").id, std::string(128, 'a'));
  EXPECT_EQ(ok(R"({"prompt":"p","id":"A.b_c-9"})").id, "A.b_c-9");
}

TEST(ManifestTest, MissingIdIsDerivedFromLineNumber) {
  EXPECT_EQ(ok(R"({"prompt":"p"})", with_defaults(), 42).id, "00000042");
  EXPECT_EQ(derived_job_id(1234567), "01234567");
}

TEST(ManifestTest, UnicodePromptsCountCharactersNotBytes) {
  std::string emoji;
  for (int i = 0; i < 7500; ++i) emoji += "🐱";  // 7500 code points, 30000 bytes
  EXPECT_EQ(ok(R"({"prompt":")" + emoji + "\"}").prompt, emoji);
  EXPECT_NE(bad(R"({"prompt":")" + emoji + "x\"}").find("at most 7500"), std::string::npos);
  EXPECT_EQ(ok(R"({"prompt":"京都の雨の夜"})").prompt, "京都の雨の夜");
  auto long_ascii = std::string(7500, 'a');
  EXPECT_EQ(ok(R"({"prompt":")" + long_ascii + "\"}").prompt.size(), 7500u);
}

TEST(ManifestTest, DefaultsFillMissingFieldsAndLinesOverrideThem) {
  auto o = with_defaults(R"({"model":"dflt","format":"png","width":512})");
  auto filled = ok(R"({"prompt":"p"})", o);
  EXPECT_EQ(filled.model, "dflt");
  EXPECT_EQ(filled.format, ImageFormat::png);
  EXPECT_NE(filled.body.find("\"width\":512"), std::string::npos);
  auto over = ok(R"({"prompt":"p","model":"mine","format":"jpeg"})", o);
  EXPECT_EQ(over.model, "mine");
  EXPECT_EQ(over.format, ImageFormat::jpeg);
}

TEST(ManifestTest, BodyIsCanonicalSoHashIgnoresKeyOrderButNotValues) {
  auto a = ok(R"({"prompt":"p","width":512,"seed":1})");
  auto b = ok(R"({"seed":1,"width":512,"prompt":"p"})");
  auto c = ok(R"({"seed":2,"width":512,"prompt":"p"})");
  EXPECT_EQ(a.body, b.body);
  EXPECT_EQ(a.request_hash, b.request_hash);
  EXPECT_NE(a.request_hash, c.request_hash);
  EXPECT_EQ(a.request_hash.size(), 64u);
  simdjson::dom::parser p;
  EXPECT_EQ(p.parse(a.body).error(), simdjson::SUCCESS);
}

TEST(ManifestTest, StringsAreReEscapedIntact) {
  auto job = ok(R"({"prompt":"quote \" backslash \\ newline \n tab \t unicode \u00e9 ✓"})");
  EXPECT_EQ(job.prompt, "quote \" backslash \\ newline \n tab \t unicode é ✓");
  simdjson::dom::parser p;
  simdjson::dom::element doc = p.parse(job.body);
  EXPECT_EQ(std::string_view(doc["prompt"]), job.prompt);
}

TEST(ManifestTest, ReaderSkipsBlankLinesToleratesBomAndCrlfAndFlagsDuplicates) {
  TempDir dir;
  test_support::write_file(dir / "m.jsonl",
                           "\xEF\xBB\xBF{\"id\":\"a\",\"prompt\":\"one\"}\r\n"
                           "\n"
                           "   \t\n"
                           "{\"prompt\":\"two\"}\r\n"
                           "{\"id\":\"a\",\"prompt\":\"dup\"}\n"
                           "garbage\n"
                           "{\"id\":\"00000004\",\"prompt\":\"collides with a derived id\"}\n"
                           "{\"id\":\"last\",\"prompt\":\"no newline\"}");
  ManifestReader reader(dir / "m.jsonl", with_defaults());
  std::vector<ManifestEntry> entries;
  while (auto e = reader.next()) entries.push_back(std::move(*e));
  ASSERT_EQ(entries.size(), 6u);
  EXPECT_EQ(std::get<JobSpec>(entries[0]).id, "a");
  EXPECT_EQ(std::get<JobSpec>(entries[1]).id, "00000004");
  EXPECT_EQ(std::get<JobSpec>(entries[1]).line, 4u);
  auto dup = std::get<InvalidLine>(entries[2]);
  EXPECT_EQ(dup.line, 5u);
  EXPECT_NE(dup.reason.find("duplicate id 'a' (first on line 1)"), std::string::npos) << dup.reason;
  EXPECT_EQ(std::get<InvalidLine>(entries[3]).line, 6u);
  EXPECT_NE(std::get<InvalidLine>(entries[4]).reason.find("duplicate"), std::string::npos);
  EXPECT_EQ(std::get<JobSpec>(entries[5]).id, "last");
  EXPECT_EQ(count_manifest_jobs(dir / "m.jsonl"), 6u);
}

TEST(ManifestTest, ReaderRefusesDefaultsThatAreNotAnObject) {
  TempDir dir;
  test_support::write_file(dir / "m.jsonl", "{\"prompt\":\"p\"}\n");
  EXPECT_THROW(ManifestReader(dir / "m.jsonl", with_defaults("[1]")), std::runtime_error);
  EXPECT_THROW(ManifestReader(dir / "missing.jsonl", with_defaults()), std::runtime_error);
}

TEST(RequestSchemaTest, ReportsAllIssuesWithPathsAndCodes) {
  simdjson::dom::parser p;
  simdjson::dom::object o = p.parse(std::string(R"({"width":2000,"variants":9,"typo":1})"));
  auto issues = validate_request(o, {});
  std::vector<std::string> paths;
  for (auto& i : issues) paths.push_back(i.path + "/" + i.code);
  EXPECT_NE(std::find(paths.begin(), paths.end(), "width/too_big"), paths.end());
  EXPECT_NE(std::find(paths.begin(), paths.end(), "variants/too_big"), paths.end());
  EXPECT_NE(std::find(paths.begin(), paths.end(), "typo/unrecognized_keys"), paths.end());
  EXPECT_NE(std::find(paths.begin(), paths.end(), "model/invalid_type"), paths.end());
  EXPECT_NE(std::find(paths.begin(), paths.end(), "prompt/invalid_type"), paths.end());
  EXPECT_TRUE(is_known_request_field("cfg_scale"));
  EXPECT_FALSE(is_known_request_field("inpaint"));
}
