// The request schema: each documented field's type and both ends of its range, the
// cross-field rules, unknown and retired fields, and that every issue is reported.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include <simdjson.h>

#include "venice_batch/request_schema.hpp"

using namespace venice_batch;

namespace {

std::vector<FieldIssue> check(const std::string& json, SchemaOptions options = {}) {
  simdjson::dom::parser parser;
  simdjson::dom::object request;
  EXPECT_EQ(parser.parse(json).get_object().get(request), simdjson::SUCCESS) << json;
  return validate_request(request, options);
}

// A valid request with `extra` fields added (a comma-separated JSON member list).
std::string request_with(const std::string& extra) {
  return R"({"model":"z-image-turbo","prompt":"a cat")" + (extra.empty() ? "" : "," + extra) + "}";
}

std::string describe(const std::vector<FieldIssue>& issues) {
  std::string s;
  for (const auto& i : issues) s += "[" + i.path + " " + i.code + ": " + i.message + "] ";
  return s;
}

bool has_issue(const std::vector<FieldIssue>& issues, const std::string& path, const std::string& code) {
  return std::any_of(issues.begin(), issues.end(), [&](const FieldIssue& i) { return i.path == path && i.code == code; });
}

struct Case {
  std::string member;  ///< e.g. "\"width\":0"
  std::string path;
  std::string code;
};

void expect_single_issue(const Case& c) {
  const auto issues = check(request_with(c.member));
  ASSERT_EQ(issues.size(), 1u) << c.member << " -> " << describe(issues);
  EXPECT_EQ(issues[0].path, c.path) << c.member;
  EXPECT_EQ(issues[0].code, c.code) << c.member << " -> " << describe(issues);
  EXPECT_FALSE(issues[0].message.empty());
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

TEST(RequestSchemaTest, AcceptsMinimalRequest) {
  EXPECT_TRUE(check(request_with("")).empty());
}

TEST(RequestSchemaTest, AcceptsEveryDocumentedFieldAtBothEndsOfItsRange) {
  const std::string low = request_with(
      R"("negative_prompt":"","width":1,"height":1,"aspect_ratio":"1:1","resolution":"1K","quality":"low",)"
      R"("format":"jpeg","variants":1,"return_binary":false,"seed":-999999999,"steps":1,"cfg_scale":0.0001,)"
      R"("style_preset":"3D Model","lora_strength":0,"safe_mode":false,"hide_watermark":false,)"
      R"("embed_exif_metadata":false,"enable_web_search":false,"enhance_prompt":false,)"
      R"("disable_prompt_optimization_thinking":false,"style_references":[{"image":"https://x/a.png","strength":0.1}],)"
      R"("anon_user_id":"")");
  EXPECT_TRUE(check(low).empty()) << describe(check(low));
  const std::string high = request_with(
      R"("negative_prompt":"blurry","width":1280,"height":1280,"aspect_ratio":"16:9","resolution":"4K",)"
      R"("quality":"high","format":"webp","variants":4,"seed":999999999,"steps":50,"cfg_scale":20,)"
      R"("style_preset":"Anime","lora_strength":100,"safe_mode":true,"hide_watermark":true,)"
      R"("embed_exif_metadata":true,"enable_web_search":true,"enhance_prompt":true,)"
      R"("disable_prompt_optimization_thinking":true,"style_references":[{"image":"data:image/png;base64,AAAA","strength":1}],)"
      R"("anon_user_id":")" + std::string(128, '~') + "\"");
  EXPECT_TRUE(check(high).empty()) << describe(check(high));
  EXPECT_TRUE(check(request_with(R"("return_binary":true,"format":"png")")).empty());
}

TEST(RequestSchemaTest, RefusesEachIntegerFieldOutsideItsRange) {
  for (const Case& c : std::vector<Case>{
           {R"("width":0)", "width", "too_small"},              {R"("width":1281)", "width", "too_big"},
           {R"("height":-5)", "height", "too_small"},           {R"("height":1281)", "height", "too_big"},
           {R"("variants":0)", "variants", "too_small"},        {R"("variants":5)", "variants", "too_big"},
           {R"("seed":-1000000000)", "seed", "too_small"},      {R"("seed":1000000000)", "seed", "too_big"},
           {R"("steps":0)", "steps", "too_small"},              {R"("steps":-1)", "steps", "too_small"},
           {R"("lora_strength":-1)", "lora_strength", "too_small"}, {R"("lora_strength":101)", "lora_strength", "too_big"},
           {R"("width":18446744073709551615)", "width", "too_big"},
       })
    expect_single_issue(c);
}

TEST(RequestSchemaTest, RefusesIntegersWrittenAsNumbersWithFractionOrExponent) {
  for (const Case& c : std::vector<Case>{
           {R"("width":1024.0)", "width", "invalid_type"},  {R"("height":1e3)", "height", "invalid_type"},
           {R"("variants":1.5)", "variants", "invalid_type"}, {R"("seed":0.0)", "seed", "invalid_type"},
           {R"("steps":"30")", "steps", "invalid_type"},    {R"("lora_strength":true)", "lora_strength", "invalid_type"},
           {R"("width":null)", "width", "invalid_type"},
       })
    expect_single_issue(c);
}

TEST(RequestSchemaTest, ZeroIsAValidSeed) {
  EXPECT_TRUE(check(request_with(R"("seed":0)")).empty());
}

TEST(RequestSchemaTest, CfgScaleMustBeAboveZeroAndAtMostTwenty) {
  expect_single_issue({R"("cfg_scale":0)", "cfg_scale", "too_small"});
  expect_single_issue({R"("cfg_scale":-1.5)", "cfg_scale", "too_small"});
  expect_single_issue({R"("cfg_scale":20.001)", "cfg_scale", "too_big"});
  expect_single_issue({R"("cfg_scale":"7")", "cfg_scale", "invalid_type"});
  EXPECT_TRUE(check(request_with(R"("cfg_scale":7.5)")).empty());
  EXPECT_TRUE(check(request_with(R"("cfg_scale":20.0)")).empty());
}

TEST(RequestSchemaTest, RefusesValuesOutsideEachEnum) {
  for (const Case& c : std::vector<Case>{
           {R"("format":"gif")", "format", "invalid_enum_value"},     {R"("format":"WEBP")", "format", "invalid_enum_value"},
           {R"("format":"jpg")", "format", "invalid_enum_value"},     {R"("quality":"ultra")", "quality", "invalid_enum_value"},
           {R"("resolution":"8K")", "resolution", "invalid_enum_value"}, {R"("resolution":"1k")", "resolution", "invalid_enum_value"},
           {R"("format":1)", "format", "invalid_type"},
       })
    expect_single_issue(c);
}

TEST(RequestSchemaTest, AspectRatioIsTwoPositiveIntegers) {
  for (const char* ok : {"1:1", "16:9", "9:16", "21:9", "3:2"})
    EXPECT_TRUE(check(request_with(std::string(R"("aspect_ratio":")") + ok + "\"")).empty()) << ok;
  for (const char* bad : {"16:0", "0:9", "16/9", "16:", ":9", "a:b", "-16:9", "16:9:1", "1.5:1", " 16:9", ""})
    expect_single_issue({std::string(R"("aspect_ratio":")") + bad + "\"", "aspect_ratio", "invalid_string"});
  expect_single_issue({R"("aspect_ratio":1.77)", "aspect_ratio", "invalid_type"});
}

TEST(RequestSchemaTest, RefusesNonBooleanFlags) {
  for (const char* flag : {"return_binary", "safe_mode", "hide_watermark", "embed_exif_metadata", "enable_web_search",
                           "enhance_prompt", "disable_prompt_optimization_thinking"}) {
    expect_single_issue({"\"" + std::string(flag) + "\":\"true\"", flag, "invalid_type"});
    expect_single_issue({"\"" + std::string(flag) + "\":1", flag, "invalid_type"});
  }
}

TEST(RequestSchemaTest, ModelAndPromptAreRequiredNonBlankStrings) {
  auto issues = check(R"({})");
  EXPECT_TRUE(has_issue(issues, "model", "invalid_type")) << describe(issues);
  EXPECT_TRUE(has_issue(issues, "prompt", "invalid_type")) << describe(issues);
  EXPECT_EQ(issues.size(), 2u);
  issues = check(R"({"model":"","prompt":"   "})");
  EXPECT_TRUE(has_issue(issues, "model", "too_small")) << describe(issues);
  EXPECT_TRUE(has_issue(issues, "prompt", "too_small")) << describe(issues);
  issues = check(R"({"model":5,"prompt":["a"]})");
  EXPECT_TRUE(has_issue(issues, "model", "invalid_type")) << describe(issues);
  EXPECT_TRUE(has_issue(issues, "prompt", "invalid_type")) << describe(issues);
}

TEST(RequestSchemaTest, PromptOfOnlyUnicodeWhitespaceIsBlank) {
  // U+3000 ideographic space, U+00A0 no-break space, a tab and a newline.
  expect_single_issue({R"("prompt":"\u3000\u00a0\t\n")", "prompt", "too_small"});
}

TEST(RequestSchemaTest, PromptLengthCountsCodePointsNotBytes) {
  EXPECT_TRUE(check(R"({"model":"m","prompt":")" + std::string(7500, 'a') + "\"}").empty());
  EXPECT_TRUE(check(R"({"model":"m","prompt":")" + repeat("😀", 7500) + "\"}").empty()) << "30,000 bytes, 7,500 characters";
  EXPECT_TRUE(check(R"({"model":"m","prompt":")" + repeat("雨", 7500) + "\"}").empty()) << "22,500 bytes, 7,500 characters";
  auto issues = check(R"({"model":"m","prompt":")" + repeat("😀", 7501) + "\"}");
  ASSERT_EQ(issues.size(), 1u) << describe(issues);
  EXPECT_EQ(issues[0].path, "prompt");
  EXPECT_EQ(issues[0].code, "too_big");
  EXPECT_EQ(issues[0].message, "must be at most 7500 characters (got 7501)");
  expect_single_issue({"\"prompt\":\"" + std::string(7501, 'a') + "\"", "prompt", "too_big"});
}

