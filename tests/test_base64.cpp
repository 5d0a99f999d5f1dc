#include <gtest/gtest.h>

#include <random>

#include "venice_batch/base64.hpp"

using namespace venice_batch;
using base64::DecodeError;

namespace {

using Decoder = boost::system::result<std::size_t> (*)(std::string_view, std::uint8_t*) noexcept;
const Decoder kDecoders[] = {&base64::decode, &base64::decode_scalar};

std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> b(n);
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  return b;
}

boost::system::result<std::vector<std::uint8_t>> decode_with(Decoder d, std::string_view s) {
  std::vector<std::uint8_t> out(base64::max_decoded_size(s.size()) + 1, 0xEE);
  auto n = d(s, out.data());
  if (!n) return n.error();
  EXPECT_EQ(out.back(), 0xEE) << "wrote past max_decoded_size";
  out.resize(*n);
  return out;
}

std::string str(const std::vector<std::uint8_t>& v) { return {v.begin(), v.end()}; }

}  // namespace

TEST(Base64Test, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},         {"f", "Zg=="},       {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},  {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (auto [plain, encoded] : vectors) {
    std::string p(plain);
    EXPECT_EQ(base64::encode({reinterpret_cast<const std::uint8_t*>(p.data()), p.size()}), encoded);
    for (auto d : kDecoders) {
      auto r = decode_with(d, encoded);
      ASSERT_TRUE(r) << encoded;
      EXPECT_EQ(str(*r), p);
    }
  }
}

TEST(Base64Test, RoundTripsEveryLengthUpTo300AndLargeOddSizes) {
  std::vector<std::size_t> sizes;
  for (std::size_t n = 0; n <= 300; ++n) sizes.push_back(n);
  for (std::size_t n : {1u << 20, (1u << 20) + 1, (1u << 20) + 2, 358'401u}) sizes.push_back(n);
  for (std::size_t n : sizes) {
    auto bytes = random_bytes(n, static_cast<std::uint32_t>(n));
    auto text = base64::encode(bytes);
    for (auto d : kDecoders) {
      auto r = decode_with(d, text);
      ASSERT_TRUE(r) << "size " << n;
      ASSERT_EQ(*r, bytes) << "size " << n;
    }
  }
}

TEST(Base64Test, EveryByteOutsideTheAlphabetIsRejectedAtEveryPosition) {
  const std::string valid = base64::encode(random_bytes(300, 7));  // 400 chars: SIMD blocks and a tail
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int c = 0; c < 256; ++c) {
    if (alphabet.find(static_cast<char>(c)) != std::string::npos || c == '=') continue;
    for (std::size_t pos : {0u, 5u, 31u, 32u, 63u, 100u, 250u, 390u, 397u}) {
      std::string s = valid;
      s[pos] = static_cast<char>(c);
      for (auto d : kDecoders) {
        auto r = decode_with(d, s);
        ASSERT_FALSE(r) << "byte " << c << " at " << pos;
        EXPECT_EQ(r.error(), base64::make_error_code(DecodeError::bad_character)) << "byte " << c << " at " << pos;
      }
    }
  }
}

TEST(Base64Test, RejectsWhitespaceAndUrlSafeAlphabet) {
  for (std::string s : {"Zm9v\nYmFy", "Zm9v YmFy", "Zm9v\rYmFy", "Zm-vYmFy", "Zm_vYmFy"}) {
    if (s.size() % 4 != 0) {
      EXPECT_EQ(base64::decode(s, nullptr).error(), base64::make_error_code(DecodeError::bad_length)) << s;
      continue;
    }
    std::vector<std::uint8_t> out(16);
    EXPECT_EQ(base64::decode(s, out.data()).error(), base64::make_error_code(DecodeError::bad_character)) << s;
  }
}

TEST(Base64Test, RejectsLengthNotMultipleOfFour) {
  for (std::string s : {"Z", "Zm", "Zm9", "Zm9vY", "Zm9vYg=", "Zm9vYg==="}) {
    std::vector<std::uint8_t> out(16);
    for (auto d : kDecoders) EXPECT_EQ(d(s, out.data()).error(), base64::make_error_code(DecodeError::bad_length)) << s;
  }
}

TEST(Base64Test, RejectsMisplacedPadding) {
  const std::string long_valid = base64::encode(random_bytes(120, 3));
  std::vector<std::string> cases = {"====", "Z===", "=Zm9", "Zm=v", "Zm9vY=Fy", "Zg==Zm9v", "Zm==Zm9vYmFy"};
  std::string mid = long_valid;
  mid[64] = '=';
  cases.push_back(mid);
  for (const auto& s : cases) {
    for (auto d : kDecoders) {
      auto r = decode_with(d, s);
      ASSERT_FALSE(r) << s;
      EXPECT_EQ(r.error(), base64::make_error_code(DecodeError::bad_padding)) << s;
    }
  }
}

TEST(Base64Test, RejectsNonCanonicalBitsBeforePadding) {
  for (std::string s : {"Zh==", "Zm9=", "Zm+=", "AB=="}) {
    for (auto d : kDecoders) {
      auto r = decode_with(d, s);
      ASSERT_FALSE(r) << s;
      EXPECT_EQ(r.error(), base64::make_error_code(DecodeError::non_canonical_bits)) << s;
    }
  }
}

TEST(Base64Test, SimdAndScalarAgreeOnRandomCorruptions) {
  std::mt19937 rng(42);
  for (int round = 0; round < 2000; ++round) {
    auto text = base64::encode(random_bytes(rng() % 2000, rng()));
    const int edits = static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !text.empty(); ++e) text[rng() % text.size()] = static_cast<char>(rng());
    std::vector<std::uint8_t> a(base64::max_decoded_size(text.size()) + 8), b(a.size());
    auto ra = base64::decode(text, a.data());
    auto rb = base64::decode_scalar(text, b.data());
    ASSERT_EQ(ra.has_value(), rb.has_value()) << text;
    if (ra) {
      ASSERT_EQ(*ra, *rb);
      a.resize(*ra);
      b.resize(*rb);
      ASSERT_EQ(a, b);
    } else {
      ASSERT_EQ(ra.error(), rb.error()) << text;
    }
  }
}

