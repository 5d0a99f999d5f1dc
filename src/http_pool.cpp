#include "venice_batch/http_pool.hpp"

#include <mutex>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "venice_batch/decompress.hpp"
#include "venice_batch/pool_state.hpp"
#include "venice_batch/text.hpp"
#include "venice_batch/tls_stream.hpp"

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
constexpr std::size_t kReadChunk = 64 * 1024;  // a body read through the parser lands here first
constexpr std::uint32_t kMaxHeadBytes = 256 * 1024;  // status line and headers of one answer

std::int64_t micros_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t).count();
}

struct Connection {
  Connection(net::any_io_executor ex, ssl::context& ctx) : stream(std::move(ex), ctx.native_handle()) {}
  TlsStream stream;
  beast::flat_buffer buffer;
  std::string chunk;  // kReadChunk bytes, once a body has been read through the parser
  bool cancelled = false;
  std::uint64_t serial = 0; // unique in the pool's life (slot ids are reused): HttpExchange::connection
  void close() { stream.close(); }
};

using Request = http::request<http::string_body>;
using Parser = http::response_parser<http::buffer_body>;

// The status and headers of an answer (names in lower case), without its body.
HttpResponse response_head(const http::response<http::buffer_body>& msg) {
  HttpResponse response;
  response.status = static_cast<int>(msg.result_int());
  response.headers.reserve(16);
  for (const auto& field : msg) {
    std::string name(field.name_string());
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    response.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  return response;
}

}  // namespace

HttpPoolSettings pool_settings_from(const Config& c, std::string_view user_agent_suffix) {
  HttpPoolSettings s;
  s.connect_timeout = c.connect_timeout;
  s.tls_timeout = c.tls_timeout;
  s.request_timeout = c.request_timeout;
  s.max_body_bytes = c.max_response_bytes;
  s.max_connections = c.concurrency + 1;  // + the start-up check's connection, parked
  s.ca_file = c.ca_file;
  s.user_agent = fmt::format("venice-batch/{}{}", VENICE_BATCH_VERSION, user_agent_suffix);
  s.compressed_responses = c.compressed_responses;
  return s;
}

struct HttpClientPool::Impl {
  std::uint64_t dropped_idle = 0;  // connections found not quiet before a request: idle_connections_dropped()
  net::any_io_executor executor;
  HttpEndpoint endpoint;
  HttpPoolSettings settings;
  ssl::context tls{ssl::context::tls_client};
  ConnectionSlots slots;
  std::unordered_map<std::size_t, std::unique_ptr<Connection>> connections;  // by slot id
  net::steady_timer slot_freed;  // waiters for a slot; cancelled on every release
  std::optional<tcp::resolver::results_type> resolved;
  std::mutex spare_mutex;                 // recycle_body may be called off the io thread
  std::vector<std::string> spare_bodies;  // buffers of finished answers, reused (recycle_body)

  std::string take_spare_body() {
    std::lock_guard lock(spare_mutex);
    if (spare_bodies.empty()) return {};
    std::string spare = std::move(spare_bodies.back());
    spare_bodies.pop_back();
    return spare;
  }

