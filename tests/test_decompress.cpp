// Decoding gzip and br bodies as they arrive (decompress.hpp): exact round trips whatever the
// chunking, cut and corrupt streams as errors the run retries, a zip bomb stopped at the cap,
// and which Content-Encoding values are understood.
#include <gtest/gtest.h>

#include <simdjson.h>

#include "compression_support.hpp"
#include "venice_batch/decompress.hpp"
#include "venice_batch/metrics.hpp"
#include "venice_batch/transport_error.hpp"

using namespace venice_batch;

static_assert(kParsePadding >= simdjson::SIMDJSON_PADDING);

namespace {

using compression_test::brotli;
using compression_test::gzip;

std::string encode(ContentCoding c, std::string_view in) { return c == ContentCoding::gzip ? gzip(in) : brotli(in); }

// A Venice-like answer: JSON around base64 that compresses little, as real images do.
std::string venice_json(std::size_t base64_chars) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string b64(base64_chars, 'A');
  std::uint32_t x = 2463534242u;
  for (auto& ch : b64) {
    x ^= x << 13, x ^= x >> 17, x ^= x << 5;
    ch = alphabet[x % 64];
  }
  return R"({"id":"generate-image-1","images":[")" + b64 +
         R"("],"timing":{"inferenceDuration":1200,"inferencePreprocessingTime":3,"inferenceQueueTime":1,"total":1210}})";
}

struct Decoded {
  boost::system::error_code error;
  std::string body;
  std::uint64_t wire = 0, decoded = 0;
};

// Feeds `wire` in pieces of `piece` bytes (0: all at once), then finishes.
Decoded decode(ContentCoding c, std::string_view wire, std::size_t piece = 0, std::uint64_t cap = 64 << 20) {
  ContentDecoder d(c, cap, wire.size());
  Decoded r;
  for (std::size_t at = 0; at < wire.size() && !r.error;) {
    const std::size_t n = piece ? std::min(piece, wire.size() - at) : wire.size();
    r.error = d.feed(wire.substr(at, n));
    at += n;
  }
  if (!r.error) r.error = d.finish();
  r.wire = d.wire_bytes();
  r.decoded = d.decoded_bytes();
  if (!r.error) r.body = d.take_body();
  return r;
}

class BothCodings : public ::testing::TestWithParam<ContentCoding> {};
INSTANTIATE_TEST_SUITE_P(ContentDecoderTest, BothCodings, ::testing::Values(ContentCoding::gzip, ContentCoding::br),
                         [](const auto& info) { return std::string(to_string(info.param)); });

}  // namespace

TEST(ContentCodingTest, HeaderValuesNameTheirCoding) {
  EXPECT_EQ(content_coding_of("gzip"), ContentCoding::gzip);
  EXPECT_EQ(content_coding_of(" GZip "), ContentCoding::gzip);
  EXPECT_EQ(content_coding_of("x-gzip"), ContentCoding::gzip);
  EXPECT_EQ(content_coding_of("br"), ContentCoding::br);
  EXPECT_EQ(content_coding_of(""), ContentCoding::identity);
  EXPECT_EQ(content_coding_of("identity"), ContentCoding::identity);
  for (const char* v : {"zstd", "compress", "deflate", "gzip, br", "gzip2", "b"})
    EXPECT_EQ(content_coding_of(v), ContentCoding::unsupported) << v;
}

TEST_P(BothCodings, RoundTripGivesTheExactBodyWithParsePadding) {
  const std::string json = venice_json(1 << 20);
  const std::string wire = encode(GetParam(), json);
  const auto r = decode(GetParam(), wire);
  ASSERT_FALSE(r.error) << r.error.message();
  EXPECT_EQ(r.body, json);
  EXPECT_GE(r.body.capacity(), r.body.size() + kParsePadding);
  EXPECT_EQ(r.wire, wire.size());
  EXPECT_EQ(r.decoded, json.size());
  EXPECT_LT(r.wire, r.decoded) << "base64 still shrinks a little";
  // What the response decoder does with it: simdjson parses the buffer in place.
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  ASSERT_EQ(parser.iterate(r.body.data(), r.body.size(), r.body.capacity()).get(doc), simdjson::SUCCESS);
  std::string_view id;
  ASSERT_EQ(doc["id"].get(id), simdjson::SUCCESS);
  EXPECT_EQ(id, "generate-image-1");
}

