// The emulator's catalog: GET /models?type=image, /models/traits, /models/compatibility_mapping
// and /image/styles in the documented shapes, and generate checking each request against its
// model as the API does (constraints, aliases, unknown, offline and deprecated models).
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <simdjson.h>

#include "test_mock_support.hpp"

using namespace venice_batch;
using mock_test::Emulator;
namespace http = boost::beast::http;

namespace {

// The catalog entry of `id` in a parsed /models body.
simdjson::dom::element model_spec(simdjson::dom::element models, std::string_view id) {
  const simdjson::dom::array data = models["data"].get_array().value();
  for (auto entry : data)
    if (entry["id"].get_string().value() == id) {
      EXPECT_EQ(entry["type"].get_string().value(), "image");
      return entry["model_spec"].value();
    }
  ADD_FAILURE() << id << " not listed";
  return {};
}

// Width and height of a PNG (its IHDR).
std::pair<std::uint32_t, std::uint32_t> png_size(const std::string& png) {
  const auto be32 = [&](std::size_t at) {
    return (std::uint32_t(std::uint8_t(png[at])) << 24) | (std::uint32_t(std::uint8_t(png[at + 1])) << 16) |
           (std::uint32_t(std::uint8_t(png[at + 2])) << 8) | std::uint32_t(std::uint8_t(png[at + 3]));
  };
  return png.size() < 24 ? std::pair<std::uint32_t, std::uint32_t>{} : std::pair{be32(16), be32(20)};
}

std::string job(std::string_view model, std::string_view fields = "") {
  return fmt::format(R"({{"model":"{}","prompt":"p","format":"png"{}{}}})", model, fields.empty() ? "" : ",", fields);
}

MockOptions strict() {
  MockOptions o;
  o.accept_unknown_models = false;
  return o;
}

}  // namespace

TEST(MockCatalogTest, ModelsListEachKindOfModelInTheDocumentedShape) {
  Emulator emu;
  const auto a = emu.exchange(http::verb::get, "/api/v1/models?type=image", std::nullopt);
  ASSERT_EQ(a.status, 200) << "public, as on the API";
  simdjson::dom::parser parser;
  const simdjson::dom::element models = parser.parse(a.body).value();
  EXPECT_EQ(models["object"].get_string().value(), "list");
  const auto z = model_spec(models, "z-image-turbo");
  EXPECT_EQ(z["constraints"]["promptCharacterLimit"].get_uint64().value(), 7500u);
  EXPECT_EQ(z["constraints"]["widthHeightDivisor"].get_uint64().value(), 16u);
  EXPECT_EQ(z["pricing"]["generation"]["usd"].get_double().value(), 0.01);
  EXPECT_EQ(z["traits"].at(0).get_string().value(), "default");
  const auto sd = model_spec(models, "venice-sd35");
  EXPECT_EQ(sd["constraints"]["steps"]["default"].get_uint64().value(), 25u);
  EXPECT_EQ(sd["constraints"]["steps"]["max"].get_uint64().value(), 50u);
  EXPECT_EQ(sd["constraints"]["promptCharacterLimit"].get_uint64().value(), 1500u);
  const auto nano = model_spec(models, "nano-banana-pro");
  EXPECT_EQ(nano["pricing"]["resolutions"]["4K"]["usd"].get_double().value(), 0.35);
  EXPECT_TRUE(nano["capabilities"]["supportsWebSearch"].get_bool().value());
  const auto gpt = model_spec(models, "gpt-image-2");
  EXPECT_EQ(gpt["pricing"]["quality"]["1K"]["low"]["usd"].get_double().value(), 0.02);
  EXPECT_EQ(gpt["pricing"]["quality"]["4K"]["high"]["usd"].get_double().value(), 0.83);
  EXPECT_EQ(gpt["pricing"]["resolutions"]["2K"]["usd"].get_double().value(), 0.18) << "kept for backward compatibility";
  EXPECT_EQ(gpt["constraints"]["qualities"].get_array().size(), 3u);
  const auto flux = model_spec(models, "flux-dev");
  EXPECT_TRUE(flux["deprecation"]["autoRemap"].get_bool().value());
  EXPECT_EQ(flux["deprecation"]["replacementModelId"].get_string().value(), "z-image-turbo");
  EXPECT_TRUE(model_spec(models, "hidream")["offline"].get_bool().value());
  EXPECT_EQ(model_spec(models, "venice-preview")["pricing"].error(), simdjson::NO_SUCH_FIELD) << "no price listed";
  EXPECT_EQ(emu.get("/api/v1/models?type=text").body, R"({"object":"list","data":[]})");
}

