// The JSONL manifest, lines that are refused: each with the reason a user reads, naming the
// field, its allowed range and the value given; ids that could escape the out dir or not name a file.
#include <gtest/gtest.h>

#include "test_manifest_support.hpp"

using namespace venice_batch;
using namespace manifest_test;

// ---- bad lines --------------------------------------------------------------------------------

TEST(ManifestTest, RefusesInvalidJson) {
  for (const char* line : {R"({"prompt": "p")", R"({"prompt": "p"} x)", "{prompt: 'p'}", R"({"prompt":"p",})",
                           "{\"prompt\":\"\xff\xfe\"}", R"({"width": 1e400, "prompt":"p"})"}) {
    auto bad = refused(line);
    EXPECT_EQ(bad.line, 3u);
    EXPECT_EQ(bad.id, "00000003");
    EXPECT_TRUE(contains(bad.reason, "not valid JSON")) << line << " -> " << bad.reason;
  }
}

TEST(ManifestTest, RefusesJsonThatIsNotAnObject) {
  EXPECT_EQ(reason("[1,2]"), "not a JSON object (got an array)");
  EXPECT_EQ(reason(R"("a prompt")"), "not a JSON object (got a string)");
  EXPECT_EQ(reason("42"), "not a JSON object (got a number)");
  EXPECT_EQ(reason("null"), "not a JSON object (got null)");
}

TEST(ManifestTest, RefusesFieldOutOfRangeNamingFieldRangeAndValue) {
  EXPECT_EQ(reason(R"({"prompt":"p","width":2000,"widht":512})"),
            "width: must be an integer from 1 to 1280 (got 2000); unknown field 'widht'");
}

TEST(ManifestTest, RefusesEachFieldWithTheWrongTypeOrOutOfRange) {
  const std::pair<const char*, const char*> cases[] = {
      {R"("width":0)", "width"},           {R"("width":1281)", "width"},       {R"("height":1024.0)", "height"},
      {R"("height":"1024")", "height"},    {R"("variants":0)", "variants"},    {R"("variants":5)", "variants"},
      {R"("seed":1000000000)", "seed"},    {R"("seed":-1000000000)", "seed"}, {R"("seed":1.5)", "seed"},
      {R"("steps":0)", "steps"},           {R"("cfg_scale":0)", "cfg_scale"},  {R"("cfg_scale":20.5)", "cfg_scale"},
      {R"("lora_strength":101)", "lora_strength"}, {R"("lora_strength":-1)", "lora_strength"},
      {R"("format":"gif")", "format"},     {R"("quality":"ultra")", "quality"}, {R"("resolution":"8K")", "resolution"},
      {R"("aspect_ratio":"wide")", "aspect_ratio"}, {R"("aspect_ratio":"16:0")", "aspect_ratio"},
      {R"("safe_mode":"yes")", "safe_mode"}, {R"("return_binary":1)", "return_binary"},
      {R"("hide_watermark":null)", "hide_watermark"}, {R"("embed_exif_metadata":0)", "embed_exif_metadata"},
      {R"("enable_web_search":"no")", "enable_web_search"}, {R"("enhance_prompt":[])", "enhance_prompt"},
      {R"("disable_prompt_optimization_thinking":{})", "disable_prompt_optimization_thinking"},
      {R"("style_preset":"")", "style_preset"},
      {R"("style_references":[{"image":"x","strength":0.05}])", "style_references.0.strength"},
      {R"("style_references":[{"strength":0.5}])", "style_references.0.image"},
      {R"("style_references":"x")", "style_references"},
      {R"("anon_user_id":"a||b")", "anon_user_id"}, {R"("negative_prompt":5)", "negative_prompt"},
      {R"("prompt":"   ")", "prompt"},     {R"("prompt":"")", "prompt"},      {R"("prompt":7)", "prompt"},
      {R"("model":"")", "model"},         {R"("model":["m"])", "model"},
  };
  for (auto [member, field] : cases) {
    const std::string m = member;
    const std::string line = m.starts_with(R"("prompt")") ? "{" + m + "}" : R"({"prompt":"p",)" + m + "}";
    const auto why = reason(line);
    EXPECT_EQ(why.rfind(std::string(field) + ": ", 0), 0u) << line << " -> " << why;
  }
  EXPECT_EQ(reason(R"({"model":"m"})", with_defaults("{}")), "prompt: is required");
}

TEST(ManifestTest, RefusesVariantsWithReturnBinary) {
  EXPECT_TRUE(contains(reason(R"({"prompt":"p","return_binary":true,"variants":2})"), "return_binary"));
}

TEST(ManifestTest, RefusesInpaintAsRetired) {
  auto o = with_defaults();
  o.allow_unknown_fields = true;
  EXPECT_TRUE(contains(reason(R"({"prompt":"p","inpaint":{"strength":50}})", o), "retired"));
}

TEST(ManifestTest, RefusesUnknownFieldByDefault) {
  EXPECT_EQ(reason(R"({"prompt":"p","new_api_field":1})"), "unknown field 'new_api_field'");
}

TEST(ManifestTest, PassesUnknownFieldThroughUnchangedWhenAllowed) {
  auto o = with_defaults();
  o.allow_unknown_fields = true;
  auto job = accepted(R"({"prompt":"p","new_api_field":{"nested":[1,2.5,"x",null,true,{"b":1,"a":-2}]}})", o);
  EXPECT_TRUE(contains(job.body, R"("new_api_field":{"nested":[1,2.5,"x",null,true,{"a":-2,"b":1}]})")) << job.body;
}

