// Strict, fast standard base64 (RFC 4648 alphabet, '=' padding), the hot kernel
// of response decoding: a 4-variant PNG response is tens of MB of base64.
// Decoding never produces garbage: any input that is not canonical padded base64
// is an error value saying what is wrong with it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace venice_batch::base64 {

enum class DecodeError {
  bad_length = 1,     ///< length is not a multiple of 4
  bad_character,      ///< a byte outside the alphabet (whitespace included)
  bad_padding,        ///< '=' anywhere but the last one or two places, or 3 of them
  non_canonical_bits  ///< the unused low bits before the padding are not zero
};

const boost::system::error_category& decode_error_category() noexcept;
boost::system::error_code make_error_code(DecodeError e) noexcept;

/// The largest number of bytes `decode` can write for an input of `encoded_len` characters.
constexpr std::size_t max_decoded_size(std::size_t encoded_len) noexcept { return encoded_len / 4 * 3; }

/// Decodes `in` into `out`, which must hold max_decoded_size(in.size()) bytes.
/// Returns the number of bytes written, or a DecodeError.
/// Uses a SIMD path where the CPU has one and a portable path otherwise; both give identical results.
boost::system::result<std::size_t> decode(std::string_view in, std::uint8_t* out) noexcept;

/// Decodes the longest run at the start of `in` made of whole quads of alphabet characters (no
/// padding) into `out`, which must hold max_decoded_size(in.size()) bytes, and stops before the
/// first quad holding anything else. Returns the characters consumed (a multiple of 4); the bytes
/// decoded are that / 4 * 3 (a few bytes after them may be overwritten, within `out`'s room). For
/// text whose end is not known yet: what stops the run (a quote, a padded last quad) is the
/// caller's to look at, so the text is read once.
std::size_t decode_run(std::string_view in, std::uint8_t* out) noexcept;

/// The portable scalar decoder alone (same contract), for tests and benchmarks.
boost::system::result<std::size_t> decode_scalar(std::string_view in, std::uint8_t* out) noexcept;

/// Standard padded base64 of `in` (used by the emulator and tests).
std::string encode(std::span<const std::uint8_t> in);

}  // namespace venice_batch::base64

namespace boost::system {
template <>
struct is_error_code_enum<venice_batch::base64::DecodeError> : std::true_type {};
}  // namespace boost::system