TEST(RequestSchemaTest, NegativePromptMayBeEmptyButAtMost7500Characters) {
  EXPECT_TRUE(check(request_with(R"("negative_prompt":"")")).empty());
  EXPECT_TRUE(check(request_with("\"negative_prompt\":\"" + repeat("é", 7500) + "\"")).empty());
  expect_single_issue({"\"negative_prompt\":\"" + std::string(7501, 'x') + "\"", "negative_prompt", "too_big"});
  expect_single_issue({R"("negative_prompt":null)", "negative_prompt", "invalid_type"});
}

TEST(RequestSchemaTest, StylePresetIsANonEmptyString) {
  expect_single_issue({R"("style_preset":"")", "style_preset", "too_small"});
  expect_single_issue({R"("style_preset":3)", "style_preset", "invalid_type"});
}

TEST(RequestSchemaTest, VariantsCannotBeCombinedWithReturnBinary) {
  expect_single_issue({R"("variants":2,"return_binary":true)", "variants", "custom"});
  expect_single_issue({R"("return_binary":true,"variants":1)", "variants", "custom"});
  EXPECT_TRUE(check(request_with(R"("variants":4,"return_binary":false)")).empty());
}

TEST(RequestSchemaTest, StyleReferencesAreObjectsWithImageAndStrength) {
  expect_single_issue({R"("style_references":[{"image":"a","strength":0.09}])", "style_references.0.strength", "too_small"});
  expect_single_issue({R"("style_references":[{"image":"a","strength":1.01}])", "style_references.0.strength", "too_big"});
  expect_single_issue({R"("style_references":[{"image":"a","strength":"high"}])", "style_references.0.strength", "invalid_type"});
  expect_single_issue({R"("style_references":[{"image":"a"},{"strength":0.5}])", "style_references.1.image", "invalid_type"});
  expect_single_issue({R"("style_references":[{"image":""}])", "style_references.0.image", "too_small"});
  expect_single_issue({R"("style_references":[{"image":7}])", "style_references.0.image", "invalid_type"});
  expect_single_issue({R"("style_references":["a.png"])", "style_references.0", "invalid_type"});
  expect_single_issue({R"("style_references":{"image":"a"})", "style_references", "invalid_type"});
  expect_single_issue({R"("style_references":[{"image":"a","weight":1}])", "style_references.0.weight", "unrecognized_keys"});
  EXPECT_TRUE(check(request_with(R"("style_references":[])")).empty());
}

