// A realistic image-model catalog for the catalog, preflight and pricing tests: the four bodies as
// the API sends them (VENICE_API.md, Other endpoints), with the models issue 9 names.
#pragma once

#include <string>

#include <gtest/gtest.h>

#include "venice_batch/catalog.hpp"
#include "venice_batch/model_preflight.hpp"

namespace venice_batch::test {

// venice-sd35: pixels, divisor 16, steps max 50, 1500 characters, $0.01 flat (traits at the top level).
// z-image-turbo: pixels, no steps, no DIEM price, the `default` trait. nano-banana-pro: aspect ratio +
// resolution, priced per resolution, style references, web search. gpt-image-2: quality priced
// ($0.02 1K low ... $0.83 4K high; its `resolutions` prices are the legacy ones). hidream:
// deprecated with autoRemap. qwen-image: offline. venice-internal: no pricing, no prompt limit.
inline constexpr const char* kModelsBody = R"({"object": "list", "type": "image", "data": [
 {"id": "venice-sd35", "type": "image", "traits": ["most_uncensored"], "model_spec": {"name": "Venice SD35",
  "constraints": {"promptCharacterLimit": 1500, "steps": {"default": 25, "max": 50}, "widthHeightDivisor": 16},
  "pricing": {"generation": {"usd": 0.01, "diem": 0.1}}, "supportsStyleReferences": false}},
 {"id": "z-image-turbo", "type": "image", "model_spec": {"traits": ["default", "fastest"],
  "constraints": {"promptCharacterLimit": 7500, "widthHeightDivisor": 8},
  "pricing": {"generation": {"usd": 0.01}}}},
 {"id": "nano-banana-pro", "type": "image", "model_spec": {"traits": ["highest_quality"],
  "constraints": {"promptCharacterLimit": 32768, "aspectRatios": ["1:1", "16:9", "9:16", "4:3", "3:4"],
   "defaultAspectRatio": "1:1", "resolutions": ["1K", "2K", "4K"], "defaultResolution": "2K", "maxStyleReferences": 3},
  "pricing": {"resolutions": {"1K": {"usd": 0.18, "diem": 1.8}, "2K": {"usd": 0.24, "diem": 2.4}, "4K": {"usd": 0.35, "diem": 3.5}}},
  "supportsStyleReferences": true, "capabilities": {"supportsWebSearch": true}}},
 {"id": "gpt-image-2", "type": "image", "model_spec": {
  "constraints": {"promptCharacterLimit": 32000, "aspectRatios": ["1:1", "3:2", "2:3"], "resolutions": ["1K", "2K", "4K"],
   "defaultResolution": "1K", "qualities": ["low", "medium", "high"], "defaultQuality": "medium"},
  "pricing": {"resolutions": {"1K": {"usd": 0.07}, "2K": {"usd": 0.19}, "4K": {"usd": 0.35}},
   "quality": {"1K": {"low": {"usd": 0.02, "diem": 0.2}, "medium": {"usd": 0.07, "diem": 0.7}, "high": {"usd": 0.21, "diem": 2.1}},
               "2K": {"low": {"usd": 0.05, "diem": 0.5}, "medium": {"usd": 0.19, "diem": 1.9}, "high": {"usd": 0.42}},
               "4K": {"low": {"usd": 0.1, "diem": 1}, "medium": {"usd": 0.35, "diem": 3.5}, "high": {"usd": 0.83, "diem": 8.3}}}},
  "capabilities": {"supportsWebSearch": false}}},
 {"id": "hidream", "type": "image", "model_spec": {
  "constraints": {"promptCharacterLimit": 1500, "widthHeightDivisor": 8},
  "pricing": {"generation": {"usd": 0.01, "diem": 0.1}},
  "deprecation": {"autoRemap": true, "date": "2026-03-01", "startsAt": "2026-02-01", "removesAt": "2026-03-01",
   "replacementModelId": "z-image-turbo"}}},
 {"id": "qwen-image", "type": "image", "model_spec": {"offline": true,
  "constraints": {"promptCharacterLimit": 1500, "widthHeightDivisor": 8}, "pricing": {"generation": {"usd": 0.01}}}},
 {"id": "venice-internal", "type": "image", "model_spec": {"constraints": {"widthHeightDivisor": 8}, "futureField": [1, 2]}}
]})";

inline constexpr const char* kMappingBody = R"({"object": "list", "data": {
 "stable-diffusion-3.5": "venice-sd35", "gpt-image": "gpt-image-2", "dall-e-3": "gpt-image-2", "gpt-4o": "llama-3.3-70b"}})";

inline constexpr const char* kStylesBody = R"({"object": "list", "data": ["3D Model", "Analog Film", "Anime", "Cinematic"]})";

inline constexpr const char* kRateLimitsBody = R"({"data": {"accessPermitted": true, "apiTier": {"id": "paid", "isCharged": true},
 "balances": {"USD": 12.5, "DIEM": 100},
 "rateLimits": [
  {"apiModelId": "venice-sd35", "rateLimits": [{"amount": 20, "type": "RPM"}, {"amount": 1000, "type": "RPD"}]},
  {"apiModelId": "gpt-image-2", "rateLimits": [{"amount": 30.0, "type": "RPM"}]},
  {"apiModelId": "llama-3.3-70b", "rateLimits": [{"amount": 500, "type": "RPM"}, {"amount": 1000000, "type": "TPM"}]}]}})";

inline CatalogSources fixture_sources() {
  return CatalogSources{kModelsBody, kMappingBody, kStylesBody, kRateLimitsBody, 1'760'000'000'000};
}

/// The fixture catalog; fails the test if it does not build cleanly.
inline Catalog fixture_catalog() {
  std::vector<std::string> warnings;
  auto built = build_catalog(fixture_sources(), &warnings);
  EXPECT_TRUE(built) << (built ? "" : built.error());
  EXPECT_TRUE(warnings.empty()) << warnings.front();
  return built ? *built : Catalog{};
}

/// The fixture catalog, built once for the test binary.
inline const Catalog& shared_catalog() {
  static const Catalog c = fixture_catalog();
  return c;
}

/// view_request of a body the test wrote; fails the test if it is no JSON object.
inline RequestView request_view(std::string_view body) {
  auto v = view_request(body);
  EXPECT_TRUE(v) << body;
  return v ? *v : RequestView{};
}

}  // namespace venice_batch::test
