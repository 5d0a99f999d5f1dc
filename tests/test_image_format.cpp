#include <gtest/gtest.h>

#include "venice_batch/image_encode.hpp"
#include "venice_batch/image_format.hpp"
#include "venice_batch/tls_cert.hpp"

#include <openssl/pem.h>
#include <openssl/x509v3.h>

using namespace venice_batch;

TEST(ImageFormatTest, NamesExtensionsAndMimeTypes) {
  EXPECT_EQ(parse_image_format("jpeg"), ImageFormat::jpeg);
  EXPECT_FALSE(parse_image_format("jpg"));
  EXPECT_FALSE(parse_image_format("WEBP"));
  EXPECT_EQ(file_extension(ImageFormat::jpeg), "jpg");
  EXPECT_EQ(content_type(ImageFormat::webp), "image/webp");
  EXPECT_EQ(format_from_content_type("Image/PNG; charset=binary"), ImageFormat::png);
  EXPECT_FALSE(format_from_content_type("application/json"));
}

TEST(ImageFormatTest, RealEncodedImagesAreSniffedAndMeasured) {
  for (auto f : {ImageFormat::webp, ImageFormat::png, ImageFormat::jpeg}) {
    for (auto [w, h] : {std::pair{64u, 48u}, std::pair{333u, 17u}, std::pair{1280u, 720u}}) {
      auto bytes = encode_test_image(f, w, h, 1);
      ASSERT_EQ(sniff_image_format(bytes), f) << to_string(f);
      auto size = probe_image_size(bytes);
      ASSERT_TRUE(size) << to_string(f);
      EXPECT_EQ(size->width, w) << to_string(f);
      EXPECT_EQ(size->height, h) << to_string(f);
    }
  }
}

TEST(ImageFormatTest, TextAndTruncatedHeadersAreNotImages) {
  std::vector<std::uint8_t> text = {'{', '"', 'e', 'r', 'r', 'o', 'r', '"', '}', ' ', ' ', ' '};
  EXPECT_FALSE(sniff_image_format(text));
  std::vector<std::uint8_t> riff = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'A', 'V', 'E'};
  EXPECT_FALSE(sniff_image_format(riff));
  auto png = encode_test_image(ImageFormat::png, 10, 10, 0);
  png.resize(12);
  EXPECT_EQ(sniff_image_format(png), ImageFormat::png);
  EXPECT_FALSE(probe_image_size(png));
}

namespace {
std::vector<std::uint8_t> prefix(const std::vector<std::uint8_t>& b, std::size_t n) {
  return {b.begin(), b.begin() + static_cast<long>(n)};
}
}  // namespace

TEST(ImageCheckTest, RealImagesPassWithTheirDimensions) {
  for (auto f : {ImageFormat::webp, ImageFormat::png, ImageFormat::jpeg}) {
    auto check = check_image(encode_test_image(f, 333, 17, 3));
    EXPECT_TRUE(check.ok()) << to_string(f);
    EXPECT_EQ(check.format, f);
    EXPECT_EQ(check.size.width, 333u);
    EXPECT_EQ(check.size.height, 17u);
  }
}

TEST(ImageCheckTest, EveryCutOfARealImageIsRefused) {
  for (auto f : {ImageFormat::webp, ImageFormat::png, ImageFormat::jpeg}) {
    const auto whole = encode_test_image(f, 40, 30, 1);
    for (std::size_t n = 0; n < whole.size(); ++n) {
      auto check = check_image(prefix(whole, n));
      ASSERT_FALSE(check.ok()) << to_string(f) << " cut to " << n << " of " << whole.size() << " bytes";
      if (n >= 32) { EXPECT_EQ(check.defect, ImageDefect::truncated) << to_string(f) << " cut to " << n; }
    }
  }
}

TEST(ImageCheckTest, HalfAWebpIsTruncated) {
  auto webp = encode_test_image(ImageFormat::webp, 512, 512, 0);
  auto check = check_image(prefix(webp, webp.size() / 2));
  EXPECT_EQ(check.format, ImageFormat::webp);
  EXPECT_EQ(check.defect, ImageDefect::truncated);
  EXPECT_FALSE(probe_image_size(prefix(webp, webp.size() / 2)));
}

