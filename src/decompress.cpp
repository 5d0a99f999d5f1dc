#include "venice_batch/decompress.hpp"

#include <algorithm>
#include <cctype>
#include <climits>
#include <new>
#include <stdexcept>

#define ZLIB_CONST  // next_in points to const bytes
#include <brotli/decode.h>
#include <fmt/format.h>
#include <zlib.h>

namespace venice_batch {
namespace {

constexpr std::uint64_t kFirstBuffer = 64 * 1024;
constexpr std::uint64_t kGuessedRatio = 2;  // JSON of base64 images shrinks ~1.3x; small error bodies fit the first 64 KB

bool equals_lower(std::string_view s, std::string_view lower) {
  return std::equal(s.begin(), s.end(), lower.begin(), lower.end(),
                    [](char a, char b) { return static_cast<char>(std::tolower(static_cast<unsigned char>(a))) == b; });
}

class DecompressErrorCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "venice_batch.decompress"; }
  std::string message(int ev) const override {
    switch (static_cast<DecompressError>(ev)) {
      case DecompressError::corrupt: return "the compressed body does not decode";
      case DecompressError::truncated: return "the compressed body was cut short";
      case DecompressError::too_large: return "the decoded body is over max_response_mb";
      case DecompressError::unsupported_coding: return "a Content-Encoding the client cannot decode";
    }
    return "unknown decompression error";
  }
};

}  // namespace

ContentCoding content_coding_of(std::string_view v) {
  const auto first = v.find_first_not_of(" \t");
  v = first == std::string_view::npos ? std::string_view{} : v.substr(first, v.find_last_not_of(" \t") - first + 1);
  if (v.empty() || equals_lower(v, "identity")) return ContentCoding::identity;
  if (equals_lower(v, "gzip") || equals_lower(v, "x-gzip")) return ContentCoding::gzip;
  if (equals_lower(v, "br")) return ContentCoding::br;
  return ContentCoding::unsupported;
}

std::string_view to_string(ContentCoding c) {
  switch (c) {
    case ContentCoding::identity: return "identity";
    case ContentCoding::gzip: return "gzip";
    case ContentCoding::br: return "br";
    case ContentCoding::unsupported: return "unsupported";
  }
  return "?";
}

const boost::system::error_category& decompress_error_category() noexcept {
  static const DecompressErrorCategory category;
  return category;
}

boost::system::error_code make_error_code(DecompressError e) noexcept {
  return {static_cast<int>(e), decompress_error_category()};
}

struct ContentDecoder::Codec {
  z_stream z{};
  bool inflating = false;
  BrotliDecoderState* br = nullptr;
  ~Codec() {
    if (inflating) inflateEnd(&z);
    if (br) BrotliDecoderDestroyInstance(br);
  }
};

ContentDecoder::ContentDecoder(ContentCoding coding, std::uint64_t max_decoded_bytes, std::uint64_t size_hint,
                               std::string buffer)
    : coding_(coding), max_(std::min<std::uint64_t>(max_decoded_bytes, UINT64_MAX - 1)), codec_(std::make_unique<Codec>()),
      out_(std::move(buffer)) {
  if (coding == ContentCoding::gzip) {
    // 15 + 16: the largest window, gzip framing only (a zlib or raw deflate stream is corrupt).
    if (inflateInit2(&codec_->z, 15 + 16) != Z_OK) throw std::bad_alloc();
    codec_->inflating = true;
  } else if (coding == ContentCoding::br) {
    codec_->br = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
    if (!codec_->br) throw std::bad_alloc();
  } else if (coding != ContentCoding::identity) {
    throw std::invalid_argument("ContentDecoder: an unsupported coding cannot be decoded");
  }
  const std::uint64_t ratio = coding == ContentCoding::identity ? 1 : kGuessedRatio;
  const std::uint64_t first = std::max(kFirstBuffer, size_hint <= UINT64_MAX / ratio ? size_hint * ratio : 0);
  out_.resize(std::min(first, max_ + 1) + kParsePadding);
}

ContentDecoder::~ContentDecoder() = default;

// Room for `at_least` more decoded bytes, the buffer doubling up to the cap + 1 byte (the byte
// that proves the cap is passed). False when the cap leaves less room than that.
bool ContentDecoder::make_room(std::uint64_t at_least) {
  if (at_least > max_ + 1 - used_) return false;
  std::uint64_t capacity = out_.size() - kParsePadding;
  if (used_ + at_least <= capacity) return true;
  while (capacity < used_ + at_least) capacity = std::min(capacity * 2, max_ + 1);
  out_.resize(capacity + kParsePadding);
  return true;
}

