// The JSONL manifest, lines that are accepted: the request body sent (defaults merged, keys
// sorted, numbers and strings as written) and its hash. Refusals: test_manifest_refusals.cpp;
// the streaming reader: test_manifest_reader.cpp.
#include <gtest/gtest.h>

#include <simdjson.h>

#include "test_manifest_support.hpp"

using namespace venice_batch;
using namespace manifest_test;

// ---- good lines -------------------------------------------------------------------------------

TEST(ManifestTest, AcceptsLineWithEveryDocumentedField) {
  auto job = accepted(
      R"({"id":"all-fields","model":"venice-sd35","prompt":"a lighthouse","negative_prompt":"fog","width":1280,)"
      R"("height":1,"aspect_ratio":"16:9","resolution":"2K","quality":"high","format":"png","variants":4,)"
      R"("seed":-999999999,"steps":30,"cfg_scale":7.5,"style_preset":"3D Model","lora_strength":100,)"
      R"("safe_mode":false,"hide_watermark":true,"embed_exif_metadata":true,"enable_web_search":false,)"
      R"("enhance_prompt":false,"disable_prompt_optimization_thinking":true,)"
      R"("style_references":[{"image":"data:image/png;base64,AAAA","strength":0.1}],"anon_user_id":"u-1"})",
      with_defaults(), 9);
  EXPECT_EQ(job.id, "all-fields");
  EXPECT_EQ(job.line, 9u);
  EXPECT_EQ(job.model, "venice-sd35");
  EXPECT_EQ(job.prompt, "a lighthouse");
  EXPECT_EQ(job.format, ImageFormat::png);
  EXPECT_EQ(job.variants, 4);
  EXPECT_FALSE(job.return_binary);
  EXPECT_FALSE(contains(job.body, "\"id\"")) << "our id is not an API field: " << job.body;
  simdjson::dom::parser parser;
  simdjson::dom::object body;
  ASSERT_EQ(parser.parse(job.body).get_object().get(body), simdjson::SUCCESS) << job.body;
  EXPECT_EQ(body.size(), 23u) << "all 24 fields but return_binary (not allowed with variants): " << job.body;
}

TEST(ManifestTest, JobDefaultsToWebpOneVariantJson) {
  auto job = accepted(R"({"prompt":"p"})");
  EXPECT_EQ(job.format, ImageFormat::webp);
  EXPECT_EQ(job.variants, 1);
  EXPECT_FALSE(job.return_binary);
  EXPECT_EQ(job.body, R"({"model":"z-image-turbo","prompt":"p"})") << "nothing the user did not ask for is sent";
  EXPECT_TRUE(accepted(R"({"prompt":"p","return_binary":true})").return_binary);
}

TEST(ManifestTest, BodyKeepsIntegersAndDoublesAsWritten) {
  auto job = accepted(R"({"prompt":"p","cfg_scale":20.0,"seed":0,"width":1024,"style_references":[{"image":"i","strength":1}]})");
  EXPECT_EQ(job.body,
            R"({"cfg_scale":20.0,"model":"z-image-turbo","prompt":"p","seed":0,"style_references":[{"image":"i","strength":1}],"width":1024})");
}

TEST(ManifestTest, RequestHashIsSha256OfBody) {
  auto job = accepted(R"({"prompt":"p","model":"m"})");
  ASSERT_EQ(job.body, R"({"model":"m","prompt":"p"})");
  EXPECT_EQ(job.request_hash, "9fd06a94d101c3dd0319ebf954cd66e959b7912b4e83ad2b99ecf5cdc097d9dd");
}

TEST(ManifestTest, BodyKeysAreSortedSoReorderedLinesHashEqual) {
  auto a = accepted(R"({"id":"a","prompt":"p","width":512,"seed":1,"style_references":[{"image":"i","strength":0.5}]})");
  auto b = accepted(R"({"style_references":[{"strength":0.5,"image":"i"}],"seed":1,"width":512,"prompt":"p","id":"b"})");
  EXPECT_EQ(a.body, b.body) << "the id is not part of the request";
  EXPECT_EQ(a.request_hash, b.request_hash);
  EXPECT_EQ(a.body, R"({"model":"z-image-turbo","prompt":"p","seed":1,"style_references":[{"image":"i","strength":0.5}],"width":512})");
}

TEST(ManifestTest, HashChangesWhenAnyFieldChanges) {
  const auto base = accepted(R"({"prompt":"p","seed":1})").request_hash;
  EXPECT_NE(accepted(R"({"prompt":"p","seed":2})").request_hash, base);
  EXPECT_NE(accepted(R"({"prompt":"p ","seed":1})").request_hash, base);
  EXPECT_NE(accepted(R"({"prompt":"p","seed":1,"format":"webp"})").request_hash, base)
      << "an explicit default is still a different request body";
  EXPECT_NE(accepted(R"({"prompt":"p","seed":1})", with_defaults(R"({"model":"other"})")).request_hash, base);
  EXPECT_EQ(base.size(), 64u);
  EXPECT_EQ(base.find_first_not_of("0123456789abcdef"), std::string::npos) << base;
}

TEST(ManifestTest, StringsAreReEscapedWithUnicodeIntact) {
  auto job = accepted(R"({"prompt":"quote \" backslash \\ slash \/ nl \n tab \t nul \u0000 \u00e9 ✓ 😀 \ud83d\ude00"})");
  const std::string expected = std::string("quote \" backslash \\ slash / nl \n tab \t nul ") + '\0' + " é ✓ 😀 😀";
  EXPECT_EQ(job.prompt, expected);
  simdjson::dom::parser parser;
  simdjson::dom::element body;
  ASSERT_EQ(parser.parse(job.body).get(body), simdjson::SUCCESS) << job.body;
  EXPECT_EQ(std::string(std::string_view(body["prompt"])), expected);
  EXPECT_TRUE(contains(job.body, "é ✓ 😀 😀")) << "non-ASCII is written as UTF-8, not escaped: " << job.body;
}