TEST(MockCatalogTest, TraitsMappingAndStylesAnswerWithoutAKey) {
  Emulator emu;
  const auto traits = emu.exchange(http::verb::get, "/api/v1/models/traits?type=image", std::nullopt);
  EXPECT_EQ(traits.body,
            R"({"data":{"default":"z-image-turbo","eliza-default":"venice-sd35","fastest":"z-image-turbo",)"
            R"("highest_quality":"gpt-image-2"}})");
  const auto mapping = emu.exchange(http::verb::get, "/api/v1/models/compatibility_mapping", std::nullopt);
  EXPECT_NE(mapping.body.find(R"("stable-diffusion-3.5":"venice-sd35")"), std::string::npos) << mapping.body;
  const auto styles = emu.exchange(http::verb::get, "/api/v1/image/styles", std::nullopt);
  EXPECT_TRUE(styles.body.starts_with(R"({"object":"list","data":["3D Model","Analog Film","Anime",)")) << styles.body;
  EXPECT_EQ(emu.server->stats().catalog_requests, 3u);
  EXPECT_EQ(emu.server->stats().requests, 0u);
}

TEST(MockCatalogTest, GenerateRefusesWhatTheModelRefuses) {
  Emulator emu;
  const std::string long_prompt(1501, 'a'), longest(32768, 'a');
  std::string rain;  // 1,500 characters in 4,500 bytes: the limit counts characters
  for (int i = 0; i < 1500; ++i) rain += "雨";
  const std::tuple<std::string, int, std::string> cases[] = {
      {job("venice-sd35", R"("steps":51)"), 400, R"("path":["steps"])"},
      {job("venice-sd35", R"("steps":50,"width":64,"height":64)"), 200, ""},
      {R"({"model":"venice-sd35","prompt":")" + long_prompt + R"(","width":64,"height":64})", 400, R"("path":["prompt"])"},
      {R"({"model":"venice-sd35","prompt":")" + rain + R"(","width":64,"height":64})", 200, ""},
      {job("venice-sd35", R"("negative_prompt":")" + long_prompt + R"(","width":64,"height":64)"), 400,
       R"("path":["negative_prompt"])"},
      {R"({"model":"nano-banana-pro","format":"jpeg","prompt":")" + longest + R"("})", 200, ""},
      {R"({"model":"nano-banana-pro","prompt":")" + longest + R"(a"})", 400, "at most 32768 character"},
      {job("z-image-turbo", R"("width":100,"height":64)"), 400, "width must be a multiple of 16"},
      {job("z-image-turbo", R"("width":64,"height":64,"steps":500)"), 200, ""},
      {job("gpt-image-2", R"("resolution":"8K")"), 400, R"(received '8K')"},
      {job("gpt-image-2", R"("quality":"ultra")"), 400, R"("path":["quality"])"},
      {job("gpt-image-2", R"("aspect_ratio":"7:3")"), 400, R"("path":["aspect_ratio"])"},
      {job("z-image-turbo", R"("width":64,"height":64,"style_preset":"Nope")"), 400, R"("path":["style_preset"])"},
      {job("z-image-turbo", R"("width":64,"height":64,"style_preset":"Anime")"), 200, ""},
      {job("z-image-turbo", R"("width":64,"height":64,"style_references":[{"image":"aGk="}])"), 400,
       "does not support style references"},
  };
  for (const auto& [body, status, expected] : cases) {
    const auto a = emu.generate(body);
    EXPECT_EQ(a.status, status) << body.substr(0, 120) << " -> " << a.body.substr(0, 300);
    if (!expected.empty()) {
      EXPECT_NE(a.body.find(expected), std::string::npos) << a.body;
    }
  }
}