  Impl(net::any_io_executor ex, HttpEndpoint ep, HttpPoolSettings s)
      : executor(ex), endpoint(std::move(ep)), settings(std::move(s)), slots(settings.max_connections), slot_freed(ex) {
    tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    tls.set_default_verify_paths();
    if (!settings.ca_file.empty()) {
      boost::system::error_code ec;
      tls.load_verify_file(settings.ca_file, ec);
      if (ec) throw std::runtime_error(fmt::format("cannot load CA file '{}': {}", settings.ca_file, ec.message()));
    }
    tls.set_verify_mode(ssl::verify_peer);
    // TLS 1.3: AES-128-GCM first, as browsers and curl order it (OpenSSL's default puts AES-256
    // first). A server that lets the client choose then decrypts at 2.5 GB/s instead of 2.2 on
    // this VM (`openssl speed -evp`, 16 KB records): the answers are half a megabyte each.
    SSL_CTX_set_ciphersuites(tls.native_handle(),
                             "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
    slot_freed.expires_at(Clock::time_point::max());  // never expires: release() cancels the waits
  }

  bool fail(HttpExchange& ex, const boost::system::error_code& ec, ExchangeStep step, Connection* c,
            std::string_view what) {
    return fail_saying(ex, ec, step, c,
                       what.starts_with(to_string(step)) ? fmt::format("{}: {}", what, ec.message())
                                               : fmt::format("{} ({}): {}", what, to_string(step), ec.message()));
  }
  bool fail_decoding(HttpExchange& ex, const ContentDecoder& decoder, Connection& c) {
    // The framing may be intact, but the rest of the body was not read: the connection goes.
    return fail_saying(ex, decoder.error(), ExchangeStep::read_body, &c,
                       fmt::format("{} ({})", decoder.error().message(), decoder.detail()));
  }
  bool fail_saying(HttpExchange& ex, const boost::system::error_code& ec, ExchangeStep step, Connection* c,
                   std::string message) {
    ex.error = classify_transport_error(ec, step, c && c->cancelled);
    ex.failed_at = step;
    if (ex.error == TransportError::certificate_rejected && c && c->stream.native_handle()) {
      // Why: expired, another host's, an unknown issuer... ("certificate verify failed" says none of it).
      const long verdict = SSL_get_verify_result(c->stream.native_handle());
      if (verdict != X509_V_OK) message += fmt::format(" ({})", X509_verify_cert_error_string(verdict));
    }
    ex.error_message = std::move(message);
    if (c) c->close();
    return false;
  }

  net::awaitable<bool> resolve(HttpExchange& ex) {
    if (resolved) co_return true;
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
    if (ec) co_return fail(ex, ec, ExchangeStep::resolve, nullptr, fmt::format("cannot resolve {}", endpoint.host));
    resolved = results;
    co_return true;
  }

  // A new connection: resolve (once, cached), TCP connect, TLS handshake with SNI and
  // host-name verification. Each step has its own deadline.
  net::awaitable<bool> open(Connection& c, HttpExchange& ex) {
    const auto t0 = Clock::now();
    if (!co_await resolve(ex)) co_return false;
    c.stream.expires_after(settings.connect_timeout);
    boost::system::error_code cec = net::error::host_not_found;
    for (const auto& entry : *resolved) {  // each address in turn, within the one deadline
      boost::system::error_code ignored;
      c.stream.socket().close(ignored);
      auto [ec] = co_await c.stream.socket().async_connect(entry.endpoint(), use_tuple);
      cec = c.stream.translate(ec);
      // Done, out of time, or cancelled (cancel_all closed the socket: the next address would
      // open a socket nobody cancels, and send the request after the run was told to stop).
      if (!cec || cec == beast::error::timeout || cec == net::error::operation_aborted || c.cancelled) break;
    }
    ex.timings.connect_us = micros_since(t0);
    if (cec) {
      resolved.reset();  // the address may have changed
      co_return fail(ex, cec, ExchangeStep::connect, &c, fmt::format("connect to {}:{}", endpoint.host, endpoint.port));
    }
    if (c.cancelled) co_return fail(ex, net::error::operation_aborted, ExchangeStep::connect, &c, "connecting");
    boost::system::error_code ignored;
    c.stream.socket().set_option(tcp::no_delay(true), ignored);  // an odd socket only loses an optimisation
    // SNI, and the name (or address) the certificate must carry.
    if (!c.stream.set_host(endpoint.host))
      co_return fail(ex, net::error::invalid_argument, ExchangeStep::tls_handshake, &c, "cannot set TLS server name");
    const auto t1 = Clock::now();
    c.stream.expires_after(settings.tls_timeout);
    auto [hec] = co_await c.stream.async_handshake(use_tuple);
    ex.timings.tls_us = micros_since(t1);
    if (hec) co_return fail(ex, hec, ExchangeStep::tls_handshake, &c, fmt::format("TLS handshake with {}", endpoint.host));
    co_return true;
  }

  // open() for the slot's new connection, which must be quiet once open. Data already there
  // before any request (sent with the handshake's last flight, or in the time it took; or part of
  // a record, which may be data) is no request's answer: had the request been written, it would
  // have been taken as its own. Such a connection is closed unused and another opened in its
  // place; after three the try fails with nothing sent. (Data a server sends unasked a round trip
  // after the handshake crosses the request and cannot be told from its answer here.)
  net::awaitable<bool> open_quiet(std::size_t slot, HttpExchange& ex) {
    for (unsigned tries = 1;; ++tries) {
      Connection& c = *connections.at(slot);
      if (!co_await open(c, ex)) co_return false;
      if (c.stream.quiet()) co_return true;
      c.close();
      ++dropped_idle;
      if (tries == 3) {
        ex.error = TransportError::protocol_error;
        ex.failed_at = ExchangeStep::tls_handshake;
        ex.error_message = fmt::format("{} sent data before any request was written, on 3 new connections in a row "
                                       "(answers to no request of ours): nothing was sent on them",
                                       endpoint.host);
        co_return false;
      }
      connections[slot] = std::make_unique<Connection>(executor, tls);
      connections[slot]->serial = next_serial++;
    }
  }

  // Reads one final response header, skipping interim 1xx answers (RFC 9110 15.2: a 103 Early
  // Hints before the 200 must not be taken for the answer). `answer_bytes` counts what came back.
  net::awaitable<bool> read_final_header(Connection& c, std::optional<Parser>& parser, HttpExchange& ex,
                                         Clock::time_point deadline, std::size_t& answer_bytes) {
    // A server does not send more than a few (100, 103): an endless stream of them is not an answer.
    constexpr int kMaxInterim = 16;
    for (int interim = 0;; ++interim) {
      if (interim > kMaxInterim)
        co_return fail_saying(ex, http::error::bad_status, ExchangeStep::read_header, &c,
                              fmt::format("reading the response ({}): more than {} interim (1xx) answers",
                                          to_string(ExchangeStep::read_header), kMaxInterim));
      parser.emplace();
      parser->body_limit(settings.max_body_bytes);
      // Beast's default is 8 KiB of head; an answer's headers (x-venice-enhanced-prompt holds a
      // whole prompt, URL-encoded) can pass that, and the answer was paid for all the same.
      parser->header_limit(kMaxHeadBytes);
      c.stream.expires_at(deadline);
      auto [ec, n] = co_await http::async_read_header(c.stream, c.buffer, *parser, use_tuple);
      answer_bytes += n;
      ex.bytes_in += n;
      if (ec == http::error::header_limit)
        co_return fail_saying(ex, ec, ExchangeStep::read_header, &c,
                              fmt::format("reading the response ({}): its head is over {} KiB",
                                          to_string(ExchangeStep::read_header), kMaxHeadBytes / 1024));
      if (ec) co_return fail(ex, ec, ExchangeStep::read_header, &c, "reading the response");
      const int status = static_cast<int>(parser->get().result_int());
      if (status < 100 || status >= 200 || status == 101) co_return true;
    }
  }

  net::awaitable<HttpExchange> send(Request req, HttpClientPool::PostOptions options = {});
  // Ends a request's hold on its connection: parked when `keep` and not cancelled meanwhile, else
  // closed; whoever waits for a slot is woken.
  void end_lease(std::optional<ConnectionLease>& lease, bool keep) {
    const auto it = connections.find(lease->id());
    if (keep && it != connections.end() && !it->second->cancelled) lease->keep();
    else connections.erase(lease->id());
    lease.reset();
    slot_freed.cancel();  // wake whoever waits for a slot
  }
  // HttpExchange::held_connection: a reusable connection kept out of the pool until released.
  struct HeldConnection {
    HeldConnection(Impl& pool, std::optional<ConnectionLease>& taken) : impl(pool) { lease.emplace(std::move(*taken)); taken.reset(); }
    HeldConnection(const HeldConnection&) = delete;
    HeldConnection& operator=(const HeldConnection&) = delete;
    ~HeldConnection() { impl.end_lease(lease, reusable); }
    Impl& impl;
    std::optional<ConnectionLease> lease;
    bool reusable = true;
  };
  net::awaitable<bool> read_body(Connection& c, Parser& parser, ContentCoding coding, std::size_t limit,
                                 std::string& body, HttpExchange& ex, Clock::time_point deadline);
  net::awaitable<bool> read_exact_body(Connection& c, std::size_t length, std::string& body, HttpExchange& ex,
                                       Clock::time_point deadline);
  net::awaitable<bool> read_decoded_body(Connection& c, Parser& parser, ContentDecoder& decoder, HttpExchange& ex,
                                         Clock::time_point deadline);
  net::awaitable<bool> exchange(Connection& c, const Request& req, HttpExchange& ex, std::size_t& answer_bytes);
  net::awaitable<std::optional<ConnectionLease>> acquire(bool fresh = false);
  std::uint64_t next_serial = 1;
};

// The body into `body`, decoded from its Content-Encoding, with simdjson's padding after it; over
// `limit` bytes (on the wire or decoded) it fails.
net::awaitable<bool> HttpClientPool::Impl::read_body(Connection& c, Parser& parser, ContentCoding coding,
                                                     std::size_t limit, std::string& body, HttpExchange& ex,
                                                     Clock::time_point deadline) {
  const auto length = parser.content_length();
  if (length && *length > limit)
    co_return fail(ex, http::error::body_limit, ExchangeStep::read_body, &c, "response over max_response_mb");
  if (coding == ContentCoding::identity && length && !parser.chunked()) {
    const bool ok = co_await read_exact_body(c, static_cast<std::size_t>(*length), body, ex, deadline);
    ex.body_wire_bytes = ex.body_decoded_bytes = body.size();
    co_return ok;
  }
  ContentDecoder decoder(coding, limit, length.value_or(0), take_spare_body());
  bool ok = co_await read_decoded_body(c, parser, decoder, ex, deadline);
  if (ok && decoder.finish()) ok = fail_decoding(ex, decoder, c);
  ex.body_wire_bytes = decoder.wire_bytes();
  ex.body_decoded_bytes = decoder.decoded_bytes();
  if (ok) body = decoder.take_body();
  co_return ok;
}

// Fast path for an uncompressed body of known length: the bytes already buffered behind the
// header, then one read straight into the body from the TLS stream. It skips Beast's body parser
// and the copy through flat_buffer, which cost about a fifth of the io thread at 600 responses/s.
net::awaitable<bool> HttpClientPool::Impl::read_exact_body(Connection& c, std::size_t length, std::string& body,
                                                           HttpExchange& ex, Clock::time_point deadline) {
  // A recycled buffer's size is the last answer's: resizing to a similar one zeroes (nearly) nothing.
  if (body.capacity() < length + kParsePadding) body = take_spare_body();
  body.resize(length + kParsePadding);  // exact size plus the padding: parsed in place, never copied
  std::size_t used = std::min(length, c.buffer.size());
  net::buffer_copy(net::buffer(body.data(), used), c.buffer.data());
  c.buffer.consume(used);
  if (used < length) {
    c.stream.expires_at(deadline);
    auto [ec, got] = co_await net::async_read(c.stream, net::buffer(body.data() + used, length - used), use_tuple);
    used += got;
    ex.bytes_in += got;
    if (ec) {
      body.resize(used);
      co_return fail(ex, ec, ExchangeStep::read_body, &c, "reading the response body");
    }
  }
  body.resize(used);  // capacity keeps the padding
  co_return true;
}

// Chunked, of unknown length or compressed: Beast's parser frames the body into c.chunk and each
// piece goes to the decoder, which writes the decoded bytes into the padded body buffer.
net::awaitable<bool> HttpClientPool::Impl::read_decoded_body(Connection& c, Parser& parser, ContentDecoder& decoder,
                                                             HttpExchange& ex, Clock::time_point deadline) {
  c.chunk.resize(kReadChunk);
  while (!parser.is_done()) {
    auto& b = parser.get().body();
    b.data = c.chunk.data();
    b.size = c.chunk.size();
    c.stream.expires_at(deadline);
    auto [ec, n] = co_await http::async_read(c.stream, c.buffer, parser, use_tuple);
    ex.bytes_in += n;
    const auto got = static_cast<std::size_t>(b.data ? static_cast<char*>(b.data) - c.chunk.data() : 0);
    if (decoder.feed(std::string_view(c.chunk.data(), got))) co_return fail_decoding(ex, decoder, c);
    if (ec == http::error::need_buffer) continue;
    if (ec) co_return fail(ex, ec, ExchangeStep::read_body, &c, "reading the response body");
  }
  co_return true;
}

// One request and its response on connection `c`; fills ex.response or ex.error. Returns true
// when the connection may be kept for the next request.
net::awaitable<bool> HttpClientPool::Impl::exchange(Connection& c, const Request& req, HttpExchange& ex,
                                                    std::size_t& answer_bytes) {
  if (c.cancelled) co_return fail(ex, net::error::operation_aborted, ExchangeStep::write, &c, "writing the request");
  const auto deadline = Clock::now() + settings.request_timeout;
  const auto tw = Clock::now();
  c.stream.expires_at(deadline);
  auto [wec, written] = co_await http::async_write(c.stream, req, use_tuple);
  ex.timings.write_us = micros_since(tw);
  if (wec) co_return fail(ex, wec, ExchangeStep::write, &c, "writing the request");
  ex.request_sent = true;
  ex.bytes_out += written;

  const auto tr = Clock::now();
  std::optional<Parser> parser;
  const bool header_read = co_await read_final_header(c, parser, ex, deadline, answer_bytes);
  ex.timings.ttfb_us = micros_since(tr);
  if (!header_read) co_return false;

  const auto& head = parser->get();
  const auto coding = content_coding_of(head[http::field::content_encoding]);
  if (coding == ContentCoding::unsupported)
    co_return fail_saying(ex, DecompressError::unsupported_coding, ExchangeStep::read_body, &c,
                          fmt::format("the answer (HTTP {}) is in Content-Encoding '{}', which venice-batch cannot "
                                      "decode (it asks for gzip or br)",
                                      head.result_int(), escape_for_terminal(head[http::field::content_encoding], 64)));
  const auto td = Clock::now();
  std::string body;
  const auto& msg = parser->get();
  // Only a 200 carries images; of any other answer a few KiB are ever kept (ApiError), so its body
  // is read up to 1 MiB: a 429 whose gzip body decodes to a GiB held that much per connection.
  constexpr std::size_t kOtherAnswerLimit = std::size_t{1} << 20;
  const std::size_t limit =
      msg.result_int() == 200 ? settings.max_body_bytes : std::min(settings.max_body_bytes, kOtherAnswerLimit);
  if (!co_await read_body(c, *parser, coding, limit, body, ex, deadline)) {
    // An error answer whose body could not be read is still that answer: its status and headers
    // (a 429's Retry-After, the rate-limit headers) decide, not "the answer was lost", which
    // would retry at once and count the attempt as maybe billed.
    if (msg.result_int() != 200 && ex.error != TransportError::cancelled) {
      ex.response = response_head(msg);
      ex.error = TransportError::none;
    }
    co_return false;
  }
  ex.timings.download_us = micros_since(td);

  HttpResponse response = response_head(msg);
  response.body = std::move(body);
  ex.response = std::move(response);
  // A parked connection must not carry this request's deadline into the next one.
  c.stream.expires_never();
  // Bytes after the answer (a response nobody asked for) would be read as the next request's.
  // An answer whose body ran to the end of the stream (no length, not chunked) used the
  // connection up, whatever its Connection header says.
  co_return msg.keep_alive() && !parser->need_eof() && !c.cancelled && !c.stream.broken() && c.buffer.size() == 0 && c.stream.quiet();
}

// A slot (waiting while every one is in use) with its connection object.
net::awaitable<std::optional<ConnectionLease>> HttpClientPool::Impl::acquire(bool fresh) {
  for (;;) {
    if (auto a = fresh ? slots.acquire_fresh() : slots.acquire()) {
      if (!a->reused) {
        connections[a->id] = std::make_unique<Connection>(executor, tls);  // closes the slot's old one
        connections[a->id]->serial = next_serial++;
      }
      co_return ConnectionLease(slots, *a);
    }
    // Woken by cancel() on release. Never re-arm the timer here: expires_at() cancels every
    // other waiter's wait, and two waiters would wake each other in a busy loop.
    co_await slot_freed.async_wait(use_tuple);
  }
}

HttpClientPool::HttpClientPool(net::any_io_executor executor, HttpEndpoint endpoint, HttpPoolSettings settings)
    : impl_(std::make_unique<Impl>(std::move(executor), std::move(endpoint), std::move(settings))) {}

HttpClientPool::~HttpClientPool() {
  if (!impl_) return;
  for (auto& [id, c] : impl_->connections) c->close();
}

namespace {
Request make_request(http::verb verb, const HttpEndpoint& ep, const HttpPoolSettings& s, std::string path,
                     std::string body, std::string authorization) {
  Request req{verb, ep.path_prefix + path, 11};
  req.set(http::field::host, ep.host_header());
  req.set(http::field::user_agent, s.user_agent);
  if (verb == http::verb::post) req.set(http::field::content_type, "application/json");
  req.set(http::field::accept, "application/json, image/*");
  // Off: no header at all, which asks for identity (RFC 9110 12.5.3).
  if (s.compressed_responses) req.set(http::field::accept_encoding, "gzip, br");
  req.set(http::field::authorization, authorization);
  req.keep_alive(true);
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}
}  // namespace

net::awaitable<HttpExchange> HttpClientPool::post(std::string path, std::string body, std::string authorization,
                                                  PostOptions options) {
  return impl_->send(make_request(http::verb::post, impl_->endpoint, impl_->settings, std::move(path), std::move(body),
                                  std::move(authorization)),
                     std::move(options));
}

void HttpClientPool::release(HttpExchange& ex, bool reusable) {
  if (!ex.held_connection) return;
  std::static_pointer_cast<Impl::HeldConnection>(ex.held_connection)->reusable = reusable;
  ex.held_connection.reset();  // the last owner: parked or closed here
}

net::awaitable<HttpExchange> HttpClientPool::get(std::string path, std::string authorization) {
  return impl_->send(
      make_request(http::verb::get, impl_->endpoint, impl_->settings, std::move(path), {}, std::move(authorization)));
}

// One request: a connection from the pool (opened if need be), the exchange, the connection
// parked or closed, and at once again on a fresh connection if the pool's one was stale.
net::awaitable<HttpExchange> HttpClientPool::Impl::send(Request req, HttpClientPool::PostOptions options) {
  HttpExchange ex;
  const auto start = Clock::now();
  for (unsigned resends = 0;; ++resends) {
    auto lease = co_await acquire(options.fresh_connection);
    // A parked connection on which something arrived while idle (the server's close, a 408, bytes
    // nobody asked for) is dropped before the request is written on it: nothing is sent twice.
    while (lease->reused() &&
           !(connections.at(lease->id())->buffer.size() == 0 && connections.at(lease->id())->stream.quiet())) {
      connections.erase(lease->id());
      lease.reset();
      ++dropped_idle;
      auto next = co_await acquire();
      lease.emplace(std::move(*next));
    }
    HttpExchange fresh;  // a resend starts clean but keeps what was counted so far
    fresh.stale_reconnects = ex.stale_reconnects;
    fresh.bytes_out = ex.bytes_out;
    fresh.bytes_in = ex.bytes_in;
    ex = std::move(fresh);
    ex.timings.reused_connection = lease->reused();
    std::size_t answer_bytes = 0;
    bool keep = true;
    if (!lease->reused()) keep = co_await open_quiet(lease->id(), ex);
    Connection& c = *connections.at(lease->id());
    ex.connection = c.serial;
    if (keep) keep = co_await exchange(c, req, ex, answer_bytes);
    if (keep && options.hold_connection) {
      // Out of the pool until the caller has checked the answer (HttpExchange::held_connection).
      ex.held_connection = std::make_shared<HeldConnection>(*this, lease);
      break;  // a whole answer: nothing to send again
    }
    end_lease(lease, keep);
    if (ex.error == TransportError::none ||
        !resend_on_fresh_connection(ex.timings.reused_connection, ex.failed_at, ex.error, answer_bytes, resends,
                                    slots.max_size()))
      break;
    // The server had closed it while idle. A request fully written there may have reached it:
    // sent again only if the caller agrees (the spend cap counts the first one as maybe billed).
    if (ex.request_sent) {
      if (options.may_resend && !options.may_resend()) break;
      ++ex.stale_reconnects;
    }
  }
  ex.timings.total_us = micros_since(start);
  co_return ex;
}

void HttpClientPool::recycle_body(std::string&& body) {
  if (body.capacity() < (std::size_t{64} << 10)) return;  // small answers: not worth keeping
  std::lock_guard lock(impl_->spare_mutex);
  if (impl_->spare_bodies.size() < impl_->settings.max_connections) impl_->spare_bodies.push_back(std::move(body));
}

void HttpClientPool::cancel_all() {
  for (auto& [id, c] : impl_->connections) {
    c->cancelled = true;
    c->close();
  }
  for (auto id : impl_->slots.drop_idle()) impl_->connections.erase(id);
}

std::uint64_t HttpClientPool::connections_opened() const { return impl_->slots.opened_total(); }
std::uint64_t HttpClientPool::idle_connections_dropped() const { return impl_->dropped_idle; }
const HttpEndpoint& HttpClientPool::endpoint() const { return impl_->endpoint; }

}  // namespace venice_batch
