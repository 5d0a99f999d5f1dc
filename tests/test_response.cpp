#include <gtest/gtest.h>

#include "venice_batch/base64.hpp"
#include "venice_batch/response.hpp"

using namespace venice_batch;

namespace {

std::vector<std::uint8_t> fake_image(ImageFormat f, std::size_t size = 300) {
  std::vector<std::uint8_t> b(size, 0x5a);
  switch (f) {
    case ImageFormat::png: {
      const std::uint8_t sig[] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
      std::copy(std::begin(sig), std::end(sig), b.begin());
      break;
    }
    case ImageFormat::jpeg: b[0] = 0xff; b[1] = 0xd8; b[2] = 0xff; break;
    case ImageFormat::webp: {
      const char hdr[] = "RIFF\x10\x00\x00\x00WEBPVP8 ";
      std::copy(hdr, hdr + 16, b.begin());
      break;
    }
  }
  return b;
}

HttpResponse json_response(const std::string& body, std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpResponse r;
  r.status = 200;
  r.headers = std::move(headers);
  r.body = body;
  r.body.reserve(body.size() + 64);
  return r;
}

std::string body_with(const std::vector<std::string>& images, const std::string& extra = "") {
  std::string s = R"({"id":"generate-image-1","images":[)";
  for (std::size_t i = 0; i < images.size(); ++i) s += (i ? ",\"" : "\"") + images[i] + "\"";
  s += R"(],"timing":{"inferenceDuration":812,"inferencePreprocessingTime":3,"inferenceQueueTime":41,"total":860},"request":null)";
  return s + extra + "}";
}

}  // namespace

TEST(ResponseTest, DecodesEveryVariantWithTimingAndId) {
  ResponseDecoder d;
  auto img = base64::encode(fake_image(ImageFormat::png));
  auto r = d.decode(json_response(body_with({img, img, img})), {ImageFormat::png, 3, false});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->server_id, "generate-image-1");
  ASSERT_EQ(r->images.size(), 3u);
  EXPECT_EQ(r->images[2].bytes, fake_image(ImageFormat::png));
  ASSERT_TRUE(r->timing);
  EXPECT_EQ(r->timing->inference_ms, 812);
  EXPECT_EQ(r->timing->queue_ms, 41);
  EXPECT_EQ(r->timing->total_ms, 860);
}

TEST(ResponseTest, FieldOrderAndUnknownFieldsDoNotMatter) {
  ResponseDecoder d;
  auto img = base64::encode(fake_image(ImageFormat::webp));
  std::string body = R"({"request":{"success":true,"data":{"prompt":"x","nested":[1,{"a":2}]}},"newField":1,"images":[")" +
                     img + R"("],"id":"g"})";
  auto r = d.decode(json_response(body), {ImageFormat::webp, 1, false});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->server_id, "g");
  EXPECT_FALSE(r->timing);
}

TEST(ResponseTest, EscapedSlashesInBase64AreUnescaped) {
  ResponseDecoder d;
  auto bytes = fake_image(ImageFormat::jpeg, 600);
  for (std::size_t i = 3; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(0xff - (i % 7));  // many '/'
  auto img = base64::encode(bytes);
  std::string escaped;
  for (char c : img) escaped += c == '/' ? std::string("\\/") : std::string(1, c);
  ASSERT_NE(escaped, img);
  auto r = d.decode(json_response(body_with({escaped})), {ImageFormat::jpeg, 1, false});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->images[0].bytes, bytes);
}

TEST(ResponseTest, InvalidBase64IsAnErrorNotGarbage) {
  ResponseDecoder d;
  auto img = base64::encode(fake_image(ImageFormat::png));
  img[10] = '!';
  auto r = d.decode(json_response(body_with({img})), {ImageFormat::png, 1, false});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(ResponseError::invalid_base64));
}

TEST(ResponseTest, WrongMagicForRequestedFormatFails) {
  ResponseDecoder d;
  auto img = base64::encode(fake_image(ImageFormat::jpeg));
  auto r = d.decode(json_response(body_with({img})), {ImageFormat::webp, 1, false});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(ResponseError::wrong_format));
}

TEST(ResponseTest, BytesOfNoImageFormatFail) {
  ResponseDecoder d;
  std::vector<std::uint8_t> text(100, 'a');
  auto r = d.decode(json_response(body_with({base64::encode(text)})), {ImageFormat::webp, 1, false});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(ResponseError::not_an_image));
}