TEST_P(BothCodings, SmallPiecesDecodeToTheSameBody) {
  const std::string json = venice_json(200'000);
  const std::string wire = encode(GetParam(), json);
  for (std::size_t piece : {1u, 7u, 4096u}) {
    const auto r = decode(GetParam(), wire, piece);
    ASSERT_FALSE(r.error) << "piece " << piece << ": " << r.error.message();
    EXPECT_EQ(r.body, json) << "piece " << piece;
  }
}

TEST_P(BothCodings, CutStreamIsTruncatedAndRetried) {
  const std::string wire = encode(GetParam(), venice_json(50'000));
  for (std::size_t cut : {std::size_t{1}, std::size_t{4}, wire.size() / 2, wire.size() - 1}) {
    const auto r = decode(GetParam(), std::string_view(wire).substr(0, cut));
    EXPECT_EQ(r.error, DecompressError::truncated) << "cut at " << cut << ": " << r.error.message();
    EXPECT_EQ(classify_transport_error(r.error, ExchangeStep::read_body, false), TransportError::body_truncated);
  }
}

TEST_P(BothCodings, GarbageIsCorruptAndRetried) {
  const auto r = decode(GetParam(), "{\"error\":\"this was never compressed\"}\n");
  EXPECT_EQ(r.error, DecompressError::corrupt) << r.error.message();
  EXPECT_EQ(classify_transport_error(r.error, ExchangeStep::read_body, false), TransportError::body_corrupt);
}

TEST_P(BothCodings, BytesAfterTheEndOfTheStreamAreCorrupt) {
  const auto r = decode(GetParam(), encode(GetParam(), venice_json(1000)) + "trailing junk");
  EXPECT_EQ(r.error, DecompressError::corrupt) << r.error.message();
}

TEST_P(BothCodings, BombOverTheCapFailsHavingDecodedAtMostTheCap) {
  const std::uint64_t cap = 1 << 20;
  const std::string wire = encode(GetParam(), std::string(16 << 20, '\0'));  // 16 MB of zeros
  ASSERT_LT(wire.size(), 128u << 10);
  ContentDecoder d(GetParam(), cap, wire.size());
  const auto ec = d.feed(wire);
  EXPECT_EQ(ec, DecompressError::too_large);
  EXPECT_LE(d.decoded_bytes(), cap + 1) << "stopped at the cap, not after inflating the bomb";
  EXPECT_EQ(d.finish(), DecompressError::too_large) << "the error sticks";
  EXPECT_NE(d.detail().find("over 1048576 bytes"), std::string::npos) << d.detail();
  EXPECT_EQ(classify_transport_error(ec, ExchangeStep::read_body, false), TransportError::body_too_large);
}

TEST_P(BothCodings, ABodyExactlyAtTheCapIsAccepted) {
  const std::string json = venice_json(100'000);
  const auto r = decode(GetParam(), encode(GetParam(), json), 1000, json.size());
  ASSERT_FALSE(r.error) << r.error.message();
  EXPECT_EQ(r.body, json);
  EXPECT_EQ(decode(GetParam(), encode(GetParam(), json), 1000, json.size() - 1).error, DecompressError::too_large);
}

TEST_P(BothCodings, EmptyBodyDecodesToAnEmptyPaddedBody) {
  const auto r = decode(GetParam(), "");
  ASSERT_FALSE(r.error) << r.error.message();
  EXPECT_EQ(r.body, "");
  EXPECT_GE(r.body.capacity(), kParsePadding);
}

TEST_P(BothCodings, EmptyContentRoundTrips) {
  const auto r = decode(GetParam(), encode(GetParam(), ""));
  ASSERT_FALSE(r.error) << r.error.message();
  EXPECT_EQ(r.body, "");
}

TEST(ContentDecoderTest, ConcatenatedGzipMembersDecodeToTheirConcatenation) {
  const std::string a = venice_json(3000), b = "{\"second\":true}";
  const std::string wire = gzip(a) + gzip(b, 1);
  for (std::size_t piece : {0u, 5u}) {
    const auto r = decode(ContentCoding::gzip, wire, piece);
    ASSERT_FALSE(r.error) << r.error.message();
    EXPECT_EQ(r.body, a + b);
  }
}

TEST(ContentDecoderTest, GzipWithABadChecksumIsCorrupt) {
  std::string wire = gzip(venice_json(3000));
  wire[wire.size() - 6] ^= 0x55;  // inside the CRC-32 trailer
  const auto r = decode(ContentCoding::gzip, wire);
  EXPECT_EQ(r.error, DecompressError::corrupt);
}

TEST(ContentDecoderTest, ErrorDetailSaysWhatWasWrong) {
  ContentDecoder d(ContentCoding::gzip, 1000);
  EXPECT_EQ(d.feed("not gzip at all"), DecompressError::corrupt);
  EXPECT_EQ(d.detail(), "gzip: incorrect header check");
  EXPECT_EQ(d.error().message(), "the compressed body does not decode");
}

TEST(ContentDecoderTest, IdentityIsACappedCopy) {
  const auto r = decode(ContentCoding::identity, "{\"a\":1}", 3, 7);
  ASSERT_FALSE(r.error);
  EXPECT_EQ(r.body, "{\"a\":1}");
  EXPECT_GE(r.body.capacity(), r.body.size() + kParsePadding);
  EXPECT_EQ(decode(ContentCoding::identity, "{\"a\":1}", 3, 6).error, DecompressError::too_large);
}

TEST(ContentDecoderTest, UnsupportedCodingIsATransportErrorOfItsOwn) {
  EXPECT_THROW(ContentDecoder(ContentCoding::unsupported, 1000), std::invalid_argument);
  EXPECT_EQ(classify_transport_error(DecompressError::unsupported_coding, ExchangeStep::read_body, false),
            TransportError::unsupported_encoding);
  EXPECT_EQ(to_string(TransportError::unsupported_encoding), "unsupported_encoding");
  EXPECT_EQ(to_string(TransportError::body_corrupt), "body_corrupt");
}

TEST(ContentDecoderTest, MetricsShowBodyBytesOnTheWireAndDecoded) {
  RunMetrics m;
  m.counters().bytes_wire = 750'000;
  m.counters().bytes_decoded = 1'000'000;
  EXPECT_NE(m.to_json("").find(R"("bytes_wire":750000,"bytes_decoded":1000000)"), std::string::npos);
  const auto prom = m.to_prometheus();
  EXPECT_NE(prom.find("venice_batch_response_body_bytes_total{form=\"wire\"} 750000\n"), std::string::npos) << prom;
  EXPECT_NE(prom.find("venice_batch_response_body_bytes_total{form=\"decoded\"} 1000000\n"), std::string::npos) << prom;
}