TEST(RequestSchemaTest, AnonUserIdIsPrintableAsciiUpTo128WithoutDoublePipe) {
  expect_single_issue({"\"anon_user_id\":\"" + std::string(129, 'u') + "\"", "anon_user_id", "invalid_string"});
  expect_single_issue({R"("anon_user_id":"a||b")", "anon_user_id", "invalid_string"});
  expect_single_issue({R"("anon_user_id":"caf\u00e9")", "anon_user_id", "invalid_string"});
  expect_single_issue({R"("anon_user_id":"a\tb")", "anon_user_id", "invalid_string"});
  expect_single_issue({R"("anon_user_id":42)", "anon_user_id", "invalid_type"});
  EXPECT_TRUE(check(request_with(R"("anon_user_id":"user-42|x")")).empty());
}

TEST(RequestSchemaTest, InpaintIsRefusedAsRetiredEvenWhenUnknownFieldsAreAllowed) {
  SchemaOptions lenient;
  lenient.allow_unknown_fields = true;
  for (const auto& options : {SchemaOptions{}, lenient}) {
    auto issues = check(request_with(R"("inpaint":{"strength":50})"), options);
    ASSERT_EQ(issues.size(), 1u) << describe(issues);
    EXPECT_EQ(issues[0].path, "inpaint");
    EXPECT_NE(issues[0].message.find("retired"), std::string::npos) << issues[0].message;
  }
}

