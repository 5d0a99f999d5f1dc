#include "venice_batch/http_pool.hpp"

#include <list>
#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace venice_batch {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// Boost 1.81 has no default as_tuple token: define it once.
constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
constexpr std::size_t kJsonPadding = 64;  // simdjson::SIMDJSON_PADDING, without its header here

std::int64_t micros_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t).count();
}

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

// The peer closed or reset the connection: on an idle keep-alive connection this is the
// server having timed it out, and the request can go again on a fresh one.
bool is_connection_lost(const boost::system::error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset ||
         ec == net::error::broken_pipe || ec == ssl::error::stream_truncated || ec == net::error::connection_aborted;
}

bool is_certificate_error(const boost::system::error_code& ec) {
  if (ec.category() != net::error::get_ssl_category()) return false;
  return ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_CERTIFICATE_VERIFY_FAILED;
}

}  // namespace

std::string_view to_string(TransportError e) {
  switch (e) {
    case TransportError::none: return "none";
    case TransportError::resolve_failed: return "resolve_failed";
    case TransportError::connect_failed: return "connect_failed";
    case TransportError::tls_failed: return "tls_failed";
    case TransportError::certificate_rejected: return "certificate_rejected";
    case TransportError::timeout: return "timeout";
    case TransportError::connection_lost: return "connection_lost";
    case TransportError::body_truncated: return "body_truncated";
    case TransportError::body_too_large: return "body_too_large";
    case TransportError::protocol_error: return "protocol_error";
    case TransportError::cancelled: return "cancelled";
  }
  return "unknown";
}

HttpPoolSettings pool_settings_from(const Config& c, std::string_view user_agent_suffix) {
  HttpPoolSettings s;
  s.connect_timeout = c.connect_timeout;
  s.tls_timeout = c.tls_timeout;
  s.request_timeout = c.request_timeout;
  s.max_body_bytes = c.max_response_bytes;
  s.ca_file = c.ca_file;
  s.user_agent = std::string("venice-batch/") + VENICE_BATCH_VERSION + std::string(user_agent_suffix);
  return s;
}

HttpEndpoint HttpEndpoint::from_base_url(std::string_view base_url) {
  auto url = boost::urls::parse_absolute_uri(base_url);
  if (!url) throw std::invalid_argument("base URL '" + std::string(base_url) + "' is not an absolute URL");
  if (url->scheme() != "https") throw std::invalid_argument("base URL must use https");
  HttpEndpoint ep;
  ep.host = url->encoded_host_address().decode();
  if (ep.host.empty()) throw std::invalid_argument("base URL has no host");
  if (url->has_port()) ep.port = std::string(url->port());
  ep.path_prefix = std::string(url->encoded_path());
  while (!ep.path_prefix.empty() && ep.path_prefix.back() == '/') ep.path_prefix.pop_back();
  return ep;
}

struct Connection {
  Connection(net::any_io_executor ex, ssl::context& ctx) : stream(ex, ctx) {}
  beast::ssl_stream<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  bool in_use = false;
  bool cancelled = false;
};
using ConnectionList = std::list<Connection>;

struct HttpClientPool::Impl {
  net::any_io_executor executor;
  HttpEndpoint endpoint;
  HttpPoolSettings settings;
  ssl::context tls{ssl::context::tls_client};
  ConnectionList connections;                  // idle and in use; iterators stay valid
  std::optional<tcp::resolver::results_type> resolved;
  std::uint64_t opened = 0;
  std::string host_header;

  Impl(net::any_io_executor ex, HttpEndpoint ep, HttpPoolSettings s)
      : executor(std::move(ex)), endpoint(std::move(ep)), settings(std::move(s)) {
    tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    tls.set_default_verify_paths();
    if (!settings.ca_file.empty()) {
      boost::system::error_code ec;
      tls.load_verify_file(settings.ca_file, ec);
      if (ec) throw std::runtime_error("cannot load CA file '" + settings.ca_file + "': " + ec.message());
    }
    tls.set_verify_mode(ssl::verify_peer);
    host_header = endpoint.host;
    if (endpoint.port != "443") host_header += ":" + endpoint.port;
  }

