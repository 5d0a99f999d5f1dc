// The HTTP client pool: persistent HTTP/1.1 keep-alive connections over TLS
// (Beast + OpenSSL), at most one request per connection at a time, reused
// across jobs and transparently replaced when the server closes one. Every
// step (resolve, connect, TLS handshake, write, read) has a deadline; a
// failure is a value (HttpExchange::error), never an exception or a hang.
// Single-threaded: use it from coroutines on one io_context thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "venice_batch/config.hpp"
#include "venice_batch/http_response.hpp"

namespace venice_batch {

/// Where requests go, taken from the configured base URL.
struct HttpEndpoint {
  std::string host;         ///< name or IP literal; verified against the certificate
  std::string port = "443";
  std::string path_prefix;  ///< e.g. "/api/v1" (no trailing slash)

  /// Parses "https://host[:port]/prefix" with Boost.URL. Throws std::invalid_argument.
  static HttpEndpoint from_base_url(std::string_view base_url);
};

struct HttpPoolSettings {
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds tls_timeout{10000};
  std::chrono::milliseconds request_timeout{180000};  ///< write + wait + download
  std::uint64_t max_body_bytes = 128ull << 20;
  std::string ca_file;                                ///< extra trusted CA; system store always used
  std::string user_agent;
};

/// The pool's settings from the run's config; `user_agent_suffix` is appended to "venice-batch/<version>".
HttpPoolSettings pool_settings_from(const Config& config, std::string_view user_agent_suffix = "");

/// Why an exchange produced no response. Everything but certificate_rejected is worth retrying.
enum class TransportError {
  none = 0,
  resolve_failed,
  connect_failed,        ///< refused, unreachable
  tls_failed,            ///< handshake failed for a reason other than the certificate
  certificate_rejected,  ///< the server's certificate or host name did not verify
  timeout,               ///< a connect, handshake or request deadline passed
  connection_lost,       ///< reset, or closed before the response was complete
  body_truncated,        ///< fewer body bytes than Content-Length, or a TLS stream cut short
  body_too_large,        ///< over max_body_bytes
  protocol_error,        ///< not parseable HTTP
  cancelled,             ///< cancel_all() was called
};
std::string_view to_string(TransportError e);

/// Client-side phases of one exchange, in microseconds.
struct ExchangeTimings {
  std::int64_t connect_us = 0;    ///< resolve + TCP connect (0 on a reused connection)
  std::int64_t tls_us = 0;        ///< TLS handshake (0 on a reused connection)
  std::int64_t write_us = 0;      ///< request written
  std::int64_t ttfb_us = 0;       ///< from request written to response header read
  std::int64_t download_us = 0;   ///< response body read
  std::int64_t total_us = 0;
  bool reused_connection = false;
};

struct HttpExchange {
  std::optional<HttpResponse> response;  ///< set when a complete response arrived
  TransportError error = TransportError::none;
  std::string error_message;             ///< detail for the user (never contains the key)
  ExchangeTimings timings;
  bool request_sent = false;             ///< the request reached the wire: a retry may be billed twice
  unsigned stale_reconnects = 0;         ///< idle connections found closed and replaced
  std::uint64_t bytes_out = 0, bytes_in = 0;
};

class HttpClientPool {
 public:
  /// Throws std::runtime_error if the CA file cannot be loaded.
  HttpClientPool(boost::asio::any_io_executor executor, HttpEndpoint endpoint, HttpPoolSettings settings);
  ~HttpClientPool();
  HttpClientPool(const HttpClientPool&) = delete;
  HttpClientPool& operator=(const HttpClientPool&) = delete;

  /// POSTs `body` (JSON) to path_prefix + `path` with the given Authorization header value.
  boost::asio::awaitable<HttpExchange> post(std::string path, std::string body, std::string authorization);

  /// Aborts every exchange in flight (they complete with TransportError::cancelled) and closes idle connections.
  void cancel_all();

  std::uint64_t connections_opened() const;
  const HttpEndpoint& endpoint() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace venice_batch
