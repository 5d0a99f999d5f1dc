#include "mock_compress.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <stdexcept>

#include <brotli/encode.h>
#include <zlib.h>

namespace venice_batch {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// The q-value of one Accept-Encoding item's parameters ("q=0.5"): 1 when absent or malformed.
double q_value(std::string_view params) {
  while (!params.empty()) {
    const auto semi = params.find(';');
    const auto param = trim(params.substr(0, semi));
    params = semi == std::string_view::npos ? std::string_view{} : params.substr(semi + 1);
    if (param.size() < 2 || std::tolower(static_cast<unsigned char>(param[0])) != 'q' || param[1] != '=') continue;
    const auto value = param.substr(2);
    double q = 1;
    if (std::from_chars(value.data(), value.data() + value.size(), q).ec != std::errc{}) return 1;
    return std::clamp(q, 0.0, 1.0);
  }
  return 1;
}

}  // namespace

std::string_view to_string(MockCoding coding) {
  switch (coding) {
    case MockCoding::gzip: return "gzip";
    case MockCoding::br: return "br";
    case MockCoding::identity: break;
  }
  return "identity";
}

MockCoding choose_coding(std::string_view accept_encoding) {
  std::optional<double> gzip, br, any;
  while (!accept_encoding.empty()) {
    const auto comma = accept_encoding.find(',');
    const auto item = accept_encoding.substr(0, comma);
    accept_encoding = comma == std::string_view::npos ? std::string_view{} : accept_encoding.substr(comma + 1);
    const auto semi = item.find(';');
    const auto name = trim(item.substr(0, semi));
    const double q = semi == std::string_view::npos ? 1 : q_value(item.substr(semi + 1));
    if (iequals(name, "gzip") || iequals(name, "x-gzip")) gzip = std::max(gzip.value_or(0), q);
    if (iequals(name, "br")) br = std::max(br.value_or(0), q);
    if (name == "*") any = q;
  }
  const double q_gzip = gzip.value_or(any.value_or(0)), q_br = br.value_or(any.value_or(0));
  if (q_br > 0 && q_br >= q_gzip) return MockCoding::br;
  if (q_gzip > 0) return MockCoding::gzip;
  return MockCoding::identity;
}

namespace mock {

namespace {

// Level 1: the answers are mostly base64 of compressed images, where more effort gains nothing.
std::string gzip(std::string_view body) {
  z_stream z{};
  if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("gzip: deflateInit2 failed");
  std::string out(deflateBound(&z, body.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
  z.avail_in = static_cast<uInt>(body.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("gzip: deflate failed");
  return out;
}

// Quality 4, a CDN's usual setting for answers compressed on the fly.
std::string brotli(std::string_view body) {
  std::size_t size = BrotliEncoderMaxCompressedSize(body.size());
  std::string out(size ? size : body.size() + 1024, '\0');
  size = out.size();
  if (!BrotliEncoderCompress(4, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_TEXT, body.size(),
                             reinterpret_cast<const std::uint8_t*>(body.data()), &size,
                             reinterpret_cast<std::uint8_t*>(out.data())))
    throw std::runtime_error("br: BrotliEncoderCompress failed");
  out.resize(size);
  return out;
}

}  // namespace

std::string compress(MockCoding coding, std::string_view body) {
  switch (coding) {
    case MockCoding::gzip: return gzip(body);
    case MockCoding::br: return brotli(body);
    case MockCoding::identity: break;
  }
  return std::string(body);
}

void corrupt_compressed(std::string& compressed) {
  if (compressed.empty()) return;
  const auto middle = compressed.size() / 2;
  for (std::size_t k = middle; k < std::min(compressed.size(), middle + 8); ++k) compressed[k] = static_cast<char>(~compressed[k]);
  compressed.back() = static_cast<char>(~compressed.back());
}

void cut_compressed(std::string& compressed) { compressed.resize(compressed.size() / 2); }

std::optional<MockCoding> encode_answer(std::string_view accept_encoding, Response& res, MockFault fault) {
  namespace http = boost::beast::http;
  if (!std::string_view(res[http::field::content_type]).starts_with("application/json")) return std::nullopt;
  res.set(http::field::vary, "Accept-Encoding");
  const bool damage = fault == MockFault::corrupt_compressed || fault == MockFault::cut_compressed;
  auto coding = choose_coding(accept_encoding);
  if (damage && coding == MockCoding::identity) coding = MockCoding::gzip;
  if (coding == MockCoding::identity) return coding;
  res.body() = compress(coding, res.body());
  if (fault == MockFault::corrupt_compressed) corrupt_compressed(res.body());
  if (fault == MockFault::cut_compressed) cut_compressed(res.body());
  res.set(http::field::content_encoding, to_string(coding));
  res.prepare_payload();
  return coding;
}

}  // namespace mock

}  // namespace venice_batch
