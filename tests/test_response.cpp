#include <gtest/gtest.h>

#include "venice_batch/base64.hpp"
#include "venice_batch/image_encode.hpp"
#include "venice_batch/response.hpp"
#include "venice_batch/text.hpp"

using namespace venice_batch;

namespace {

// A real image (the emulator's encoder), small: every check of the container passes.
std::vector<std::uint8_t> fake_image(ImageFormat f, std::uint32_t seed = 0) {
  return encode_test_image(f, 24, 16, seed);
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
  auto bytes = encode_test_image(ImageFormat::jpeg, 200, 100, 2);
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

TEST(ResponseTest, AnImageInAnotherFormatThanAskedIsKeptAsItsBytesAre) {
  // Paid for: VENICE_API.md says the bytes decide. The sink names the file by them.
  ResponseDecoder d;
  auto jpeg = fake_image(ImageFormat::jpeg);
  auto r = d.decode(json_response(body_with({base64::encode(jpeg)})), {ImageFormat::webp, 1, false});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->images[0].format, ImageFormat::jpeg);
  EXPECT_EQ(r->images[0].bytes, jpeg);
  EXPECT_EQ(r->images[0].size.width, 24u);
  EXPECT_EQ(r->images[0].size.height, 16u);
}

TEST(ResponseTest, TruncatedAndFakeImagesAreRetryableDecodeErrors) {
  ResponseDecoder d;
  auto webp = fake_image(ImageFormat::webp);
  std::vector<std::uint8_t> half(webp.begin(), webp.begin() + static_cast<long>(webp.size() / 2));
  auto r = d.decode(json_response(body_with({base64::encode(half)})), {ImageFormat::webp, 1, false});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(ResponseError::truncated_image));
  EXPECT_EQ(to_string(ResponseError::truncated_image), "truncated_image");

  const std::string fake("RIFF\0\0\0\0WEBP<html>", 18);
  const std::vector<std::uint8_t> fake_bytes(fake.begin(), fake.end());
  r = d.decode(json_response(body_with({base64::encode(fake_bytes)})), {ImageFormat::webp, 1, false});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(ResponseError::corrupt_image));

  HttpResponse binary;  // the same checks in binary mode
  binary.status = 200;
  binary.body.assign(half.begin(), half.end());
  r = d.decode(binary, {ImageFormat::webp, 1, true});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), make_error_code(ResponseError::truncated_image));
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

// A violation answer without its placeholders (no images, an empty list, a binary body that is no
// image) was retried as a broken answer, flagged as maybe paid twice, and left retryable for every
// rerun: the header is the verdict, and asking again gets the same one.
TEST(ResponseTest, AContentViolationIsOneWithoutItsPlaceholdersToo) {
  ResponseDecoder d;
  const std::vector<std::pair<std::string, std::string>> violation{{"x-venice-is-content-violation", "true"}};
  for (const std::string& body : {std::string(R"({"id":"g","images":[]})"), std::string(R"({"id":"g"})"),
                                 std::string(R"({"id":"g","images":[],"request":null})")}) {
    auto r = d.decode(json_response(body, violation), {ImageFormat::webp, 1, false});
    ASSERT_TRUE(r) << body << ": " << r.error().message();
    EXPECT_TRUE(r->content_violation) << body;
    auto plain = d.decode(json_response(body), {ImageFormat::webp, 1, false});
    ASSERT_FALSE(plain) << "without the header it is an answer missing its images";
    EXPECT_EQ(plain.error(), make_error_code(ResponseError::missing_images));
  }
  auto binary = d.decode(json_response("", violation), {ImageFormat::webp, 1, true});
  ASSERT_TRUE(binary) << binary.error().message();
  EXPECT_TRUE(binary->content_violation);
  EXPECT_FALSE(d.decode(json_response(""), {ImageFormat::webp, 1, true})) << "an empty body is no image";
  auto garbled = d.decode(json_response(R"({"images":[)", violation), {ImageFormat::webp, 1, false});
  EXPECT_FALSE(garbled) << "a body that is not JSON is still refused";

}

