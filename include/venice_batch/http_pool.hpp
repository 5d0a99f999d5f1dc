// The HTTP client pool: persistent HTTP/1.1 keep-alive connections over TLS
// (Beast + OpenSSL), at most one request per connection at a time, reused
// across jobs and transparently replaced when the server closes one. Its
// bookkeeping (which connection, how many, when to resend) is ConnectionSlots
// (pool_state.hpp); this is the I/O. Every step (resolve, connect, TLS
// handshake, write, read) has a deadline; a failure is a value
// (HttpExchange::error), never an exception or a hang. Interim 1xx answers are
// skipped; gzip and br bodies are decoded as they arrive (decompress.hpp).
// Single-threaded: use it from coroutines on one io_context thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "venice_batch/config.hpp"
#include "venice_batch/endpoint.hpp"
#include "venice_batch/http_response.hpp"
#include "venice_batch/transport_error.hpp"

namespace venice_batch {

/// The pool's knobs. Their defaults are config/default.json's, through pool_settings_from():
/// a default-constructed one has no deadlines worth using.
struct HttpPoolSettings {
  std::chrono::milliseconds connect_timeout{}, tls_timeout{};
  std::chrono::milliseconds request_timeout{};  ///< write + wait + download
  std::uint64_t max_body_bytes = 0;
  std::size_t max_connections = 1;              ///< size cap of the pool (the run: concurrency + 1)
  std::string ca_file;                          ///< extra trusted CA; system store always used
  std::string user_agent;
  bool compressed_responses = false;            ///< send Accept-Encoding: gzip, br (answers in them are decoded anyway)
};

/// The pool's settings from the run's config; `user_agent_suffix` is appended to "venice-batch/<version>".
HttpPoolSettings pool_settings_from(const Config& config, std::string_view user_agent_suffix = "");

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
  ExchangeStep failed_at = ExchangeStep::resolve;  ///< where it failed, when error != none
  bool request_sent = false;             ///< the request reached the wire (it may have been billed)
  unsigned stale_reconnects = 0;         ///< written on an idle connection the server had closed, sent again
  std::uint64_t connection = 0;          ///< the serial number of the connection it ended on (0: none)
  /// With PostOptions::hold_connection, a connection the answer left reusable is held here, out
  /// of the pool, until HttpClientPool::release (or the exchange's end: then parked). On the io thread.
  std::shared_ptr<void> held_connection;
  std::uint64_t bytes_out = 0, bytes_in = 0;
  /// The response body as it came (compressed or not) and once decoded from its Content-Encoding
  /// (as far as it got, when it failed): RunMetrics' bytes_wire and bytes_decoded.
  std::uint64_t body_wire_bytes = 0, body_decoded_bytes = 0;
};

class HttpClientPool {
 public:
  /// Throws std::runtime_error if the CA file cannot be loaded or the base URL is invalid.
  HttpClientPool(boost::asio::any_io_executor executor, HttpEndpoint endpoint, HttpPoolSettings settings);
  ~HttpClientPool();
  HttpClientPool(const HttpClientPool&) = delete;
  HttpClientPool& operator=(const HttpClientPool&) = delete;

  /// Asked before a request that was fully written on a connection the server had closed is sent
  /// again on a fresh one (it may have reached the API, so the resend may be a second charge).
  /// False: not sent again; the exchange ends with the lost connection.
  using MayResend = std::function<bool()>;

  /// POSTs `body` (JSON) to path_prefix + `path` with the given Authorization header value.
  struct PostOptions {
    MayResend may_resend;
    /// On a connection opened for it, never a parked one (a try whose answer was another
    /// request's goes again where no earlier answer can be waiting).
    bool fresh_connection = false;
    /// Keep the connection out of the pool until the caller has checked the answer
    /// (HttpExchange::held_connection): no other request can be written on it before it could be
    /// closed (HttpClientPool::release).
    bool hold_connection = false;
  };
  boost::asio::awaitable<HttpExchange> post(std::string path, std::string body, std::string authorization,
                                            PostOptions options);
  boost::asio::awaitable<HttpExchange> post(std::string path, std::string body, std::string authorization,
                                            MayResend may_resend = {}) {
    return post(std::move(path), std::move(body), std::move(authorization), PostOptions{std::move(may_resend)});
  }
  /// Ends `ex`'s hold on its connection (PostOptions::hold_connection): parked for the next
  /// request, or, when not `reusable` (an answer on it was another request's, so what follows on
  /// it is out of step), closed and never used again. Nothing when no connection is held.
  void release(HttpExchange& ex, bool reusable);
  /// GETs path_prefix + `path` (with its query) with the given Authorization header value.
  boost::asio::awaitable<HttpExchange> get(std::string path, std::string authorization);

  /// Gives back a finished exchange's body buffer (the answer is decoded and its images written):
  /// the next answer of known length is read into it, without allocating, faulting in and zeroing
  /// half a megabyte per image. Keeps as many as the pool has connections; the rest are freed.
  void recycle_body(std::string&& body);

  /// Aborts every exchange in flight (they complete with TransportError::cancelled) and closes idle connections.
  void cancel_all();

  std::uint64_t connections_opened() const;
  /// Connections found not quiet before a request was written on them, closed unused: parked
  /// ones on which something arrived while idle (a close, stray bytes), and new ones on which data
  /// came with or right after the handshake.
  std::uint64_t idle_connections_dropped() const;
  const HttpEndpoint& endpoint() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace venice_batch