TEST(ImageCheckTest, ARiffHeaderAroundHtmlIsCorrupt) {
  const std::string fake("RIFF\0\0\0\0WEBP<html><body>502</body></html>", 40);
  std::vector<std::uint8_t> bytes(fake.begin(), fake.end());
  EXPECT_EQ(sniff_image_format(bytes), ImageFormat::webp);  // the magic alone says WebP
  EXPECT_EQ(check_image(bytes).defect, ImageDefect::corrupt);
  // A RIFF size that fits but a first chunk that is no VP8/VP8L/VP8X header.
  const std::string odd("RIFF\x14\0\0\0WEBPJUNK\x08\0\0\0<html></", 28);
  EXPECT_EQ(check_image(std::vector<std::uint8_t>(odd.begin(), odd.end())).defect, ImageDefect::corrupt);
}

TEST(ImageCheckTest, PngWithoutIendIsTruncated) {
  auto png = encode_test_image(ImageFormat::png, 64, 64, 2);
  ASSERT_GT(png.size(), 12u);
  auto without_iend = prefix(png, png.size() - 12);  // IEND is the last 12 bytes
  EXPECT_EQ(check_image(without_iend).defect, ImageDefect::truncated);
  auto zero_width = png;
  zero_width[16] = zero_width[17] = zero_width[18] = zero_width[19] = 0;
  EXPECT_EQ(check_image(zero_width).defect, ImageDefect::corrupt);
}

TEST(ImageCheckTest, APngWithoutPixelsOrWithADamagedChunkIsCorrupt) {
  // IHDR then IEND, every length and CRC right: a 64x64 image with no pixels was kept ok. And a
  // PNG whose IDAT was overwritten in place (lengths intact) passed every length check.
  auto png = encode_test_image(ImageFormat::png, 64, 64, 3);
  ASSERT_EQ(check_image(png).defect, ImageDefect::none);
  std::vector<std::uint8_t> no_pixels(png.begin(), png.begin() + 8 + 25);  // signature, IHDR chunk
  no_pixels.insert(no_pixels.end(), png.end() - 12, png.end());          // IEND
  EXPECT_EQ(check_image(no_pixels).defect, ImageDefect::corrupt);
  auto damaged = png;
  damaged[8 + 25 + 8 + 2] ^= 0x55;  // a byte of the first chunk after IHDR
  EXPECT_EQ(check_image(damaged).defect, ImageDefect::corrupt);
}

TEST(ImageCheckTest, JpegWithoutEoiIsTruncated) {
  auto jpeg = encode_test_image(ImageFormat::jpeg, 64, 64, 2);
  EXPECT_EQ(check_image(prefix(jpeg, jpeg.size() - 2)).defect, ImageDefect::truncated);
  auto padded = jpeg;  // a few bytes of padding after EOI are fine
  padded.insert(padded.end(), 4, 0);
  EXPECT_TRUE(check_image(padded).ok());
  std::vector<std::uint8_t> no_frame = {0xff, 0xd8, 0xff, 0xda, 0x00, 0x02, 0x12, 0x34, 0xff, 0xd9};
  EXPECT_EQ(check_image(no_frame).defect, ImageDefect::corrupt);  // SOS without a SOFn: no dimensions
}

TEST(ImageFormatTest, WebpOfAGenerationSizeIsRealistic) {
  auto bytes = encode_test_image(ImageFormat::webp, 1024, 1024, 0);
  // Real 1024x1024 generations are a few hundred KB; a flat test image would be a few KB.
  EXPECT_GT(bytes.size(), 100u * 1024);
}

TEST(TlsCertTest, CertificateListsDnsNamesAndIpAddresses) {
  auto cert = make_self_signed_cert({"localhost", "127.0.0.1"});
  BIO* bio = BIO_new_mem_buf(cert.cert_pem.data(), static_cast<int>(cert.cert_pem.size()));
  X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(X509_check_host(x, "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(x, "127.0.0.1", 0), 1);
  EXPECT_NE(X509_check_host(x, "example.com", 0, 0, nullptr), 1);
  BIO* kbio = BIO_new_mem_buf(cert.key_pem.data(), static_cast<int>(cert.key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(kbio, nullptr, nullptr, nullptr);
  BIO_free(kbio);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(X509_check_private_key(x, key), 1);
  EVP_PKEY_free(key);
  X509_free(x);
}
