#include <fmt/format.h>
#include <gtest/gtest.h>

#include "catalog_fixture.hpp"
#include "venice_batch/model_preflight.hpp"

using namespace venice_batch;

using venice_batch::test::request_view;

namespace {
const Catalog& catalog() { return venice_batch::test::shared_catalog(); }

PreflightResult check(std::string_view body, const Catalog& c = catalog()) { return preflight_job(c, request_view(body)); }

std::string refusal(std::string_view body) { return check(body).refusal.value_or("(accepted)"); }

std::string repeat(std::string_view unit, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += unit;
  return s;
}

std::string with_prompt(std::string_view model, std::string_view field, const std::string& text) {
  const std::string prompt = field == "prompt" ? text : "a cat";
  const std::string extra = field == "negative_prompt" ? fmt::format(R"(, "negative_prompt": "{}")", text) : "";
  return fmt::format(R"({{"model": "{}", "prompt": "{}"{}}})", model, prompt, extra);
}
}  // namespace

TEST(RequestViewTest, ReadsTheFieldsPreflightAndPricingUse) {
  auto v = request_view(R"({"model": "m", "prompt": "héllo 🐱", "negative_prompt": "日本", "width": 1024, "height": 768.0,
    "steps": 30, "aspect_ratio": "16:9", "resolution": "2K", "quality": "high", "style_preset": "Anime",
    "style_references": [{"image": "x"}, {"image": "y"}], "enable_web_search": true, "enhance_prompt": true,
    "variants": 4, "seed": 7, "format": "png"})");
  EXPECT_EQ(v.model, "m");
  EXPECT_EQ(v.prompt_code_points, 7u);  // é and the cat are one character each
  EXPECT_EQ(v.negative_prompt_code_points, 2u);
  EXPECT_EQ(v.width, 1024);
  EXPECT_EQ(v.height, 768);
  EXPECT_EQ(v.steps, 30);
  EXPECT_EQ(v.aspect_ratio, "16:9");
  EXPECT_EQ(v.resolution, "2K");
  EXPECT_EQ(v.quality, "high");
  EXPECT_EQ(v.style_preset, "Anime");
  EXPECT_EQ(v.style_references, 2u);
  EXPECT_TRUE(v.enable_web_search);
  EXPECT_TRUE(v.enhance_prompt);
  EXPECT_EQ(v.variants, 4u);
  auto plain = request_view(R"({"model": "m", "prompt": "p"})");
  EXPECT_EQ(plain.variants, 1u);
  EXPECT_FALSE(plain.width);
  EXPECT_FALSE(plain.enable_web_search);
}

TEST(RequestViewTest, RefusesABodyThatIsNoJsonObject) {
  EXPECT_EQ(view_request("[1]").error(), "the request body is not a JSON object");
  EXPECT_FALSE(view_request("{\"model\":"));
}

TEST(PreflightTest, UnknownModelNamesTheClosestIds) {
  auto r = check(R"({"model": "z-image-turb", "prompt": "a cat"})");
  EXPECT_EQ(r.model, nullptr);
  ASSERT_TRUE(r.refusal);
  EXPECT_EQ(r.refusal->rfind("model: unknown model 'z-image-turb'; closest: z-image-turbo", 0), 0u) << *r.refusal;
  EXPECT_EQ(refusal(R"({"model": "qqqqqqqqqqqqqqqqqqqq", "prompt": "a"})"),
            "model: unknown model 'qqqqqqqqqqqqqqqqqqqq' (not in the catalog's 7 image models)");
}

TEST(PreflightTest, AliasesAndTraitsAreAcceptedWithAWarning) {
  auto r = check(R"({"model": "dall-e-3", "prompt": "a cat"})");
  EXPECT_FALSE(r.refusal);
  ASSERT_NE(r.model, nullptr);
  EXPECT_EQ(r.model->id, "gpt-image-2");
  EXPECT_EQ(r.warnings, (std::vector<std::string>{"model: alias dall-e-3 -> gpt-image-2"}));
  auto t = check(R"({"model": "default", "prompt": "a cat"})");
  EXPECT_EQ(t.model->id, "z-image-turbo");
  EXPECT_EQ(t.warnings, (std::vector<std::string>{"model: alias default -> z-image-turbo"}));
  EXPECT_TRUE(check(R"({"model": "z-image-turbo", "prompt": "a cat"})").warnings.empty());
}

TEST(PreflightTest, OfflineModelIsRefused) {
  auto r = check(R"({"model": "qwen-image", "prompt": "a cat"})");
  EXPECT_EQ(r.refusal, "model: qwen-image is offline (the catalog lists it as unavailable); choose another model");
  EXPECT_NE(r.model, nullptr);
}

