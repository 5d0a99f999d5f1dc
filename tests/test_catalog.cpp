#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "catalog_fixture.hpp"
#include "test_support.hpp"
#include "venice_batch/catalog.hpp"

using namespace venice_batch;
using venice_batch::test::fixture_catalog;
using venice_batch::test::fixture_sources;

namespace {
const ModelInfo& model(const Catalog& c, std::string_view id) {
  const ModelInfo* m = c.find(id);
  EXPECT_NE(m, nullptr) << id;
  static const ModelInfo none;
  return m ? *m : none;
}

Catalog build(const CatalogSources& s, std::vector<std::string>* warnings = nullptr) {
  auto c = build_catalog(s, warnings);
  EXPECT_TRUE(c) << (c ? "" : c.error());
  return c ? *c : Catalog{};
}

bool mentions(const std::vector<std::string>& warnings, std::string_view text) {
  for (const auto& w : warnings)
    if (w.find(text) != std::string::npos) return true;
  return false;
}
}  // namespace

TEST(CatalogTest, ReadsConstraintsPricingAndFlagsOfEachModel) {
  const Catalog c = fixture_catalog();
  ASSERT_EQ(c.models.size(), 7u);
  const ModelInfo& sd = model(c, "venice-sd35");
  EXPECT_EQ(sd.constraints.prompt_character_limit, 1500u);
  EXPECT_EQ(sd.constraints.steps_max, 50u);
  EXPECT_EQ(sd.constraints.steps_default, 25u);
  EXPECT_EQ(sd.constraints.width_height_divisor, 16u);
  EXPECT_EQ(sd.family(), SizeFamily::pixels);
  EXPECT_EQ(sd.pricing.per_image, (Price{0.01, 0.1}));
  const ModelInfo& gpt = model(c, "gpt-image-2");
  EXPECT_EQ(gpt.family(), SizeFamily::aspect_ratio);
  EXPECT_EQ(gpt.constraints.qualities, (std::vector<std::string>{"low", "medium", "high"}));
  EXPECT_EQ(gpt.constraints.default_quality, "medium");
  EXPECT_EQ(gpt.pricing.by_resolution_quality.at("4K").at("high"), (Price{0.83, 8.3}));
  EXPECT_EQ(gpt.pricing.by_resolution_quality.at("2K").at("high"), (Price{0.42, std::nullopt}));
  const ModelInfo& nano = model(c, "nano-banana-pro");
  EXPECT_TRUE(nano.supports_style_references);
  EXPECT_TRUE(nano.supports_web_search);
  EXPECT_EQ(nano.constraints.max_style_references, 3u);
  EXPECT_EQ(nano.pricing.by_resolution.at("4K").usd, 0.35);
  const ModelInfo& hidream = model(c, "hidream");
  ASSERT_TRUE(hidream.deprecation);
  EXPECT_TRUE(hidream.deprecation->auto_remap);
  EXPECT_EQ(hidream.deprecation->replacement_model_id, "z-image-turbo");
  EXPECT_EQ(hidream.deprecation->removes_at, "2026-03-01");
  EXPECT_TRUE(model(c, "qwen-image").offline);
  EXPECT_TRUE(model(c, "venice-internal").pricing.empty());
  EXPECT_FALSE(model(c, "venice-internal").constraints.prompt_character_limit);
}

TEST(CatalogTest, ReadsStylesRateLimitsAndBalances) {
  const Catalog c = fixture_catalog();
  EXPECT_EQ(c.styles, (std::vector<std::string>{"3D Model", "Analog Film", "Anime", "Cinematic"}));
  EXPECT_EQ(c.rate_limits.at("venice-sd35").rpm, 20u);
  EXPECT_EQ(c.rate_limits.at("venice-sd35").rpd, 1000u);
  EXPECT_EQ(c.rate_limits.at("gpt-image-2").rpm, 30u);  // 30.0: a double is read as well as an int
  EXPECT_FALSE(c.rate_limits.at("gpt-image-2").rpd);
  EXPECT_EQ(c.balance_usd, 12.5);
  EXPECT_EQ(c.balance_diem, 100.0);
  EXPECT_EQ(c.fetched_at_ms, 1'760'000'000'000);
}

TEST(CatalogTest, FindsModelsByIdAliasAndTrait) {
  const Catalog c = fixture_catalog();
  EXPECT_EQ(model(c, "stable-diffusion-3.5").id, "venice-sd35");  // compatibility mapping
  EXPECT_EQ(model(c, "dall-e-3").id, "gpt-image-2");
  EXPECT_EQ(model(c, "default").id, "z-image-turbo");          // trait in model_spec
  EXPECT_EQ(model(c, "most_uncensored").id, "venice-sd35");    // trait at the top level
  EXPECT_EQ(c.find("gpt-4o"), nullptr);  // an alias of a model not in the image list is dropped
  EXPECT_EQ(c.find("Venice-SD35"), nullptr);  // ids are exact
  EXPECT_EQ(c.find(""), nullptr);
}