  void close(ConnectionList::iterator it) {
    boost::system::error_code ignored;
    beast::get_lowest_layer(it->stream).socket().close(ignored);
    connections.erase(it);
  }

  // Opens a new connection: resolve (once, cached), TCP connect, TLS handshake with
  // SNI and host-name verification. Each step has its own deadline.
  net::awaitable<ConnectionList::iterator> open(HttpExchange& ex) {
    auto it = connections.emplace(connections.end(), executor, tls);
    it->in_use = true;
    auto& tcp_stream = beast::get_lowest_layer(it->stream);
    const auto t0 = Clock::now();
    if (!resolved) {
      // Name resolution has a deadline too (the connect timeout): a hung DNS server must not
      // hang the run. The timer's handler shares the resolver, so a late expiry stays harmless.
      auto resolver = std::make_shared<tcp::resolver>(executor);
      net::steady_timer deadline(executor);
      deadline.expires_after(settings.connect_timeout);
      deadline.async_wait([resolver](boost::system::error_code e) {
        if (!e) resolver->cancel();
      });
      auto [ec, results] = co_await resolver->async_resolve(endpoint.host, endpoint.port, use_tuple);
      deadline.cancel();
      if (ec) {
        ex.error = TransportError::resolve_failed;
        ex.error_message = "cannot resolve " + endpoint.host + ": " + ec.message();
        connections.erase(it);
        co_return connections.end();
      }
      resolved = results;
    }
    tcp_stream.expires_after(settings.connect_timeout);
    auto [cec, ep] = co_await tcp_stream.async_connect(*resolved, use_tuple);
    ex.timings.connect_us = micros_since(t0);
    if (cec) {
      ex.error = it->cancelled ? TransportError::cancelled
                 : cec == beast::error::timeout ? TransportError::timeout
                                                : TransportError::connect_failed;
      ex.error_message = "connect to " + endpoint.host + ":" + endpoint.port + ": " + cec.message();
      resolved.reset();  // the address may have changed
      connections.erase(it);
      co_return connections.end();
    }
    tcp_stream.socket().set_option(tcp::no_delay(true));
    ++opened;

    if (!is_ip_literal(endpoint.host)) {
      // SNI: without it, shared front ends answer with the wrong certificate.
      if (!SSL_set_tlsext_host_name(it->stream.native_handle(), endpoint.host.c_str())) {
        ex.error = TransportError::tls_failed;
        ex.error_message = "cannot set TLS server name";
        close(it);
        co_return connections.end();
      }
    }
    it->stream.set_verify_callback(ssl::host_name_verification(endpoint.host));
    const auto t1 = Clock::now();
    tcp_stream.expires_after(settings.tls_timeout);
    auto [hec] = co_await it->stream.async_handshake(ssl::stream_base::client, use_tuple);
    ex.timings.tls_us = micros_since(t1);
    if (hec) {
      if (it->cancelled) ex.error = TransportError::cancelled;
      else if (hec == beast::error::timeout) ex.error = TransportError::timeout;
      else if (is_certificate_error(hec)) ex.error = TransportError::certificate_rejected;
      else ex.error = TransportError::tls_failed;
      ex.error_message = "TLS handshake with " + endpoint.host + ": " + hec.message();
      close(it);
      co_return connections.end();
    }
    co_return it;
  }

  ConnectionList::iterator take_idle() {
    for (auto it = connections.begin(); it != connections.end(); ++it) {
      if (!it->in_use) {
        it->in_use = true;
        return it;
      }
    }
    return connections.end();
  }

  void release(ConnectionList::iterator it, bool keep) {
    if (!keep || it->cancelled) {
      close(it);
      return;
    }
    // A parked connection must not carry the last request's deadline into the next one.
    beast::get_lowest_layer(it->stream).expires_never();
    it->in_use = false;
  }

  enum class Step { done, retry_fresh, failed };

