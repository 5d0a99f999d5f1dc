// Decoding a response body from its Content-Encoding (gzip, br or identity) as it arrives, chunk
// by chunk, straight into the padded buffer simdjson parses in place. No I/O: the pool feeds it
// what it reads. The decoded size is capped (a zip bomb fails cleanly, having used at most the cap).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include <boost/system/error_code.hpp>

namespace venice_batch {

/// Bytes kept writable past the end of a body: simdjson::SIMDJSON_PADDING, without its header.
inline constexpr std::size_t kParsePadding = 64;

/// The codings the client asks for (Accept-Encoding: gzip, br) and can decode, plus what a
/// Content-Encoding header may name that it cannot.
enum class ContentCoding : std::uint8_t { identity, gzip, br, unsupported };

/// The coding a Content-Encoding header value names. Case-insensitive, spaces around it
/// ignored: "" and "identity" are identity, "gzip" and "x-gzip" gzip, "br" brotli. Anything
/// else (zstd, deflate, compress, a list of several codings) is unsupported.
ContentCoding content_coding_of(std::string_view header_value);
std::string_view to_string(ContentCoding c);

enum class DecompressError {
  corrupt = 1,           ///< bytes that are not a valid stream of the coding
  truncated,             ///< the body ended before the compressed stream did
  too_large,             ///< the decoded body would exceed the cap
  unsupported_coding,    ///< a Content-Encoding the client cannot decode
};
const boost::system::error_category& decompress_error_category() noexcept;
boost::system::error_code make_error_code(DecompressError e) noexcept;

/// One response body being decoded from its Content-Encoding. feed() the body's bytes in order
/// (any chunking), then finish(); take_body() is the decoded body, its capacity() at least
/// size() + kParsePadding. An error is sticky: every later call returns it. An empty body (no
/// bytes fed) decodes to an empty body; gzip members one after another decode to their
/// concatenation; identity is a plain copy, capped alike.
class ContentDecoder {
 public:
  /// `coding` is identity, gzip or br (std::invalid_argument for unsupported). At most
  /// `max_decoded_bytes` are decoded; `size_hint` (the body's length, if known) sizes the first buffer.
  /// `buffer`, if given, is decoded into: its memory is reused (a finished answer's, HttpClientPool::recycle_body).
  ContentDecoder(ContentCoding coding, std::uint64_t max_decoded_bytes, std::uint64_t size_hint = 0,
                 std::string buffer = {});
  ~ContentDecoder();
  ContentDecoder(const ContentDecoder&) = delete;
  ContentDecoder& operator=(const ContentDecoder&) = delete;

  boost::system::error_code feed(std::string_view compressed);
  /// The body has ended: an unfinished stream is `truncated`.
  boost::system::error_code finish();

  const boost::system::error_code& error() const { return error_; }
  std::uint64_t wire_bytes() const { return wire_bytes_; }  ///< bytes fed
  std::uint64_t decoded_bytes() const { return used_; }
  /// What was wrong, for the user ("gzip: invalid distance too far back"); empty when nothing was.
  const std::string& detail() const { return detail_; }
  /// The decoded body (moved out; call once, after finish()).
  std::string take_body();

 private:
  struct Codec;
  bool make_room(std::uint64_t at_least = 1);
  boost::system::error_code fail(DecompressError e, std::string detail);
  boost::system::error_code too_large();
  boost::system::error_code feed_gzip(std::string_view in);
  boost::system::error_code feed_br(std::string_view in);
  boost::system::error_code feed_identity(std::string_view in);

  ContentCoding coding_;
  std::uint64_t max_;
  std::unique_ptr<Codec> codec_;
  std::string out_;  ///< decoded bytes [0, used_), then room, then kParsePadding bytes
  std::uint64_t used_ = 0, wire_bytes_ = 0;
  bool stream_end_ = false;  ///< the last gzip member or the brotli stream is complete
  boost::system::error_code error_;
  std::string detail_;
};

}  // namespace venice_batch

namespace boost::system {
template <>
struct is_error_code_enum<venice_batch::DecompressError> : std::true_type {};
}  // namespace boost::system
