// Strict base64. Written by hand rather than taken from OpenSSL (EVP_DecodeBlock accepts
// whitespace, ignores bad padding and is ~1 GB/s) because the decoder is the hot kernel of
// response decoding and must reject anything but canonical padded base64.
//
// Two paths with identical results:
//  - scalar: four 256-entry tables map each of the 4 characters of a quad straight to its bits
//    in the 3 output bytes; an invalid character sets bit 24, so one compare checks a quad;
//  - AVX2 (chosen at run time): 32 characters per step. Each byte's high and low nibble index
//    two 16-byte tables (pshufb) whose AND is non-zero exactly for bytes outside the alphabet;
//    a third table indexed by the high nibble gives the offset that turns ASCII into the 6-bit
//    value ('/' shares its nibble with '+', so it is patched by a compare); then
//    maddubs/madd pack four 6-bit values into 24 bits and a shuffle + permute drop the gaps.
//    A block with any invalid byte is handed to the scalar path, which finds and names the error.
#include "venice_batch/base64.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define VENICE_BASE64_X86 1
#endif

namespace venice_batch::base64 {
namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::uint32_t kBad = 0x01FFFFFF;

struct Tables {
  std::array<std::uint32_t, 256> d0{}, d1{}, d2{}, d3{};
  std::array<std::int8_t, 256> value{};
  constexpr Tables() {
    for (int i = 0; i < 256; ++i) {
      d0[i] = d1[i] = d2[i] = d3[i] = kBad;
      value[i] = -1;
    }
    for (std::uint32_t v = 0; v < 64; ++v) {
      const auto c = static_cast<unsigned char>(kAlphabet[v]);
      value[c] = static_cast<std::int8_t>(v);
      d0[c] = v << 2;
      d1[c] = (v >> 4) | ((v & 0x0f) << 12);
      d2[c] = ((v >> 2) << 8) | ((v & 0x03) << 22);
      d3[c] = v << 16;
    }
  }
};
constexpr Tables kTables{};

class DecodeErrorCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "base64"; }
  std::string message(int ev) const override {
    switch (static_cast<DecodeError>(ev)) {
      case DecodeError::bad_length: return "base64 length is not a multiple of 4";
      case DecodeError::bad_character: return "byte outside the base64 alphabet";
      case DecodeError::bad_padding: return "misplaced base64 padding";
      case DecodeError::non_canonical_bits: return "non-zero bits before base64 padding";
    }
    return "base64 error";
  }
};

// Decodes whole quads without padding from `in` (n a multiple of 4). Returns the number of
// characters consumed; stops at the first quad holding an invalid character (or '=').
std::size_t decode_quads_scalar(const unsigned char* in, std::size_t n, std::uint8_t* out) noexcept {
  const auto& t = kTables;
  std::size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const std::uint32_t x = t.d0[in[i]] | t.d1[in[i + 1]] | t.d2[in[i + 2]] | t.d3[in[i + 3]];
    if (x >= 0x01000000) break;
    out[0] = static_cast<std::uint8_t>(x);
    out[1] = static_cast<std::uint8_t>(x >> 8);
    out[2] = static_cast<std::uint8_t>(x >> 16);
    out += 3;
  }
  return i;
}

// Classifies the error in quad q (4 chars; the last quad of the input when `last`).
DecodeError classify(const unsigned char* q, bool last) noexcept {
  for (int k = 0; k < 4; ++k) {
    if (q[k] == '=') {
      if (!last || k < 2) return DecodeError::bad_padding;
      if (k == 2 && q[3] != '=') return DecodeError::bad_padding;
      continue;
    }
    if (kTables.value[q[k]] < 0) return DecodeError::bad_character;
    if (k == 3 && q[2] == '=') return DecodeError::bad_padding;
  }
  return DecodeError::bad_padding;
}

// The final quad, which may carry one or two '='. Returns bytes written or an error.
boost::system::result<std::size_t> decode_last_quad(const unsigned char* q, std::uint8_t* out) noexcept {
  const auto& v = kTables.value;
  if (q[2] == '=' && q[3] == '=') {
    if (v[q[0]] < 0 || v[q[1]] < 0) return make_error_code(classify(q, true));
    if (v[q[1]] & 0x0f) return make_error_code(DecodeError::non_canonical_bits);
    out[0] = static_cast<std::uint8_t>((v[q[0]] << 2) | (v[q[1]] >> 4));
    return std::size_t{1};
  }
  if (q[3] == '=') {
    if (v[q[0]] < 0 || v[q[1]] < 0 || v[q[2]] < 0) return make_error_code(classify(q, true));
    if (v[q[2]] & 0x03) return make_error_code(DecodeError::non_canonical_bits);
    out[0] = static_cast<std::uint8_t>((v[q[0]] << 2) | (v[q[1]] >> 4));
    out[1] = static_cast<std::uint8_t>(((v[q[1]] & 0x0f) << 4) | (v[q[2]] >> 2));
    return std::size_t{2};
  }
  const std::uint32_t x = kTables.d0[q[0]] | kTables.d1[q[1]] | kTables.d2[q[2]] | kTables.d3[q[3]];
  if (x >= 0x01000000) return make_error_code(classify(q, true));
  out[0] = static_cast<std::uint8_t>(x);
  out[1] = static_cast<std::uint8_t>(x >> 8);
  out[2] = static_cast<std::uint8_t>(x >> 16);
  return std::size_t{3};
}