boost::system::error_code ContentDecoder::fail(DecompressError e, std::string detail) {
  error_ = make_error_code(e);
  detail_ = std::move(detail);
  return error_;
}

boost::system::error_code ContentDecoder::too_large() {
  return fail(DecompressError::too_large, fmt::format("{}: the decoded body is over {} bytes", to_string(coding_), max_));
}

boost::system::error_code ContentDecoder::feed(std::string_view compressed) {
  if (error_ || compressed.empty()) return error_;
  wire_bytes_ += compressed.size();
  switch (coding_) {
    case ContentCoding::gzip: return feed_gzip(compressed);
    case ContentCoding::br: return feed_br(compressed);
    default: return feed_identity(compressed);
  }
}

boost::system::error_code ContentDecoder::feed_identity(std::string_view in) {
  if (in.size() > max_ - used_ || !make_room(in.size())) return too_large();
  std::copy(in.begin(), in.end(), out_.begin() + static_cast<std::ptrdiff_t>(used_));
  used_ += in.size();
  return {};
}

boost::system::error_code ContentDecoder::feed_gzip(std::string_view in) {
  z_stream& z = codec_->z;
  for (;;) {
    if (z.avail_in == 0 && !in.empty()) {  // zlib counts input in 32 bits
      const std::size_t slice = std::min<std::size_t>(in.size(), UINT_MAX);
      z.next_in = reinterpret_cast<const Bytef*>(in.data());
      z.avail_in = static_cast<uInt>(slice);
      in.remove_prefix(slice);
    }
    if (stream_end_) {
      if (z.avail_in == 0) return {};
      inflateReset(&z);  // another gzip member follows (RFC 1952 2.2): decode it after the first
      stream_end_ = false;
    }
    if (!make_room()) return too_large();
    const auto room = static_cast<uInt>(std::min<std::uint64_t>(out_.size() - kParsePadding - used_, UINT_MAX));
    z.next_out = reinterpret_cast<Bytef*>(out_.data() + used_);
    z.avail_out = room;
    const int r = inflate(&z, Z_NO_FLUSH);
    used_ += room - z.avail_out;
    if (used_ > max_) return too_large();
    if (r == Z_STREAM_END) {
      stream_end_ = true;
    } else if (r == Z_OK || r == Z_BUF_ERROR) {
      if (z.avail_in == 0 && in.empty() && z.avail_out != 0) return {};  // wants more input
    } else {
      return fail(DecompressError::corrupt, fmt::format("gzip: {}", z.msg ? z.msg : "invalid data"));
    }
  }
}

boost::system::error_code ContentDecoder::feed_br(std::string_view in) {
  BrotliDecoderState* st = codec_->br;
  const auto* next_in = reinterpret_cast<const std::uint8_t*>(in.data());
  std::size_t avail_in = in.size();
  if (stream_end_) return fail(DecompressError::corrupt, "br: data after the end of the stream");
  for (;;) {
    if (!make_room()) return too_large();
    const std::size_t room = out_.size() - kParsePadding - used_;
    std::size_t avail_out = room;
    auto* next_out = reinterpret_cast<std::uint8_t*>(out_.data() + used_);
    const auto r = BrotliDecoderDecompressStream(st, &avail_in, &next_in, &avail_out, &next_out, nullptr);
    used_ += room - avail_out;
    if (used_ > max_) return too_large();
    switch (r) {
      case BROTLI_DECODER_RESULT_SUCCESS:
        stream_end_ = true;
        if (avail_in != 0) return fail(DecompressError::corrupt, "br: data after the end of the stream");
        return {};
      case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT: return {};
      case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT: continue;
      case BROTLI_DECODER_RESULT_ERROR: break;
    }
    return fail(DecompressError::corrupt,
                fmt::format("br: {}", BrotliDecoderErrorString(BrotliDecoderGetErrorCode(st))));
  }
}

boost::system::error_code ContentDecoder::finish() {
  if (error_ || wire_bytes_ == 0 || stream_end_ || coding_ == ContentCoding::identity) return error_;
  return fail(DecompressError::truncated,
              fmt::format("{}: the body ended before the compressed stream did", to_string(coding_)));
}

std::string ContentDecoder::take_body() {
  out_.resize(used_);  // shrinking keeps the capacity: the padding stays
  if (out_.capacity() < used_ + kParsePadding) out_.reserve(used_ + kParsePadding);
  return std::move(out_);
}

}  // namespace venice_batch