TEST(MockCatalogTest, SizeFieldsOfTheOtherFamilyAreIgnored) {
  Emulator emu;
  const auto pixel = emu.generate(job("z-image-turbo", R"("width":64,"height":32,"aspect_ratio":"16:9","resolution":"4K",)"
                                                       R"("quality":"high","return_binary":true)"));
  ASSERT_EQ(pixel.status, 200) << pixel.body;
  EXPECT_EQ(png_size(pixel.body), (std::pair<std::uint32_t, std::uint32_t>{64, 32}));
  const auto tier = emu.generate(job("qwen-image-2", R"("width":64,"height":64,"aspect_ratio":"16:9","resolution":"4K",)"
                                                     R"("return_binary":true)"));
  ASSERT_EQ(tier.status, 200) << "qwen-image-2 has no resolutions: ignored, not refused";
  EXPECT_EQ(png_size(tier.body), (std::pair<std::uint32_t, std::uint32_t>{1024, 576})) << "sized by its aspect ratio";
}

TEST(MockCatalogTest, UnknownModelIs404OfflineIs503AndAliasesAreAccepted) {
  Emulator emu(strict());
  EXPECT_EQ(emu.generate(job("no-such-model")).status, 404);
  const auto offline = emu.generate(job("hidream", R"("width":64,"height":64)"));
  EXPECT_EQ(offline.status, 503);
  EXPECT_NE(offline.body.find("offline"), std::string::npos) << offline.body;
  EXPECT_EQ(emu.generate(job("stable-diffusion-3.5", R"("width":64,"height":64)")).status, 200);
  EXPECT_EQ(emu.generate(job("fastest", R"("width":64,"height":64)")).status, 200) << "a trait names a model too";
  const auto s = emu.server->stats();
  EXPECT_EQ(s.by_model.at("venice-sd35").requests, 1u) << "counted under the id the alias names";
  EXPECT_EQ(s.by_model.at("z-image-turbo").requests, 1u);
  EXPECT_EQ(Emulator().generate(job("no-such-model", R"("width":64,"height":64)")).status, 200)
      << "the library's default serves ids it does not know (tests send made-up ones)";
}

TEST(MockCatalogTest, DeprecatedModelIsServedWithItsDeprecationHeaders) {
  Emulator emu;
  const auto a = emu.generate(job("flux-dev", R"("width":64,"height":64)"));
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.header("x-venice-deprecated"), "true");
  EXPECT_EQ(a.header("x-venice-deprecated-replacement"), "z-image-turbo");
  EXPECT_EQ(a.header("x-venice-model-deprecation-date"), "2026-12-31");
  EXPECT_NE(a.header("x-venice-model-deprecation-warning").find("flux-dev"), std::string::npos);
  EXPECT_EQ(emu.generate(job("z-image-turbo", R"("width":64,"height":64)")).header("x-venice-deprecated"), "");
}

TEST(MockCatalogTest, CatalogFileReplacesTheBuiltInOne) {
  test_support::TempDir dir;
  test_support::write_file(dir / "catalog.json",
                           R"({"fetched_at_ms":1,"models":{"object":"list","data":[{"id":"only-one","type":"image",)"
                           R"("model_spec":{"constraints":{"promptCharacterLimit":5},"pricing":{"generation":{"usd":1}}}}]},)"
                           R"("styles":["Solo"]})");
  MockOptions o = strict();
  o.catalog_file = dir / "catalog.json";
  Emulator emu(o);
  EXPECT_NE(emu.get("/api/v1/models?type=image").body.find(R"("id":"only-one")"), std::string::npos);
  EXPECT_EQ(emu.get("/api/v1/image/styles").body, R"(["Solo"])");
  EXPECT_EQ(emu.generate(job("z-image-turbo")).status, 404);
  EXPECT_EQ(emu.generate(job("only-one")).status, 200);
  EXPECT_EQ(emu.generate(R"({"model":"only-one","prompt":"123456"})").status, 400);
  EXPECT_EQ(emu.server->stats().spent, to_micros(1));
  test_support::write_file(dir / "bad.json", R"({"data":"not a list"})");
  o.catalog_file = dir / "bad.json";
  EXPECT_THROW(MockServer{o}, std::runtime_error);
}