TEST(PreflightTest, DeprecatedModelWarnsWithReplacementAndDateAndRecordsAutoRemap) {
  auto r = check(R"({"model": "hidream", "prompt": "a cat"})");
  EXPECT_FALSE(r.refusal);
  EXPECT_TRUE(r.auto_remap);
  EXPECT_EQ(r.warnings, (std::vector<std::string>{
                            "model: hidream is deprecated (removed 2026-03-01); replacement: z-image-turbo; "
                            "the API may serve z-image-turbo instead (autoRemap)"}));
  EXPECT_FALSE(check(R"({"model": "venice-sd35", "prompt": "a cat"})").auto_remap);
}

TEST(PreflightTest, PromptAtTheModelsLimitPassesOneMoreIsRefused) {
  EXPECT_EQ(refusal(with_prompt("venice-sd35", "prompt", repeat("a", 1500))), "(accepted)");
  EXPECT_EQ(refusal(with_prompt("venice-sd35", "prompt", repeat("a", 1501))),
            "prompt: 1501 characters, over venice-sd35's promptCharacterLimit of 1500");
  EXPECT_EQ(refusal(with_prompt("venice-sd35", "negative_prompt", repeat("a", 1500))), "(accepted)");
  EXPECT_EQ(refusal(with_prompt("venice-sd35", "negative_prompt", repeat("a", 1501))),
            "negative_prompt: 1501 characters, over venice-sd35's promptCharacterLimit of 1500");
}

TEST(PreflightTest, PromptLengthIsCountedInCodePointsNotBytes) {
  EXPECT_EQ(refusal(with_prompt("venice-sd35", "prompt", repeat("é", 1500))), "(accepted)");     // 3000 bytes
  EXPECT_EQ(refusal(with_prompt("venice-sd35", "prompt", repeat("🐱", 1500))), "(accepted)");    // 6000 bytes
  EXPECT_EQ(refusal(with_prompt("venice-sd35", "prompt", repeat("日", 1501))),
            "prompt: 1501 characters, over venice-sd35's promptCharacterLimit of 1500");
}

TEST(PreflightTest, ModelLimitReplacesTheGenericCapBothWays) {
  EXPECT_EQ(refusal(with_prompt("nano-banana-pro", "prompt", repeat("a", kLargestPromptLimit))), "(accepted)");
  EXPECT_EQ(refusal(with_prompt("nano-banana-pro", "prompt", repeat("a", kLargestPromptLimit + 1))),
            "prompt: 32769 characters, over nano-banana-pro's promptCharacterLimit of 32768");
  // A model that lists no limit gets the spec's 7,500.
  EXPECT_EQ(refusal(with_prompt("venice-internal", "prompt", repeat("a", kGenericPromptLimit))), "(accepted)");
  EXPECT_EQ(refusal(with_prompt("venice-internal", "prompt", repeat("a", kGenericPromptLimit + 1))),
            "prompt: 7501 characters, over the generic limit (venice-internal lists no promptCharacterLimit) of 7500");
}

TEST(PreflightTest, StepsOverTheModelsMaximumAreRefused) {
  EXPECT_EQ(refusal(R"({"model": "venice-sd35", "prompt": "a", "steps": 50})"), "(accepted)");
  EXPECT_EQ(refusal(R"({"model": "venice-sd35", "prompt": "a", "steps": 51})"), "steps: 51 is over venice-sd35's maximum of 50");
}

TEST(PreflightTest, StepsOnAModelWithoutStepsIsAWarning) {
  auto r = check(R"({"model": "z-image-turbo", "prompt": "a", "steps": 500})");
  EXPECT_FALSE(r.refusal);
  EXPECT_EQ(r.warnings, (std::vector<std::string>{"steps is ignored by z-image-turbo (it does not use steps)"}));
}

TEST(PreflightTest, WidthAndHeightMustBeMultiplesOfTheDivisor) {
  EXPECT_EQ(refusal(R"({"model": "venice-sd35", "prompt": "a", "width": 1024, "height": 768})"), "(accepted)");
  EXPECT_EQ(refusal(R"({"model": "venice-sd35", "prompt": "a", "width": 1000})"),
            "width: 1000 is not a multiple of 16 (venice-sd35 needs width and height divisible by 16; try 992 or 1008)");
  EXPECT_EQ(refusal(R"({"model": "venice-sd35", "prompt": "a", "height": 8})"),
            "height: 8 is not a multiple of 16 (venice-sd35 needs width and height divisible by 16; try 16)");
  EXPECT_EQ(refusal(R"({"model": "z-image-turbo", "prompt": "a", "width": 1000})"), "(accepted)");  // divisor 8
}