TEST(CatalogTest, ClosestIdsNameTheLikelyTypoFirst) {
  const Catalog c = fixture_catalog();
  auto closest = c.closest_ids("z-image-turb");
  ASSERT_FALSE(closest.empty());
  EXPECT_EQ(closest.front(), "z-image-turbo");
  EXPECT_EQ(c.closest_ids("gpt-image-3", 1), (std::vector<std::string>{"gpt-image-2"}));
  EXPECT_EQ(c.closest_ids("GPT-IMAGE-2", 1), (std::vector<std::string>{"gpt-image-2"}));  // case ignored
  EXPECT_EQ(c.closest_ids("venice-sd3", 1), (std::vector<std::string>{"venice-sd35"}));
  EXPECT_EQ(c.closest_ids("stable-diffusion-35", 1), (std::vector<std::string>{"stable-diffusion-3.5"}));  // aliases too
  EXPECT_EQ(c.closest_ids("nano-banana").front(), "nano-banana-pro");  // a telling prefix
  EXPECT_TRUE(c.closest_ids("qqqqqqqqqqqqqqqqq").empty());  // nothing close: no noise
  EXPECT_LE(c.closest_ids("image", 2).size(), 2u);
}

TEST(CatalogTest, ClosestIdsBreakTiesByTheLongerSharedPrefix) {
  Catalog c;
  for (const char* id : {"zlux-dev", "flux-dew", "flux-2-dev"}) c.models.emplace_back().id = id;
  // "zlux-dev" and "flux-dew" are one edit away; "flux-dew" shares "flux-de" with the name.
  EXPECT_EQ(c.closest_ids("flux-dev"), (std::vector<std::string>{"flux-dew", "zlux-dev", "flux-2-dev"}));
}

TEST(CatalogTest, StylesMayBeABareArray) {
  auto s = fixture_sources();
  s.styles = R"(["Anime", "Cinematic", 3])";
  std::vector<std::string> warnings;
  const Catalog c = build(s, &warnings);
  EXPECT_EQ(c.styles, (std::vector<std::string>{"Anime", "Cinematic"}));
  EXPECT_TRUE(warnings.empty());
}

TEST(CatalogTest, ModelsMayBeABareArrayWithIntsOrDoublesAndUnknownFields) {
  CatalogSources s;
  s.models = R"([{"id": "m", "extra": {"x": [1]}, "model_spec": {"constraints": {"promptCharacterLimit": 2000.0,
    "steps": {"default": 8, "max": 30.0}, "widthHeightDivisor": 16.5}, "pricing": {"generation": {"usd": 1, "diem": 10}}}},
    {"name": "no id"}])";
  std::vector<std::string> warnings;
  const Catalog c = build(s, &warnings);
  ASSERT_EQ(c.models.size(), 1u);
  EXPECT_EQ(c.models[0].constraints.prompt_character_limit, 2000u);
  EXPECT_EQ(c.models[0].constraints.steps_max, 30u);
  EXPECT_FALSE(c.models[0].constraints.width_height_divisor);  // 16.5 is no divisor
  EXPECT_EQ(c.models[0].pricing.per_image, (Price{1.0, 10.0}));
  EXPECT_TRUE(mentions(warnings, "model list entry 1 has no id"));
}

// A negative price let every job through --max-spend (spend went down); $1e13 overflowed the
// micro-dollar sums. Neither is a price: the model is unpriced (refused under a cap).
TEST(CatalogTest, ANegativeOrAbsurdPriceIsNoPrice) {
  CatalogSources s;
  s.models = R"({"data": [{"id": "neg", "model_spec": {"pricing": {"generation": {"usd": -0.01}}}},
    {"id": "huge", "model_spec": {"pricing": {"generation": {"usd": 1e13}}}},
    {"id": "diem", "model_spec": {"pricing": {"generation": {"usd": 0.02, "diem": -5}}}},
    {"id": "free", "model_spec": {"pricing": {"generation": {"usd": 0}}}}]})";
  const Catalog c = build(s);
  EXPECT_FALSE(model(c, "neg").pricing.per_image);
  EXPECT_FALSE(model(c, "huge").pricing.per_image);
  EXPECT_EQ(model(c, "diem").pricing.per_image, (Price{0.02, std::nullopt}));
  EXPECT_EQ(model(c, "free").pricing.per_image, (Price{0.0, std::nullopt}));
}

TEST(CatalogTest, MissingPricingIsEmptyNotAFailure) {
  CatalogSources s;
  s.models = R"({"data": [{"id": "free", "model_spec": {"pricing": null}}, {"id": "internal"}]})";
  const Catalog c = build(s);
  EXPECT_TRUE(model(c, "free").pricing.empty());
  EXPECT_TRUE(model(c, "internal").pricing.empty());
  EXPECT_EQ(model(c, "internal").family(), SizeFamily::pixels);
}

