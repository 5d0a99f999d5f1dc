// The emulator seen by a plain synchronous HTTP client over verified TLS, shared by the
// emulator's own tests (test_mock_*.cpp): one request per fresh connection, the status, headers
// and body back; and the decoders that check what it compressed (zlib, libbrotli).
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <brotli/decode.h>
#include <zlib.h>

#include "test_support.hpp"
#include "venice_batch/mock_server.hpp"

namespace mock_test {

namespace net = boost::asio;
namespace ssl = net::ssl;
namespace beast = boost::beast;
namespace http = beast::http;

inline constexpr const char* kKey = "emu-key";
inline const std::string kBearer = std::string("Bearer ") + kKey;

struct Answer {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  ///< lower-case names
  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

/// One extra request header (Accept-Encoding, ...).
using Headers = std::map<std::string, std::string>;

struct Emulator {
  explicit Emulator(venice_batch::MockOptions o = {}) {
    o.api_key = kKey;
    o.cert_dir = dir.path();
    server = std::make_unique<venice_batch::MockServer>(o);
    server->start();
  }
  explicit Emulator(venice_batch::MockFaults faults, unsigned threads = 1)
      : Emulator([&] {
          venice_batch::MockOptions o;
          o.faults = std::move(faults);
          o.threads = threads;
          return o;
        }()) {}

  // One request on a fresh, verified TLS connection.
  Answer exchange(http::verb verb, const std::string& target, std::optional<std::string> auth,
                  const std::string& body = {}, const Headers& extra = {}) const {
    net::io_context io;
    ssl::context tls(ssl::context::tls_client);
    tls.load_verify_file(server->ca_file().string());
    beast::ssl_stream<beast::tcp_stream> stream(io, tls);
    stream.set_verify_mode(ssl::verify_peer);
    stream.set_verify_callback(ssl::host_name_verification("127.0.0.1"));
    beast::get_lowest_layer(stream).connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), server->port()));
    stream.handshake(ssl::stream_base::client);
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (auth) req.set(http::field::authorization, *auth);
    for (const auto& [name, value] : extra) req.set(name, value);
    if (!body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
    }
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    http::read(stream, buffer, parser);
    beast::error_code ignored;
    stream.shutdown(ignored);
    Answer a{static_cast<int>(parser.get().result_int()), parser.get().body(), {}};
    for (const auto& field : parser.get()) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      a.headers[name] = std::string(field.value());
    }
    return a;
  }
  Answer get(const std::string& target, const Headers& extra = {}) const {
    return exchange(http::verb::get, target, kBearer, {}, extra);
  }
  Answer rate_limits(std::optional<std::string> auth = kBearer) const {
    return exchange(http::verb::get, "/api/v1/api_keys/rate_limits", std::move(auth));
  }
  Answer generate(const std::string& body, const Headers& extra = {}) const {
    return exchange(http::verb::post, "/api/v1/image/generate", kBearer, body, extra);
  }

  test_support::TempDir dir;
  std::unique_ptr<venice_batch::MockServer> server;
};

/// A gzip body decoded, or nullopt if zlib refuses it (corrupt, cut, or a bad checksum).
inline std::optional<std::string> gunzip(const std::string& in) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) return std::nullopt;
  std::string out;
  char chunk[65536];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof chunk;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(chunk, sizeof chunk - z.avail_out);
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;  // the input ended before the stream did
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END || z.avail_in != 0) return std::nullopt;
  return out;
}

/// A brotli body decoded, or nullopt if libbrotli refuses it (corrupt or cut).
inline std::optional<std::string> unbrotli(const std::string& in) {
  auto* s = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
  std::string out;
  std::size_t avail_in = in.size();
  const auto* next_in = reinterpret_cast<const std::uint8_t*>(in.data());
  BrotliDecoderResult rc = BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT;
  while (rc == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT) {
    std::uint8_t chunk[65536];
    std::size_t avail_out = sizeof chunk;
    std::uint8_t* next_out = chunk;
    rc = BrotliDecoderDecompressStream(s, &avail_in, &next_in, &avail_out, &next_out, nullptr);
    out.append(reinterpret_cast<const char*>(chunk), sizeof chunk - avail_out);
  }
  BrotliDecoderDestroyInstance(s);
  if (rc != BROTLI_DECODER_RESULT_SUCCESS || avail_in != 0) return std::nullopt;
  return out;
}

}  // namespace mock_test