// "TRUE" was not read as true: a blurred image was kept as a dataset image.
TEST(ResponseTest, FlagHeadersAreTrueInAnyCaseAndFalseOtherwise) {
  ResponseDecoder d;
  auto img = base64::encode(fake_image(ImageFormat::webp));
  for (const char* yes : {"true", "TRUE", "True", " true ", "1"}) {
    auto r = d.decode(json_response(body_with({img}), {{"x-venice-is-blurred", yes}, {"x-venice-is-content-violation", yes}}),
                      {ImageFormat::webp, 1, false});
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_TRUE(r->blurred) << yes;
    EXPECT_TRUE(r->content_violation) << yes;
  }
  // Two headers that disagree: flagged (a blurred image kept as a dataset image is the worse mistake).
  auto both = d.decode(json_response(body_with({img}), {{"x-venice-is-blurred", "false"}, {"x-venice-is-blurred", "true"}}),
                       {ImageFormat::webp, 1, false});
  ASSERT_TRUE(both) << both.error().message();
  EXPECT_TRUE(both->blurred);
  for (const char* no : {"false", "0", "", "truex", "yes"}) {
    auto r = d.decode(json_response(body_with({img}), {{"x-venice-is-blurred", no}}), {ImageFormat::webp, 1, false});
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_FALSE(r->blurred) << no;
  }
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

TEST(ApiErrorTest, AHugeErrorIsCappedAndSaysItWasCut) {
  const std::string huge(5'000'000, 'x');
  auto e = parse_api_error(R"({"error":")" + huge + R"("})");
  EXPECT_TRUE(e.body_json.empty());  // cut JSON is no JSON: its start is kept as text
  EXPECT_EQ(e.body_text.size(), kApiBodyKeptBytes);
  EXPECT_TRUE(e.body_text.starts_with(R"({"error":"xxx)"));
  EXPECT_TRUE(e.body_truncated);
  EXPECT_LT(e.message.size(), kApiMessageKeptBytes + 40);
  EXPECT_TRUE(e.message.ends_with("\u2026 (4998976 bytes cut)")) << e.message.substr(kApiMessageKeptBytes);

  auto text = parse_api_error(std::string(100'000, '<'));
  EXPECT_EQ(text.body_text.size(), kApiBodyKeptBytes);
  EXPECT_TRUE(text.body_truncated);
  EXPECT_FALSE(parse_api_error(R"({"error":"short"})").body_truncated);
}

TEST(ApiErrorTest, TextBodiesAreValidUtf8CutAtACharacterBoundary) {
  auto bad = parse_api_error("<html>caf\xe9 \xff\xfe</html>");  // Latin-1, not UTF-8
  EXPECT_TRUE(is_valid_utf8(bad.body_text));
  EXPECT_TRUE(is_valid_utf8(bad.message));
  EXPECT_EQ(bad.body_text, "<html>caf\uFFFD \uFFFD\uFFFD</html>");

  std::string checks;
  while (checks.size() < kApiBodyKeptBytes + 10) checks += "\u2713";  // 3 bytes each: 8192 is no boundary
  auto cut = parse_api_error(checks);
  EXPECT_TRUE(is_valid_utf8(cut.body_text));
  EXPECT_EQ(cut.body_text.size(), kApiBodyKeptBytes / 3 * 3);
  EXPECT_TRUE(is_valid_utf8(cut.message));
}

TEST(ApiErrorTest, PayloadTooLargeCode) {
  auto e = parse_api_error(R"({"code":"PAYLOAD_TOO_LARGE"})");
  EXPECT_EQ(e.message, "PAYLOAD_TOO_LARGE");
}

namespace {

// Decodes `body` with long strings skimmed out (threshold 4, so these small documents have some)
// and as one whole document: both ways must agree on the outcome, the error and the bytes.
void expect_same_both_ways(const std::string& body, const ExpectedImages& expected, std::size_t threshold = 4) {
  ResponseDecoder skimming, whole;
  skimming.set_skim_threshold(threshold);
  whole.set_skim_threshold(SIZE_MAX);
  auto a = skimming.decode(json_response(body), expected);
  auto b = whole.decode(json_response(body), expected);
  ASSERT_EQ(a.has_value(), b.has_value()) << body.substr(0, 200);
  if (!a) {
    EXPECT_EQ(a.error(), b.error()) << a.error().message() << " vs " << b.error().message() << ": " << body.substr(0, 200);
    return;
  }
  EXPECT_EQ(a->server_id, b->server_id);
  ASSERT_EQ(a->images.size(), b->images.size());
  for (std::size_t i = 0; i < a->images.size(); ++i) EXPECT_EQ(a->images[i].bytes, b->images[i].bytes);
}

}  // namespace

// Found by a hostile test: On-Demand checks only what it reads, so an answer whose "request" (or
// a field this version does not know, or what follows the root object) was not JSON passed, and
// the job was recorded ok from a document no JSON parser accepts. Every one must be refused, by
// every threshold, and the same answers with those parts well formed still decode.
TEST(ResponseTest, AnAnswerThatIsNotJsonAnywhereIsRefusedEvenWhereNothingIsRead) {
  const auto png = base64::encode(fake_image(ImageFormat::png));
  const std::string long_text(300, 'A');  // skimmed out at the default threshold
  const std::string head = R"({"id":"g","images":[")" + png + R"("])";
  const std::vector<std::string> broken = {
      head + R"(,"request":{"a":nul}})",
      head + R"(,"request":{"a":01}})",
      head + R"(,"request":{"a":1.e5}})",
      head + R"(,"request":{"a":18446744073709551616.}})",   // too big for simdjson, and not JSON either
      head + R"(,"request":{"a":-123456789012345678901234567890e}})",
      head + R"(,"request":{"a":00000000000000000000001}})",
      head + R"(,"request":{"a":1 "b":2}})",
      head + R"(,"request":{"a" 1}})",
      head + R"(,"request":{"model":"x",}})",
      head + R"(,"request":[1:2]})",
      head + R"(,"request":{1,2}})",
      head + R"(,"request":-})",
      head + R"(,"request":{"a":[1,2}]}})",
      head + R"(,"request":{"p":"a\qb"}})",
      head + R"(,"request":{"\q":1}})",
      head + R"(,"request":{"p":")" + long_text + R"(\q"}})",
      head + R"(,"newer":")" + long_text + R"(\uZZZZ"})",
      head + R"(,"z":[")" + long_text + R"(""")" + long_text + R"("]})",
      head + R"(,"timing":{"total":tru}})",
      head + R"(,"timing":{"total":1,}})",
      head + R"(,"timing":{"total":1e999.5}})",
      head + "}}",
      head + R"(}{"a":1})",
      R"({"id":"g","images":[")" + png + R"("],"images":[")" + png + R"("]})",  // which is meant?
      head + R"(,"request":)" + std::string(100, '[') + std::string(100, ']') + "}",  // deeper than read
  };
  for (const auto& body : broken) {
    for (std::size_t threshold : {std::size_t{4}, ResponseDecoder::kDefaultSkimBytes, SIZE_MAX}) {
      ResponseDecoder d;
      d.set_skim_threshold(threshold);
      auto r = d.decode(json_response(body), {ImageFormat::png, 1, false});
      ASSERT_FALSE(r) << "accepted: " << body.substr(head.size()) << " (threshold " << threshold << ")";
      EXPECT_EQ(r.error(), make_error_code(ResponseError::invalid_json)) << body.substr(head.size());
    }
  }
  const std::vector<std::string> fine = {
      head + R"(,"request":{"a":null,"b":[1,2.5e3,-0,true,false,"x\n\u00e9"],"c":{},"d":[]}})",
      head + R"(,"request":{"p":")" + long_text + R"(\/\n"},"timing":null})",
      head + R"(,"timing":{"total":860,"note":"n/a","x":null,"y":[1]}}   )",
      head + R"(,"request":)" + std::string(20, '[') + std::string(20, ']') + "}",
      // Numbers simdjson cannot hold are still JSON: an answer is not refused (and paid for
      // again) for a big integer or an out-of-range exponent in a field it does not use.
      head + R"(,"request":{"seed":18446744073709551616,"a":-123456789012345678901234567890,"b":1e999,)"
             R"("c":-1E-999 ,"d":[1e400, 2]},"newer":99999999999999999999999})",
      head + R"(,"timing":{"total":1e999,"inferenceDuration":123456789012345678901234567890}})",
  };
  for (const auto& body : fine) {
    for (std::size_t threshold : {std::size_t{4}, ResponseDecoder::kDefaultSkimBytes, SIZE_MAX}) {
      ResponseDecoder d;
      d.set_skim_threshold(threshold);
      auto r = d.decode(json_response(body), {ImageFormat::png, 1, false});
      EXPECT_TRUE(r) << r.error().message() << ": " << body.substr(head.size()) << " (threshold " << threshold << ")";
    }
  }
}

TEST(ResponseTest, SkimmingTheBase64OutBeforeParsingDecodesExactlyAsTheWholeDocument) {
  const auto png = base64::encode(fake_image(ImageFormat::png));
  const auto webp = base64::encode(fake_image(ImageFormat::webp, 7));
  std::string escaped = png;  // "\/" for each '/': skimmed too, its escapes read where it is decoded
  for (std::size_t at = escaped.find('/'); at != std::string::npos; at = escaped.find('/', at + 2)) escaped.insert(at, "\\");
  std::vector<std::string> bodies = {
      body_with({png}),
      body_with({png, webp}),
      body_with({escaped}),
      R"({"request":{"prompt":"a long prompt, \"quoted\" \\ and plain text after it","x":["]}"]},"images":[")" + png + R"("],"id":"g"})",
      R"({"id":"a \"tricky\" id \\","images":[")" + png + R"("]})",
      R"({"images":[")" + png + R"(",   ")" + webp + R"("  ] , "id" : "spaced" })",
      R"({"images":[")" + png + R"("],"note":")" + std::string("caf\xC3\xA9 ok") + R"("})",
      R"({"images":[")" + png + R"("],"note":")" + std::string("bad \xFF\xFE utf-8") + R"("})",  // invalid UTF-8 elsewhere
      R"({"images":[")" + png + "\xFF" + R"("]})",                 // a byte no base64 has
      R"({"images":[")" + png + R"("],"note":"an escape \q JSON has not"})",  // never read: as On-Demand, not checked
      R"({"images":[")" + escaped + R"(\q"]})",                   // an image's bad escape
      R"({"id":"\u00e9t\u00e9 \ud83d\ude00","images":[")" + png + R"("]})",  // a long id's escapes
      R"({"images":[")" + png + R"("],"extra":"unterminated)",     // a string that never ends
      R"({"images":[")" + png + R"(" "x"]})",                      // missing comma
      R"({"images":[")" + png + R"("]} trailing)",
      R"({"images":{"a":")" + png + R"("}})",                      // not an array
      R"({"images":[")" + png + R"("],"images":[")" + webp + R"("]})",
      R"({")" + png + R"(":1,"images":[")" + webp + R"("]})",      // a long key
      R"(["images",")" + png + R"("])",
      // Found by the differential fuzzer: stage 1's checks of a skimmed string come first.
      R"({"error":"Too many failed att)" + std::string("\0\0\0\0empts", 9) + R"(","message":"m"})",
      R"({"id":"g","images":["iVBORw0KGgo="l":)" "\xb8" R"(1}tal"":{"toal":1}}})",
  };
  // The skim decodes a long string while it finds its end: every way base64 can end (no padding,
  // "=", "=="), and every way it can stop being base64 before its quote.
  for (std::size_t extra = 0; extra < 3; ++extra) {
    auto bytes = fake_image(ImageFormat::png);
    bytes.insert(bytes.end(), extra, 0);
    const std::string padded = base64::encode(bytes);
    std::string loose_bits = padded;  // the unused bits before the padding not zero
    if (const auto pad = loose_bits.find('='); pad != std::string::npos) loose_bits[pad - 1] = '/';
    for (const std::string& text : {padded, padded + "AAAA", padded.substr(0, padded.size() - 1), loose_bits,
                                    padded.substr(0, padded.size() - 4) + "A=A=", padded + "=", "AAAA" + padded})
      bodies.push_back(body_with({text}));
    bodies.push_back(R"({")" + padded + R"(" : 1, "images":[")" + png + R"("]})");  // base64 as a key
  }
  for (const auto& body : bodies) {
    expect_same_both_ways(body, {ImageFormat::png, 1, false});
    expect_same_both_ways(body, {ImageFormat::png, 2, false});
    for (std::size_t threshold : {0, 1}) expect_same_both_ways(body, {ImageFormat::png, 1, false}, threshold);
    for (std::size_t cut : {body.size() / 3, body.size() / 2, body.size() - 1}) expect_same_both_ways(body.substr(0, cut), {ImageFormat::png, 1, false});
  }
  // The default threshold skims a real answer's image, and the result is the same.
  ResponseDecoder d;
  auto r = d.decode(json_response(body_with({png})), {ImageFormat::png, 1, false});
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->images[0].bytes, fake_image(ImageFormat::png));
  // Two images of 100 KB: the first is decoded into room for the whole rest of the answer and
  // kept at its size, the second keeps its room; both exactly their bytes.
  std::vector<std::vector<std::uint8_t>> big;
  for (std::uint32_t seed : {1u, 2u}) {
    big.push_back(fake_image(ImageFormat::png, seed));
    big.back().resize(big.back().size() + 100 * 1024, static_cast<std::uint8_t>(seed));
  }
  auto two = d.decode(json_response(body_with({base64::encode(big[0]), base64::encode(big[1])})), {ImageFormat::png, 2, false});
  ASSERT_TRUE(two) << two.error().message();
  ASSERT_EQ(two->images.size(), 2u);
  EXPECT_EQ(two->images[0].bytes, big[0]);
  EXPECT_EQ(two->images[1].bytes, big[1]);
  for (std::size_t extra = 0; extra < 3; ++extra) {  // and ones whose base64 ends in padding
    auto bytes = fake_image(ImageFormat::png);
    bytes.insert(bytes.end(), extra, 0);
    auto padded = d.decode(json_response(body_with({base64::encode(bytes)})), {ImageFormat::png, 1, false});
    ASSERT_TRUE(padded) << padded.error().message();
    EXPECT_EQ(padded->images[0].bytes, bytes);
  }
}

TEST(ResponseTest, TheEchoedPromptIsReadWhateverItsLengthEscapesOrPlace) {
  // request.data.prompt is what an answer says it was made for: a long one (skimmed out before
  // simdjson), one with escapes, before or after the images; none when request is null or has no
  // data; and the echo's JSON is checked like the rest of the answer.
  auto img = base64::encode(fake_image(ImageFormat::webp));
  const std::string long_prompt(700, 'p');
  for (const bool skim : {true, false}) {
    ResponseDecoder d;
    if (!skim) d.set_skim_threshold(SIZE_MAX);
    auto decode = [&](const std::string& body) { return d.decode(json_response(body), {ImageFormat::webp, 1, false}); };
    auto r = decode(R"({"request":{"success":true,"data":{"seed":1,"model":"venice-sd35","prompt":")" + long_prompt +
                    R"("}},"images":[")" + img + R"("]})");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->echoed_prompt, long_prompt) << skim;
    EXPECT_EQ(r->echoed_seed, 1) << skim;
    EXPECT_EQ(r->echoed_model, "venice-sd35") << skim;
    r = decode(R"({"images":[")" + img + R"("],"request":{"data":{"prompt":"a \"cat\"\n\u00e9"}}})");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->echoed_prompt, "a \"cat\"\n\xc3\xa9") << skim;
    EXPECT_FALSE(r->echoed_seed);
    EXPECT_FALSE(r->echoed_model);
    // A seed is an integer: anything else is checked as JSON and not taken for one.
    for (const char* seed : {"-999999999", "0"}) {
      r = decode(R"({"images":[")" + img + R"("],"request":{"data":{"seed":)" + seed + R"(,"prompt":"x"}}})");
      ASSERT_TRUE(r) << seed;
      EXPECT_EQ(r->echoed_seed, std::stoll(seed));
    }
    for (const char* seed : {"1.5", "\"12\"", "null", "18446744073709551616", "1e3"}) {
      r = decode(R"({"images":[")" + img + R"("],"request":{"data":{"seed":)" + std::string(seed) + R"(,"prompt":"x"}}})");
      ASSERT_TRUE(r) << seed;
      EXPECT_FALSE(r->echoed_seed) << seed;
      EXPECT_EQ(r->echoed_prompt, "x") << seed;
    }
    EXPECT_FALSE(decode(R"({"images":[")" + img + R"("],"request":{"data":{"seed":01,"prompt":"x"}}})"));
    r = decode(body_with({img}));
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->echoed_prompt);
    r = decode(R"({"images":[")" + img + R"("],"request":{"success":false,"data":{"prompt":1}}})");
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->echoed_prompt);
    EXPECT_FALSE(decode(R"({"images":[")" + img + R"("],"request":{"data":{"prompt":"x","bad":nul}}})"));
    EXPECT_FALSE(decode(R"({"images":[")" + img + R"("],"request":{"data":{"prompt":"x"} "y":1}})"));
  }
}