TEST(ManifestTest, AcceptsEmojiAndCjkPrompts) {
  EXPECT_EQ(accepted(R"({"prompt":"京都の雨の夜、提灯 🏮"})").prompt, "京都の雨の夜、提灯 🏮");
  EXPECT_EQ(accepted(R"({"prompt":"비 오는 서울의 밤"})").prompt, "비 오는 서울의 밤");
}

TEST(ManifestTest, Accepts7500CharacterPromptEvenWhenLongerInBytes) {
  EXPECT_EQ(accepted(R"({"prompt":")" + std::string(7500, 'a') + "\"}").prompt.size(), 7500u);
  const std::string emoji = repeat("🐱", 7500);  // 30,000 bytes
  EXPECT_EQ(accepted(R"({"prompt":")" + emoji + "\"}").prompt, emoji);
  const std::string cjk = repeat("猫", 7500);  // 22,500 bytes
  EXPECT_EQ(accepted(R"({"prompt":")" + cjk + "\"}").prompt, cjk);
}

TEST(ManifestTest, Refuses7501CharacterPrompt) {
  EXPECT_EQ(reason(R"({"prompt":")" + repeat("🐱", 7501) + "\"}"), "prompt: must be at most 7500 characters (got 7501)");
  EXPECT_EQ(reason(R"({"prompt":")" + std::string(7501, 'a') + "\"}"), "prompt: must be at most 7500 characters (got 7501)");
}

// ---- defaults ---------------------------------------------------------------------------------

TEST(ManifestTest, DefaultsFillFieldsTheLineLeavesOut) {
  auto o = with_defaults(R"({"model":"dflt","format":"png","width":512,"safe_mode":false})");
  auto job = accepted(R"({"prompt":"p"})", o);
  EXPECT_EQ(job.model, "dflt");
  EXPECT_EQ(job.format, ImageFormat::png);
  EXPECT_EQ(job.body, R"({"format":"png","model":"dflt","prompt":"p","safe_mode":false,"width":512})");
}

TEST(ManifestTest, LineOverridesDefaults) {
  auto o = with_defaults(R"({"model":"dflt","format":"png","style_references":[{"image":"a"}]})");
  auto job = accepted(R"({"prompt":"p","model":"mine","format":"jpeg","style_references":[{"image":"b"}]})", o);
  EXPECT_EQ(job.model, "mine");
  EXPECT_EQ(job.format, ImageFormat::jpeg);
  EXPECT_EQ(job.body, R"({"format":"jpeg","model":"mine","prompt":"p","style_references":[{"image":"b"}]})")
      << "defaults are merged at the top level only";
}

TEST(ManifestTest, MergedRequestIsWhatIsValidated) {
  auto o = with_defaults(R"({"model":"m","variants":2})");
  EXPECT_TRUE(contains(reason(R"({"prompt":"p","return_binary":true})", o), "return_binary")) << "variants from the defaults";
  EXPECT_EQ(reason(R"({"prompt":"p"})", with_defaults("{}")), "model: is required");
  EXPECT_EQ(reason(R"({"prompt":"p"})", with_defaults(R"({"model":"m","width":5000})")),
            "width: must be an integer from 1 to 1280 (got 5000)");
}

TEST(ManifestTest, LineParsedWithBadDefaultsIsInvalidNotAnException) {
  for (const char* defaults : {"[1]", "not json", R"({"id":"x"})", R"({"model":"a","model":"b"})"}) {
    ManifestEntry e;
    EXPECT_NO_THROW(e = parse_manifest_line(R"({"prompt":"p"})", 1, with_defaults(defaults))) << defaults;
    EXPECT_TRUE(std::holds_alternative<InvalidLine>(e)) << defaults;
  }
}

// ---- metadata: passed through, never sent ---------------------------------------------------

TEST(ManifestTest, MetadataIsKeptOutOfTheRequestAndItsHash) {
  const auto plain = accepted(R"({"id":"m","prompt":"a lighthouse"})", with_defaults());
  const auto tagged = accepted(
      R"({"id":"m","metadata":{"template":"a {lighthouse|barn}", "values": {"subject": "lighthouse", "seed": 3}},"prompt":"a lighthouse"})",
      with_defaults());
  EXPECT_EQ(tagged.body, plain.body) << "never sent to the API";
  EXPECT_EQ(tagged.request_hash, plain.request_hash) << "metadata alone never makes a job run again";
  EXPECT_EQ(tagged.metadata, R"({"template":"a {lighthouse|barn}","values":{"subject":"lighthouse","seed":3}})");
  EXPECT_TRUE(plain.metadata.empty());
  EXPECT_NE(tagged.line_key, plain.line_key) << "another line text: a resume reads it in full";
}

TEST(ManifestTest, MetadataThatIsNotOneObjectOfReasonableSizeIsRefused) {
  EXPECT_NE(reason(R"({"prompt":"p","metadata":"a string"})").find("metadata must be a JSON object (got a string)"),
            std::string::npos);
  EXPECT_NE(reason(R"({"prompt":"p","metadata":{},"metadata":{"a":1}})").find("'metadata' appears more than once"),
            std::string::npos);
  const std::string big = R"({"prompt":"p","metadata":{"blob":")" + std::string(kMaxMetadataBytes, 'x') + R"("}})";
  EXPECT_NE(reason(big).find("metadata is"), std::string::npos);
}