  // One request/response on connection `it`; fills ex.response or ex.error.
  net::awaitable<Step> exchange(ConnectionList::iterator it, const http::request<http::string_body>& req,
                                HttpExchange& ex, bool reused) {
    auto& tcp_stream = beast::get_lowest_layer(it->stream);
    const auto deadline = Clock::now() + settings.request_timeout;
    auto fail = [&](TransportError kind, const boost::system::error_code& ec, std::string_view what) {
      ex.error = it->cancelled ? TransportError::cancelled : (ec == beast::error::timeout ? TransportError::timeout : kind);
      ex.error_message = std::string(what) + ": " + ec.message();
      close(it);
      return Step::failed;
    };

    const auto tw = Clock::now();
    tcp_stream.expires_at(deadline);
    auto [wec, written] = co_await http::async_write(it->stream, req, use_tuple);
    ex.timings.write_us = micros_since(tw);
    if (wec) {
      if (reused && is_connection_lost(wec)) {
        close(it);
        co_return Step::retry_fresh;
      }
      co_return fail(TransportError::connection_lost, wec, "writing request");
    }
    ex.request_sent = true;
    ex.bytes_out += written;

    const auto tr = Clock::now();
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(settings.max_body_bytes);
    tcp_stream.expires_at(deadline);
    auto [hec, header_bytes] = co_await http::async_read_header(it->stream, it->buffer, parser, use_tuple);
    ex.timings.ttfb_us = micros_since(tr);
    if (hec) {
      // An idle keep-alive connection the server had closed still takes our write; only
      // the read fails, before any byte of the answer. Go again on a fresh connection.
      if (reused && is_connection_lost(hec) && header_bytes == 0) {
        close(it);
        co_return Step::retry_fresh;
      }
      if (hec == http::error::body_limit) co_return fail(TransportError::body_too_large, hec, "reading response");
      if (is_connection_lost(hec) || hec.category() != http::make_error_code(http::error::bad_version).category())
        co_return fail(TransportError::connection_lost, hec, "reading response header");
      co_return fail(TransportError::protocol_error, hec, "reading response header");
    }
    ex.bytes_in += header_bytes;

    const auto td = Clock::now();
    std::string body;
    std::size_t used = 0;
    if (auto length = parser.content_length()) {
      if (*length > settings.max_body_bytes) {
        ex.error = TransportError::body_too_large;
        ex.error_message = "response body of " + std::to_string(*length) + " bytes is over max_response_mb";
        close(it);
        co_return Step::failed;
      }
      // Exact size plus simdjson's padding: the JSON is parsed in place, never copied.
      body.resize(static_cast<std::size_t>(*length) + kJsonPadding);
    } else {
      body.resize(64 * 1024);
    }
    bool body_read = false;
    if (auto length = parser.content_length(); length && !parser.chunked() && !parser.is_done()) {
      // Fast path for a known length: the bytes already buffered behind the header, then one
      // read straight into the body from the TLS stream. It skips Beast's body parser and the
      // copy through flat_buffer, which cost about a fifth of the io thread at 600 responses/s.
      const std::size_t n = static_cast<std::size_t>(*length);
      const std::size_t buffered = std::min(n, it->buffer.size());
      net::buffer_copy(net::buffer(body.data(), buffered), it->buffer.data());
      it->buffer.consume(buffered);
      used = buffered;
      if (used < n) {
        tcp_stream.expires_at(deadline);
        auto [rec, got] = co_await net::async_read(it->stream, net::buffer(body.data() + used, n - used), use_tuple);
        used += got;
        ex.bytes_in += got;
        if (rec) co_return fail(TransportError::body_truncated, rec, "reading response body");
      }
      body_read = true;
    }
    while (!body_read && !parser.is_done()) {
      if (used + kJsonPadding >= body.size()) {  // chunked or unknown length: grow
        if (body.size() >= settings.max_body_bytes + kJsonPadding) {
          ex.error = TransportError::body_too_large;
          ex.error_message = "response body is over max_response_mb";
          close(it);
          co_return Step::failed;
        }
        body.resize(body.size() * 2);
      }
      auto& b = parser.get().body();
      b.data = body.data() + used;
      b.size = body.size() - kJsonPadding - used;
      tcp_stream.expires_at(deadline);
      auto [rec, n] = co_await http::async_read(it->stream, it->buffer, parser, use_tuple);
      used = static_cast<std::size_t>(b.data ? (static_cast<char*>(b.data) - body.data()) : used);
      ex.bytes_in += n;
      if (rec == http::error::need_buffer) continue;
      if (rec) {
        if (rec == http::error::partial_message || rec == ssl::error::stream_truncated ||
            is_connection_lost(rec))
          co_return fail(TransportError::body_truncated, rec, "reading response body");
        if (rec == http::error::body_limit) co_return fail(TransportError::body_too_large, rec, "reading response body");
        co_return fail(TransportError::protocol_error, rec, "reading response body");
      }
    }
    ex.timings.download_us = micros_since(td);
    body.resize(used);  // capacity keeps the padding

    HttpResponse response;
    const auto& msg = parser.get();
    response.status = static_cast<int>(msg.result_int());
    response.headers.reserve(16);
    for (const auto& field : msg) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      response.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    response.body = std::move(body);
    const bool keep = msg.keep_alive();
    ex.response = std::move(response);
    release(it, keep);
    co_return Step::done;
  }
};