TEST(CatalogTest, BadOptionalBodiesAreWarningsNotFailures) {
  auto s = fixture_sources();
  s.rate_limits = R"({"data": {"rateLimits": "soon"}})";
  s.styles = "<html>502 Bad Gateway</html>";
  s.compatibility_mapping.clear();
  std::vector<std::string> warnings;
  const Catalog c = build(s, &warnings);
  ASSERT_EQ(warnings.size(), 3u);
  EXPECT_TRUE(mentions(warnings, "rate limits are not the documented shape"));
  EXPECT_TRUE(mentions(warnings, "the style list is not JSON"));
  EXPECT_TRUE(mentions(warnings, "the compatibility mapping could not be had"));
  EXPECT_TRUE(c.rate_limits.empty());
  EXPECT_TRUE(c.styles.empty());  // styles unknown: style_preset is not checked
  EXPECT_EQ(model(c, "default").id, "z-image-turbo");  // traits still resolve without the mapping
  EXPECT_EQ(c.find("dall-e-3"), nullptr);
}

TEST(CatalogTest, RefusesAModelListThatCannotBeUsed) {
  CatalogSources s;
  auto missing = build_catalog(s);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error(), "the model list (GET /models?type=image) could not be had");
  s.models = "{\"error\": \"Unauthorized\"}";
  ASSERT_FALSE(build_catalog(s));
  EXPECT_EQ(build_catalog(s).error(), R"(the model list is not the documented shape ({"data": [...]}))");
  s.models = "not json";
  EXPECT_NE(build_catalog(s).error().find("the model list is not JSON"), std::string::npos);
  s.models = R"({"data": []})";
  EXPECT_EQ(build_catalog(s).error(), "the model list names no model");
}

TEST(CatalogTest, SavedSourcesBuildTheSameCatalog) {
  auto s = fixture_sources();
  s.styles = "<html>not json</html>";  // kept as text, read back as text
  const std::string saved = catalog_sources_to_json(s);
  auto loaded = catalog_sources_from_json(saved);
  ASSERT_TRUE(loaded) << loaded.error();
  EXPECT_EQ(loaded->fetched_at_ms, s.fetched_at_ms);
  EXPECT_EQ(loaded->styles, s.styles);
  EXPECT_NE(saved.find(R"("models":{"object":"list")"), std::string::npos);  // embedded as JSON
  std::vector<std::string> w1, w2;
  EXPECT_EQ(build(s, &w1), build(*loaded, &w2));
  EXPECT_EQ(w1, w2);
  EXPECT_EQ(catalog_sources_to_json(*loaded), saved);
}

TEST(CatalogTest, AnEndpointThatCouldNotBeHadIsSavedAsNull) {
  CatalogSources s;
  s.models = R"({"data": [{"id": "m"}]})";
  const std::string saved = catalog_sources_to_json(s);
  EXPECT_NE(saved.find(R"("styles":null)"), std::string::npos);
  auto loaded = catalog_sources_from_json(saved);
  ASSERT_TRUE(loaded);
  EXPECT_TRUE(loaded->styles.empty());
  EXPECT_EQ(loaded->models, R"({"data":[{"id":"m"}]})");
}

TEST(CatalogTest, LoadingRefusesWhatIsNoSavedCatalog) {
  EXPECT_EQ(catalog_sources_from_json(R"({"max_spend_usd": 3})").error(),
            "not a saved catalog (a JSON object with \"models\", as venice-batch writes catalog.json)");
  EXPECT_EQ(catalog_sources_from_json(R"({"models": 3})").error(), "\"models\" must be a JSON object, array, string or null");
  EXPECT_EQ(catalog_sources_from_json(R"({"models": [], "fetched_at_ms": "today"})").error(),
            "\"fetched_at_ms\" must be an integer (Unix milliseconds)");
  EXPECT_NE(catalog_sources_from_json("{").error().find("not JSON"), std::string::npos);
  // A bare GET /models body (e.g. saved with curl) is read as the model list.
  auto bare = catalog_sources_from_json(venice_batch::test::kModelsBody);
  ASSERT_TRUE(bare);
  EXPECT_EQ(build(*bare).models.size(), 7u);
}

TEST(CatalogTest, LoadCatalogSourcesNamesTheFile) {
  test_support::TempDir dir;
  const auto path = dir.path() / "catalog.json";
  auto missing = load_catalog_sources(path);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find(path.string()), std::string::npos);
  EXPECT_NE(missing.error().find("cannot be read"), std::string::npos);
  std::ofstream(path) << catalog_sources_to_json(fixture_sources());
  auto loaded = load_catalog_sources(path);
  ASSERT_TRUE(loaded) << loaded.error();
  EXPECT_EQ(build(*loaded), fixture_catalog());
  std::ofstream(path) << "[1,";
  EXPECT_NE(load_catalog_sources(path).error().find(fmt::format("catalog {}: not JSON", path.string())), std::string::npos);
}