TEST(RequestSchemaTest, UnknownFieldIsRefusedUnlessAllowed) {
  auto issues = check(request_with(R"("widht":512)"));
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].path, "widht");
  EXPECT_EQ(issues[0].code, "unrecognized_keys");
  EXPECT_EQ(issues[0].message, "unknown field 'widht'");
  SchemaOptions lenient;
  lenient.allow_unknown_fields = true;
  EXPECT_TRUE(check(request_with(R"("widht":512,"future":{"a":[1]})"), lenient).empty());
  EXPECT_TRUE(check(request_with(R"("style_references":[{"image":"a","weight":1}])"), lenient).empty());
}

TEST(RequestSchemaTest, ReportsEveryIssueInFieldOrderWithRangeAndValue) {
  auto issues = check(R"({"width":2000,"widht":5,"variants":9,"format":"gif","prompt":""})");
  ASSERT_EQ(issues.size(), 6u) << describe(issues);
  EXPECT_EQ(issues[0].path, "width");
  EXPECT_EQ(issues[0].code, "too_big");
  EXPECT_EQ(issues[0].message, "must be an integer from 1 to 1280 (got 2000)");
  EXPECT_EQ(issues[1].path, "widht");
  EXPECT_EQ(issues[2].path, "variants");
  EXPECT_EQ(issues[3].path, "format");
  EXPECT_EQ(issues[3].message, "must be one of jpeg, png, webp (got \"gif\")");
  EXPECT_EQ(issues[4].path, "prompt");
  EXPECT_EQ(issues[5].path, "model");
}

TEST(RequestSchemaTest, MessageShowsALongValueCutAtACharacterBoundary) {
  auto issues = check(request_with("\"format\":\"" + repeat("é", 100) + "\""));
  ASSERT_EQ(issues.size(), 1u);
  const auto& m = issues[0].message;
  EXPECT_LT(m.size(), 120u) << m;
  EXPECT_NE(m.find("...)"), std::string::npos) << m;
  EXPECT_TRUE(simdjson::validate_utf8(m.data(), m.size())) << "the message goes into JSON answers: " << m;
}

TEST(RequestSchemaTest, KnowsExactlyTheDocumentedFields) {
  for (const char* f : {"model", "prompt", "negative_prompt", "width", "height", "aspect_ratio", "resolution", "quality",
                        "format", "variants", "return_binary", "seed", "steps", "cfg_scale", "style_preset",
                        "lora_strength", "safe_mode", "hide_watermark", "embed_exif_metadata", "enable_web_search",
                        "enhance_prompt", "disable_prompt_optimization_thinking", "style_references", "anon_user_id"})
    EXPECT_TRUE(is_known_request_field(f)) << f;
  EXPECT_FALSE(is_known_request_field("inpaint"));
  EXPECT_FALSE(is_known_request_field("id"));
  EXPECT_FALSE(is_known_request_field("Width"));
}