TEST(ResponseTest, FewerImagesThanVariantsFails) {
  ResponseDecoder d;
  auto img = base64::encode(fake_image(ImageFormat::png));
  auto r = d.decode(json_response(body_with({img})), {ImageFormat::png, 2, false});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(ResponseError::missing_images));
}

TEST(ResponseTest, TruncatedOrNonJsonBodyIsInvalidJson) {
  ResponseDecoder d;
  auto img = base64::encode(fake_image(ImageFormat::png));
  auto full = body_with({img});
  for (const std::string& body : {full.substr(0, full.size() / 2), std::string("<html>502</html>"), std::string()}) {
    auto r = d.decode(json_response(body), {ImageFormat::png, 1, false});
    ASSERT_FALSE(r) << body;
    EXPECT_TRUE(r.error() == make_error_code(ResponseError::invalid_json) ||
                r.error() == make_error_code(ResponseError::missing_images))
        << r.error().message();
  }
}

TEST(ResponseTest, BinaryModeNamesFileByActualBytes) {
  ResponseDecoder d;
  HttpResponse r;
  r.status = 200;
  r.headers = {{"content-type", "image/png"}};
  auto png = fake_image(ImageFormat::png);
  r.body.assign(png.begin(), png.end());
  auto out = d.decode(r, {ImageFormat::webp, 1, true});  // asked webp, got png: tolerated
  ASSERT_TRUE(out) << out.error().message();
  EXPECT_EQ(out->images[0].format, ImageFormat::png);
  EXPECT_TRUE(out->server_id.empty());
  EXPECT_FALSE(out->timing);
}

TEST(ResponseTest, ContentViolationHeaderMarksPlaceholder) {
  ResponseDecoder d;
  auto img = base64::encode(fake_image(ImageFormat::png));  // placeholder PNG though webp was asked
  auto r = d.decode(json_response(body_with({img}), {{"x-venice-is-content-violation", "true"}}),
                    {ImageFormat::webp, 1, false});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r->content_violation);
}

TEST(ApiErrorTest, StandardErrorMessage) {
  auto e = parse_api_error(R"({"error": "Authentication failed"})");
  EXPECT_EQ(e.message, "Authentication failed");
  EXPECT_EQ(e.body_json, R"({"error":"Authentication failed"})");
  EXPECT_FALSE(e.failure_lock);
}

TEST(ApiErrorTest, DetailedErrorListsIssues) {
  auto e = parse_api_error(
      R"({"error":"Invalid request","details":{"_errors":[],"width":{"_errors":["Number must be less than or equal to 1280"]}},)"
      R"("issues":[{"code":"too_big","path":["width"],"message":"Number must be less than or equal to 1280"}]})");
  EXPECT_NE(e.message.find("width: Number must be less than or equal to 1280"), std::string::npos) << e.message;
}

TEST(ApiErrorTest, DetailsAsPlainString) {
  auto e = parse_api_error(R"({"error":"Invalid request","details":"prompt is required"})");
  EXPECT_EQ(e.message, "Invalid request");
}

TEST(ApiErrorTest, FailureLockInCustomMessageAnywhere) {
  EXPECT_TRUE(parse_api_error(R"({"error":"Too many failed attempts. Try again in 30 seconds"})").failure_lock);
  EXPECT_TRUE(parse_api_error(R"({"error":"Rate limited","customMessage":"Too many failed attempts"})").failure_lock);
  EXPECT_TRUE(parse_api_error(R"({"error":{"customMessage":"Too many failed attempts, locked"}})").failure_lock);
  EXPECT_FALSE(parse_api_error(R"({"error":"Rate limit exceeded"})").failure_lock);
}

TEST(ApiErrorTest, NonJsonBodyIsKeptAsText) {
  auto e = parse_api_error("<html>502 Bad Gateway</html>");
  EXPECT_TRUE(e.body_json.empty());
  EXPECT_EQ(e.body_text, "<html>502 Bad Gateway</html>");
}

TEST(ApiErrorTest, PayloadTooLargeCode) {
  auto e = parse_api_error(R"({"code":"PAYLOAD_TOO_LARGE"})");
  EXPECT_EQ(e.message, "PAYLOAD_TOO_LARGE");
}