TEST(PreflightTest, SizeFieldsOfTheWrongFamilyAreWarnings) {
  auto r = check(R"({"model": "gpt-image-2", "prompt": "a", "width": 1000, "height": 1000})");
  EXPECT_FALSE(r.refusal);  // and no divisor check: the API ignores them
  EXPECT_EQ(r.warnings, (std::vector<std::string>{"width/height are ignored by gpt-image-2 (it takes aspect_ratio/resolution/quality)"}));
  EXPECT_EQ(check(R"({"model": "nano-banana-pro", "prompt": "a", "height": 512})").warnings,
            (std::vector<std::string>{"height is ignored by nano-banana-pro (it takes aspect_ratio/resolution)"}));
  auto p = check(R"({"model": "venice-sd35", "prompt": "a", "aspect_ratio": "16:9", "resolution": "4K"})");
  EXPECT_FALSE(p.refusal);
  EXPECT_EQ(p.warnings, (std::vector<std::string>{"aspect_ratio/resolution are ignored by venice-sd35 (it takes width/height)"}));
}

TEST(PreflightTest, AspectRatioResolutionAndQualityMustBeInTheModelsLists) {
  EXPECT_EQ(refusal(R"({"model": "gpt-image-2", "prompt": "a", "aspect_ratio": "3:2", "resolution": "4K", "quality": "high"})"),
            "(accepted)");
  EXPECT_EQ(refusal(R"({"model": "gpt-image-2", "prompt": "a", "aspect_ratio": "16:9"})"),
            "aspect_ratio: '16:9' is not one of gpt-image-2's aspect ratios: 1:1, 3:2, 2:3");
  EXPECT_EQ(refusal(R"({"model": "nano-banana-pro", "prompt": "a", "resolution": "8K"})"),
            "resolution: '8K' is not one of nano-banana-pro's resolutions: 1K, 2K, 4K");
  EXPECT_EQ(refusal(R"({"model": "gpt-image-2", "prompt": "a", "quality": "ultra"})"),
            "quality: 'ultra' is not one of gpt-image-2's qualities: low, medium, high");
  EXPECT_EQ(check(R"({"model": "nano-banana-pro", "prompt": "a", "quality": "high"})").warnings,
            (std::vector<std::string>{"quality is ignored by nano-banana-pro (it lists no qualities)"}));
}

TEST(PreflightTest, StylePresetMustBeListedAndCaseMatters) {
  EXPECT_EQ(refusal(R"({"model": "venice-sd35", "prompt": "a", "style_preset": "Anime"})"), "(accepted)");
  EXPECT_EQ(refusal(R"({"model": "venice-sd35", "prompt": "a", "style_preset": "anime"})"),
            "style_preset: 'anime' is not a style the API lists (names are case-sensitive: 'Anime')");
  EXPECT_EQ(refusal(R"({"model": "venice-sd35", "prompt": "a", "style_preset": "Vaporwave"})"),
            "style_preset: 'Vaporwave' is not one of the 4 styles GET /image/styles lists");
  Catalog unknown_styles = catalog();
  unknown_styles.styles.clear();
  EXPECT_FALSE(check(R"({"model": "venice-sd35", "prompt": "a", "style_preset": "Vaporwave"})", unknown_styles).refusal);
}

TEST(PreflightTest, StyleReferencesNeedSupportAndAreCapped) {
  const std::string three = R"([{"image": "a"}, {"image": "b"}, {"image": "c"}])";
  const std::string four = R"([{"image": "a"}, {"image": "b"}, {"image": "c"}, {"image": "d"}])";
  EXPECT_EQ(refusal(fmt::format(R"({{"model": "nano-banana-pro", "prompt": "a", "style_references": {}}})", three)), "(accepted)");
  EXPECT_EQ(refusal(fmt::format(R"({{"model": "nano-banana-pro", "prompt": "a", "style_references": {}}})", four)),
            "style_references: 4 given, nano-banana-pro takes at most 3");
  EXPECT_EQ(refusal(R"({"model": "venice-sd35", "prompt": "a", "style_references": [{"image": "a"}]})"),
            "style_references: venice-sd35 does not take style references");
  EXPECT_EQ(refusal(R"({"model": "venice-sd35", "prompt": "a", "style_references": []})"), "(accepted)");
}

TEST(PreflightTest, WebSearchNeedsAModelThatHasIt) {
  EXPECT_EQ(refusal(R"({"model": "nano-banana-pro", "prompt": "a", "enable_web_search": true})"), "(accepted)");
  EXPECT_EQ(refusal(R"({"model": "gpt-image-2", "prompt": "a", "enable_web_search": true})"),
            "enable_web_search: gpt-image-2 has no web search (capabilities.supportsWebSearch)");
  EXPECT_EQ(refusal(R"({"model": "gpt-image-2", "prompt": "a", "enable_web_search": false})"), "(accepted)");
}

TEST(PreflightTest, EveryRefusalOfALineIsNamedAtOnce) {
  EXPECT_EQ(refusal(R"({"model": "venice-sd35", "prompt": "a", "steps": 60, "width": 100, "enable_web_search": true})"),
            "steps: 60 is over venice-sd35's maximum of 50; "
            "width: 100 is not a multiple of 16 (venice-sd35 needs width and height divisible by 16; try 96 or 112); "
            "enable_web_search: venice-sd35 has no web search (capabilities.supportsWebSearch)");
}