// The end of a decode: the whole quads before the last were decoded up to `run` (all of them
// when run == n - 4); what stopped them is named, else the last quad with its padding is decoded.
boost::system::result<std::size_t> finish(const unsigned char* in, std::size_t n, std::size_t run,
                                          std::uint8_t* out) noexcept {
  const std::size_t body = n - 4;
  if (run != body) return make_error_code(classify(in + run, false));
  auto last = decode_last_quad(in + body, out + body / 4 * 3);
  if (!last) return last.error();
  return body / 4 * 3 + *last;
}

#ifdef VENICE_BASE64_X86
// Decodes 32-character blocks while at least `reserve` characters stay after the block (so the
// 32-byte store, of which 24 are kept, never passes the end of `out`). Returns characters consumed;
// stops before a block holding any byte outside the alphabet.
__attribute__((target("avx2"))) std::size_t decode_blocks_avx2(const unsigned char* in, std::size_t n,
                                                               std::uint8_t* out) noexcept {
  const __m256i lut_lo = _mm256_setr_epi8(0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x13, 0x1A, 0x1B,
                                          0x1B, 0x1B, 0x1A, 0x15, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
                                          0x13, 0x1A, 0x1B, 0x1B, 0x1B, 0x1A);
  const __m256i lut_hi = _mm256_setr_epi8(0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10, 0x10, 0x10, 0x10,
                                          0x10, 0x10, 0x10, 0x10, 0x10, 0x01, 0x02, 0x04, 0x08, 0x04, 0x08, 0x10, 0x10,
                                          0x10, 0x10, 0x10, 0x10, 0x10, 0x10);
  const __m256i lut_roll = _mm256_setr_epi8(0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 19, 4, -65,
                                            -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m256i mask_2f = _mm256_set1_epi8(0x2f);
  const __m256i pack_pairs = _mm256_set1_epi32(0x01400140);
  const __m256i pack_quads = _mm256_set1_epi32(0x00011000);
  const __m256i squeeze = _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1, 2, 1, 0, 6, 5, 4, 10,
                                           9, 8, 14, 13, 12, -1, -1, -1, -1);
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, -1, -1);
  constexpr std::size_t reserve = 16;
  std::size_t i = 0;
  for (; i + 32 + reserve <= n; i += 32) {
    const __m256i s = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i));
    const __m256i hi_nib = _mm256_and_si256(_mm256_srli_epi32(s, 4), mask_2f);
    const __m256i lo_nib = _mm256_and_si256(s, mask_2f);
    const __m256i lo = _mm256_shuffle_epi8(lut_lo, lo_nib);
    const __m256i hi = _mm256_shuffle_epi8(lut_hi, hi_nib);
    if (!_mm256_testz_si256(lo, hi)) break;
    const __m256i is_slash = _mm256_cmpeq_epi8(s, mask_2f);
    const __m256i roll = _mm256_shuffle_epi8(lut_roll, _mm256_add_epi8(is_slash, hi_nib));
    const __m256i values = _mm256_add_epi8(s, roll);
    const __m256i pairs = _mm256_maddubs_epi16(values, pack_pairs);
    const __m256i quads = _mm256_madd_epi16(pairs, pack_quads);
    const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(quads, squeeze), lanes);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i / 4 * 3), bytes);
  }
  return i;
}

bool cpu_has_avx2() noexcept {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}
#endif

}  // namespace

const boost::system::error_category& decode_error_category() noexcept {
  static const DecodeErrorCategory category;
  return category;
}

boost::system::error_code make_error_code(DecodeError e) noexcept {
  return {static_cast<int>(e), decode_error_category()};
}

boost::system::result<std::size_t> decode_scalar(std::string_view in, std::uint8_t* out) noexcept {
  if (in.size() % 4 != 0) return make_error_code(DecodeError::bad_length);
  if (in.empty()) return std::size_t{0};
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  return finish(p, in.size(), decode_quads_scalar(p, in.size() - 4, out), out);
}

boost::system::result<std::size_t> decode(std::string_view in, std::uint8_t* out) noexcept {
  if (in.size() % 4 != 0) return make_error_code(DecodeError::bad_length);
  if (in.empty()) return std::size_t{0};
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  return finish(p, in.size(), decode_run(in.substr(0, in.size() - 4), out), out);
}

std::size_t decode_run(std::string_view in, std::uint8_t* out) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  const std::size_t whole = in.size() / 4 * 4;
  std::size_t done = 0;
#ifdef VENICE_BASE64_X86
  if (cpu_has_avx2()) done = decode_blocks_avx2(p, whole, out);
#endif
  return done + decode_quads_scalar(p + done, whole - done, out + done / 4 * 3);
}

std::string encode(std::span<const std::uint8_t> in) {
  std::string out((in.size() + 2) / 3 * 4, '\0');
  char* o = out.data();
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const std::uint32_t x = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8) | in[i + 2];
    *o++ = kAlphabet[(x >> 18) & 63];
    *o++ = kAlphabet[(x >> 12) & 63];
    *o++ = kAlphabet[(x >> 6) & 63];
    *o++ = kAlphabet[x & 63];
  }
  if (i + 1 == in.size()) {
    const std::uint32_t x = std::uint32_t{in[i]} << 16;
    *o++ = kAlphabet[(x >> 18) & 63];
    *o++ = kAlphabet[(x >> 12) & 63];
    *o++ = '=';
    *o++ = '=';
  } else if (i + 2 == in.size()) {
    const std::uint32_t x = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8);
    *o++ = kAlphabet[(x >> 18) & 63];
    *o++ = kAlphabet[(x >> 12) & 63];
    *o++ = kAlphabet[(x >> 6) & 63];
    *o++ = '=';
  }
  return out;
}

}  // namespace venice_batch::base64
