// Encoders for the tests and the benchmark of compressed answers (test_decompress.cpp,
// test_compressed_nginx.cpp, bench/bench_decompress.cpp): zlib's gzip and libbrotli's encoder, the
// same libraries a server uses, so the client's decoder is checked against streams it did not
// write itself. No gtest here: a codec failure throws.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include <brotli/encode.h>
#include <zlib.h>

namespace compression_test {

/// `in` as one gzip member (RFC 1952).
inline std::string gzip(std::string_view in, int level = 6) {
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw std::runtime_error("deflateInit2");
  std::string out(deflateBound(&z, static_cast<uLong>(in.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int done = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (done != Z_STREAM_END) throw std::runtime_error("deflate");
  return out;
}

/// `in` as one brotli stream (RFC 7932).
inline std::string brotli(std::string_view in, int quality = 5) {
  std::size_t size = BrotliEncoderMaxCompressedSize(in.size());
  std::string out(size, '\0');
  if (!BrotliEncoderCompress(quality, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_TEXT, in.size(),
                             reinterpret_cast<const std::uint8_t*>(in.data()), &size,
                             reinterpret_cast<std::uint8_t*>(out.data())))
    throw std::runtime_error("BrotliEncoderCompress");
  out.resize(size);
  return out;
}

}  // namespace compression_test