TEST(ManifestTest, RefusesFieldGivenTwice) {
  EXPECT_TRUE(contains(reason(R"({"prompt":"p","width":512,"width":1024})"), "'width' appears more than once"));
  EXPECT_TRUE(contains(reason(R"({"prompt":"p","id":"a","id":"b"})"), "'id' appears more than once"));
  auto o = with_defaults();
  o.allow_unknown_fields = true;
  EXPECT_TRUE(contains(reason(R"({"prompt":"p","x":{"k":1,"k":2}})", o), "repeats a key"));
}

// ---- ids --------------------------------------------------------------------------------------

TEST(ManifestTest, RejectsIdThatEscapesOutDir) {
  for (const char* id : {R"("../x")", R"("a/b")", R"("..")", R"("a\\b")", R"("/etc/passwd")"}) {
    auto bad = refused(with_id(id));
    EXPECT_TRUE(contains(bad.reason, "cannot name files")) << id << " -> " << bad.reason;
    EXPECT_EQ(bad.id, "00000003") << "the unsafe id is never used as a name";
  }
}

TEST(ManifestTest, RejectsHiddenAndOddlyStartingIds) {
  for (const char* id : {R"(".hidden")", R"("-dash")", R"("_under")", R"("a b")", R"("é")", R"("a:b")"})
    EXPECT_TRUE(contains(reason(with_id(id)), "cannot name files")) << id;
}

TEST(ManifestTest, RejectsEmptyId) { EXPECT_EQ(reason(with_id(R"("")")), "id is empty"); }

TEST(ManifestTest, RejectsIdLongerThan128Characters) {
  EXPECT_EQ(reason(with_id("\"" + std::string(129, 'a') + "\"")), "id is 129 bytes long (at most 128)");
  EXPECT_EQ(accepted(with_id("\"" + std::string(128, 'a') + "\"")).id, std::string(128, 'a'));
}

TEST(ManifestTest, RejectsIdWithControlCharacterAndShowsItEscaped) {
  const auto why = reason(with_id(R"("a\u0001b\nc")"));
  EXPECT_TRUE(contains(why, R"('a\x01b\x0ac')")) << why;
}

TEST(ManifestTest, RejectsIdThatIsNotAString) {
  EXPECT_EQ(reason(with_id("42")), "id must be a string (got a number)");
  EXPECT_EQ(reason(with_id("null")), "id must be a string (got null)");
}

TEST(ManifestTest, ReportsBadIdTogetherWithFieldIssues) {
  EXPECT_EQ(reason(R"({"id":"../x","prompt":"p","width":0})"),
            "id '../x' cannot name files: use A-Z a-z 0-9 . _ - only, starting with a letter or digit "
            "(no '/', '..' or leading '.'); width: must be an integer from 1 to 1280 (got 0)");
}

TEST(ManifestTest, AcceptsIdsMadeOfSafeCharacters) {
  for (const char* id : {"a", "A.b_c-9", "0", "x..y", "job-000001.v2"}) EXPECT_TRUE(is_valid_job_id(id)) << id;
  EXPECT_EQ(accepted(with_id(R"("A.b_c-9")")).id, "A.b_c-9");
}

TEST(ManifestTest, MissingIdIsDerivedFromLineNumber) {
  EXPECT_EQ(accepted(R"({"prompt":"p"})", with_defaults(), 42).id, "00000042");
  EXPECT_EQ(derived_job_id(1), "00000001");
  EXPECT_EQ(derived_job_id(123456789), "123456789");
  EXPECT_TRUE(is_valid_job_id(derived_job_id(1)));
}

// ---- the hash of a refused line ---------------------------------------------------------------

TEST(ManifestTest, RefusedLineCarriesTheHashOfItsTextSoAFixedLineIsSeenAsChanged) {
  const auto bad = refused(R"({"prompt":"p","width":0})");
  EXPECT_EQ(bad.line_hash, manifest_line_hash(R"({"prompt":"p","width":0})"));
  EXPECT_EQ(bad.line_hash.size(), 64u);
  EXPECT_EQ(bad.line_hash.find_first_not_of("0123456789abcdef"), std::string::npos) << bad.line_hash;
  EXPECT_NE(refused(R"({"prompt":"p","width":-1})").line_hash, bad.line_hash) << "an edited line is a changed line";
  EXPECT_EQ(refused(R"({"prompt":"p","width":0})").line_hash, bad.line_hash) << "the same line, the same hash";
  EXPECT_NE(refused("not json").line_hash, refused("not json ").line_hash);
  EXPECT_EQ(manifest_line_hash(R"({"prompt":"p","model":"m"})"),
            "8fc1b2d3144db2143159fac4ffbe15ada7d63251fdcff81b1d2b3fe4b800acbb");
}

TEST(ManifestTest, LineRefusedForBadDefaultsCarriesItsHashToo) {
  auto e = parse_manifest_line(R"({"prompt":"p"})", 1, with_defaults("[1]"));
  EXPECT_EQ(std::get<InvalidLine>(e).line_hash, manifest_line_hash(R"({"prompt":"p"})"));
}
