#include <gtest/gtest.h>

#include "catalog_fixture.hpp"
#include "venice_batch/pricing.hpp"

using namespace venice_batch;

namespace {
const Catalog& catalog() { return venice_batch::test::shared_catalog(); }

JobPrice price(std::string_view body) {
  const RequestView v = venice_batch::test::request_view(body);
  const ModelInfo* m = catalog().find(v.model);
  EXPECT_NE(m, nullptr) << v.model;
  return m ? price_job(*m, v) : JobPrice{};
}

double usd(const JobPrice& p) { return p.total ? p.total->usd : -1; }
}  // namespace

TEST(PricingTest, FlatPriceTimesVariants) {
  auto one = price(R"({"model": "venice-sd35", "prompt": "a"})");
  EXPECT_EQ(one.images, 1u);
  EXPECT_EQ(one.per_image, (Price{0.01, 0.1}));
  EXPECT_DOUBLE_EQ(usd(one), 0.01);
  auto four = price(R"({"model": "venice-sd35", "prompt": "a", "variants": 4})");
  EXPECT_EQ(four.images, 4u);
  EXPECT_DOUBLE_EQ(usd(four), 0.04);
  ASSERT_TRUE(four.total->diem);
  EXPECT_DOUBLE_EQ(*four.total->diem, 0.4);
  EXPECT_TRUE(four.unpriced_reason.empty());
}

TEST(PricingTest, ByResolutionUsesTheRequestsOrTheModelsDefault) {
  EXPECT_DOUBLE_EQ(usd(price(R"({"model": "nano-banana-pro", "prompt": "a", "resolution": "4K"})")), 0.35);
  EXPECT_DOUBLE_EQ(usd(price(R"({"model": "nano-banana-pro", "prompt": "a", "resolution": "1K", "variants": 2})")), 0.36);
  EXPECT_DOUBLE_EQ(usd(price(R"({"model": "nano-banana-pro", "prompt": "a"})")), 0.24);  // defaultResolution 2K
}

TEST(PricingTest, QualityPriceWinsOverTheLegacyResolutionPrice) {
  EXPECT_DOUBLE_EQ(usd(price(R"({"model": "gpt-image-2", "prompt": "a", "resolution": "4K", "quality": "high"})")), 0.83);
  EXPECT_DOUBLE_EQ(usd(price(R"({"model": "gpt-image-2", "prompt": "a", "resolution": "1K", "quality": "low"})")), 0.02);
  // pricing.resolutions says 4K is $0.35; the quality table says $0.35 for medium, $0.10 for low.
  EXPECT_DOUBLE_EQ(usd(price(R"({"model": "gpt-image-2", "prompt": "a", "resolution": "4K", "quality": "low"})")), 0.10);
  auto night = price(R"({"model": "gpt-image-2", "prompt": "a", "resolution": "4K", "quality": "high", "variants": 4})");
  EXPECT_DOUBLE_EQ(usd(night), 3.32);
  EXPECT_DOUBLE_EQ(*night.total->diem, 33.2);
}

TEST(PricingTest, QualityPricingFallsBackToTheModelsDefaults) {
  EXPECT_DOUBLE_EQ(usd(price(R"({"model": "gpt-image-2", "prompt": "a"})")), 0.07);                    // 1K medium
  EXPECT_DOUBLE_EQ(usd(price(R"({"model": "gpt-image-2", "prompt": "a", "quality": "high"})")), 0.21);  // 1K high
  EXPECT_DOUBLE_EQ(usd(price(R"({"model": "gpt-image-2", "prompt": "a", "resolution": "2K"})")), 0.19); // 2K medium
}

TEST(PricingTest, NoPriceSaysWhy) {
  auto internal = price(R"({"model": "venice-internal", "prompt": "a"})");
  EXPECT_FALSE(internal.per_image);
  EXPECT_FALSE(internal.total);
  EXPECT_EQ(internal.unpriced_reason, "venice-internal lists no price");
  auto missing = price(R"({"model": "gpt-image-2", "prompt": "a", "resolution": "8K", "quality": "ultra"})");
  EXPECT_FALSE(missing.total);
  EXPECT_EQ(missing.unpriced_reason, "gpt-image-2 lists no price for resolution 8K quality ultra");
  EXPECT_EQ(price(R"({"model": "nano-banana-pro", "prompt": "a", "resolution": "8K"})").unpriced_reason,
            "nano-banana-pro lists no price for resolution 8K");
}

TEST(PricingTest, NoDefaultAndNoRequestValueIsUnpriced) {
  ModelInfo m = *catalog().find("gpt-image-2");
  m.constraints.default_quality.reset();
  RequestView r;
  r.model = m.id;
  r.resolution = "1K";
  auto p = price_job(m, r);
  EXPECT_FALSE(p.total);
  EXPECT_EQ(p.unpriced_reason, "gpt-image-2 is priced by resolution and quality; the request names no quality and the model lists no default");
  ModelInfo nano = *catalog().find("nano-banana-pro");
  nano.constraints.default_resolution.reset();
  EXPECT_EQ(price_job(nano, RequestView{}).unpriced_reason,
            "nano-banana-pro is priced by resolution; the request names none and the model lists no default");
}

TEST(PricingTest, DiemOnlyWhenThePriceListsIt) {
  auto z = price(R"({"model": "z-image-turbo", "prompt": "a", "variants": 3})");
  EXPECT_DOUBLE_EQ(usd(z), 0.03);
  EXPECT_FALSE(z.total->diem);
  auto gpt = price(R"({"model": "gpt-image-2", "prompt": "a", "resolution": "2K", "quality": "high"})");
  EXPECT_DOUBLE_EQ(usd(gpt), 0.42);
  EXPECT_FALSE(gpt.total->diem);  // 2K high lists USD only
}

TEST(PricingTest, OptionsThatCostExtraWithoutAPriceAreReported) {
  auto p = price(R"({"model": "nano-banana-pro", "prompt": "a", "enhance_prompt": true, "enable_web_search": true})");
  EXPECT_DOUBLE_EQ(usd(p), 0.24);  // the listed part is still priced
  EXPECT_EQ(p.unpriced_extras, (std::vector<std::string>{"enhance_prompt", "enable_web_search"}));
  EXPECT_TRUE(price(R"({"model": "nano-banana-pro", "prompt": "a", "enhance_prompt": false})").unpriced_extras.empty());
}