// decode_run, as the response skim uses it: the text goes on past the base64 (a quote, the rest
// of the JSON), and the run must stop before the first quad holding any byte outside the alphabet
// ('=', '"', '\\' included), with exactly the bytes the strict decoder gives that prefix, on the
// SIMD blocks and the scalar tail alike.
TEST(Base64Test, ARunStopsBeforeTheFirstQuadWithAnyOtherByteAndDecodesWhatCameBefore) {
  const auto data = random_bytes(300, 11);
  const std::string text = base64::encode(data);  // 400 characters, no padding
  ASSERT_EQ(text.size() % 4, 0u);
  std::vector<std::uint8_t> out(base64::max_decoded_size(text.size() + 8));
  const auto whole = base64::decode_run(text + "\"}]}", out.data());
  EXPECT_EQ(whole, text.size());
  EXPECT_TRUE(std::equal(data.begin(), data.end(), out.begin()));
  std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    if (alphabet.find(c) != std::string::npos) continue;
    for (std::size_t pos = 0; pos < text.size(); pos += (pos < 80 || pos > 300 ? 1 : 7)) {
      std::string t = text + "\"";
      t[pos] = c;
      const auto run = base64::decode_run(t, out.data());
      ASSERT_EQ(run, pos / 4 * 4) << "byte " << b << " at " << pos;
      EXPECT_TRUE(std::equal(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(run / 4 * 3), out.begin()))
          << "byte " << b << " at " << pos;
    }
  }
  EXPECT_EQ(base64::decode_run("", out.data()), 0u);
  EXPECT_EQ(base64::decode_run("QUJ", out.data()), 0u) << "no whole quad";
  EXPECT_EQ(base64::decode_run("QUJDRA==", out.data()), 4u) << "a padded quad is not part of a run";
}

TEST(Base64Test, ErrorsHaveReadableMessages) {
  EXPECT_EQ(base64::make_error_code(DecodeError::bad_character).message(), "byte outside the base64 alphabet");
}