HttpClientPool::HttpClientPool(net::any_io_executor executor, HttpEndpoint endpoint, HttpPoolSettings settings)
    : impl_(std::make_unique<Impl>(std::move(executor), std::move(endpoint), std::move(settings))) {}

HttpClientPool::~HttpClientPool() {
  if (!impl_) return;
  for (auto& c : impl_->connections) {
    boost::system::error_code ignored;
    beast::get_lowest_layer(c.stream).socket().close(ignored);
  }
}

net::awaitable<HttpExchange> HttpClientPool::post(std::string path, std::string body, std::string authorization) {
  Impl& s = *impl_;
  HttpExchange ex;
  const auto start = Clock::now();

  http::request<http::string_body> req{http::verb::post, s.endpoint.path_prefix + path, 11};
  req.set(http::field::host, s.host_header);
  req.set(http::field::user_agent, s.settings.user_agent);
  req.set(http::field::content_type, "application/json");
  req.set(http::field::accept, "application/json, image/*");
  req.set(http::field::authorization, authorization);
  req.keep_alive(true);
  req.body() = std::move(body);
  req.prepare_payload();

  // At most one transparent replacement per idle connection found dead, and never more
  // than the pool holds: a server closing every connection is a real failure.
  for (unsigned round = 0;; ++round) {
    auto it = s.take_idle();
    const bool reused = it != s.connections.end();
    if (!reused) {
      it = co_await s.open(ex);
      if (it == s.connections.end()) break;
    }
    ex.timings.reused_connection = reused;
    auto step = co_await s.exchange(it, req, ex, reused);
    if (step != Impl::Step::retry_fresh) break;
    ++ex.stale_reconnects;
    ex.request_sent = false;
    if (round > s.connections.size() + 1) {
      ex.error = TransportError::connection_lost;
      ex.error_message = "server closed every connection";
      break;
    }
  }
  ex.timings.total_us = micros_since(start);
  co_return ex;
}

void HttpClientPool::cancel_all() {
  for (auto it = impl_->connections.begin(); it != impl_->connections.end();) {
    if (it->in_use) {
      it->cancelled = true;
      boost::system::error_code ignored;
      beast::get_lowest_layer(it->stream).socket().cancel(ignored);
      beast::get_lowest_layer(it->stream).socket().close(ignored);
      ++it;
    } else {
      auto next = std::next(it);
      impl_->close(it);
      it = next;
    }
  }
}

std::uint64_t HttpClientPool::connections_opened() const { return impl_->opened; }
const HttpEndpoint& HttpClientPool::endpoint() const { return impl_->endpoint; }

}  // namespace venice_batch
