// The emulator's compressed answers: the coding chosen from Accept-Encoding (q-values, br
// preferred), gzip and br bodies that decode to the identity answer, images never compressed,
// and the damaged compressed bodies a client must treat as a transport failure.
#include <gtest/gtest.h>

#include <simdjson.h>

#include "test_mock_support.hpp"

using namespace venice_batch;
using mock_test::Emulator;
using mock_test::gunzip;
using mock_test::unbrotli;

namespace {

const std::string kJob = R"({"model":"z-image-turbo","prompt":"p","width":64,"height":64,"format":"png"})";
const std::string kModels = "/api/v1/models?type=image";

}  // namespace

TEST(MockCompressionTest, CodingFollowsQValuesAndPrefersBrOnATie) {
  const std::pair<const char*, MockCoding> cases[] = {
      {"", MockCoding::identity},
      {"identity", MockCoding::identity},
      {"gzip", MockCoding::gzip},
      {"x-gzip", MockCoding::gzip},
      {"GZIP", MockCoding::gzip},
      {"br", MockCoding::br},
      {"gzip, br", MockCoding::br},
      {"br, gzip", MockCoding::br},
      {"gzip, deflate, br, zstd", MockCoding::br},
      {"gzip;q=1.0, br;q=0.5", MockCoding::gzip},
      {"gzip; q=0.2, br;q=0.8", MockCoding::br},
      {"br;q=0, gzip", MockCoding::gzip},
      {"br;q=0", MockCoding::identity},
      {"gzip;q=0, br;q=0", MockCoding::identity},
      {"*", MockCoding::br},
      {"*;q=0.5, gzip", MockCoding::gzip},
      {"*;q=0", MockCoding::identity},
      {"deflate, zstd", MockCoding::identity},
      {"gzip;q=abc", MockCoding::gzip},
  };
  for (const auto& [header, coding] : cases) EXPECT_EQ(choose_coding(header), coding) << "'" << header << "'";
}

TEST(MockCompressionTest, GzipAndBrDecodeToTheIdentityAnswer) {
  Emulator emu;
  const auto plain = emu.get(kModels);
  EXPECT_EQ(plain.header("content-encoding"), "");
  EXPECT_EQ(plain.header("vary"), "Accept-Encoding");
  const auto gz = emu.get(kModels, {{"Accept-Encoding", "gzip"}});
  EXPECT_EQ(gz.header("content-encoding"), "gzip");
  EXPECT_EQ(gz.header("vary"), "Accept-Encoding");
  EXPECT_LT(gz.body.size(), plain.body.size() / 3);
  EXPECT_EQ(gunzip(gz.body), plain.body);
  const auto br = emu.get(kModels, {{"Accept-Encoding", "gzip, br"}});
  EXPECT_EQ(br.header("content-encoding"), "br");
  EXPECT_EQ(unbrotli(br.body), plain.body);
  EXPECT_EQ(emu.server->stats().by_coding, (std::map<std::string, std::uint64_t>{{"br", 1}, {"gzip", 1}, {"identity", 1}}));
}

TEST(MockCompressionTest, GenerateJsonAndErrorsAreCompressedButImagesNever) {
  Emulator emu;
  const auto json = emu.generate(kJob, {{"Accept-Encoding", "br"}});
  ASSERT_EQ(json.status, 200);
  EXPECT_EQ(json.header("content-encoding"), "br");
  const auto decoded = unbrotli(json.body);
  ASSERT_TRUE(decoded);
  simdjson::dom::parser parser;
  std::string_view image;
  EXPECT_EQ(parser.parse(*decoded)["images"].at(0).get_string().get(image), simdjson::SUCCESS) << *decoded;
  EXPECT_FALSE(image.empty());
  const auto error = emu.generate(R"({"model":"z-image-turbo","prompt":"p","width":5000})", {{"Accept-Encoding", "gzip"}});
  EXPECT_EQ(error.status, 400);
  EXPECT_EQ(error.header("content-encoding"), "gzip");
  EXPECT_NE(gunzip(error.body).value_or("").find(R"("path":["width"])"), std::string::npos);
  const auto binary = emu.generate(R"({"model":"z-image-turbo","prompt":"p","width":64,"height":64,"format":"png","return_binary":true})",
                                   {{"Accept-Encoding", "gzip, br"}});
  EXPECT_EQ(binary.header("content-type"), "image/png");
  EXPECT_EQ(binary.header("content-encoding"), "") << "images go as they are";
  EXPECT_EQ(binary.header("vary"), "");
  EXPECT_EQ(binary.body.substr(1, 3), "PNG");
}

TEST(MockCompressionTest, DamagedCompressedBodiesAreWellFramedButDoNotDecode) {
  MockFaults f;
  f.schedule = parse_fault_schedule("corrupt_compressed,cut_compressed,corrupt_compressed,cut_compressed,corrupt_compressed");
  Emulator emu(f);
  const auto corrupt_gz = emu.generate(kJob, {{"Accept-Encoding", "gzip"}});
  const auto cut_gz = emu.generate(kJob, {{"Accept-Encoding", "gzip"}});
  const auto corrupt_br = emu.generate(kJob, {{"Accept-Encoding", "br"}});
  const auto cut_br = emu.generate(kJob, {{"Accept-Encoding", "br"}});
  const auto unasked = emu.generate(kJob);
  for (const auto* a : {&corrupt_gz, &cut_gz, &corrupt_br, &cut_br, &unasked}) {
    EXPECT_EQ(a->status, 200);
    EXPECT_EQ(a->header("content-length"), std::to_string(a->body.size())) << "the HTTP framing is intact";
  }
  EXPECT_EQ(corrupt_gz.header("content-encoding"), "gzip");
  EXPECT_FALSE(gunzip(corrupt_gz.body));
  EXPECT_FALSE(gunzip(cut_gz.body));
  EXPECT_EQ(corrupt_br.header("content-encoding"), "br");
  EXPECT_FALSE(unbrotli(corrupt_br.body));
  EXPECT_FALSE(unbrotli(cut_br.body));
  EXPECT_EQ(unasked.header("content-encoding"), "gzip") << "damaged in gzip when no coding was asked";
  EXPECT_FALSE(gunzip(unasked.body));
  EXPECT_EQ(emu.server->stats().faults,
            (std::map<std::string, std::uint64_t>{{"corrupt_compressed", 3}, {"cut_compressed", 2}}));
}
