// venice-mock's I/O: the listener, one coroutine per connection (TLS handshake, then read a
// request, answer it, compress it, act out a wire fault), start and stop. What to answer is
// MockService's; how to compress, mock_compress's.
#include "venice_batch/mock_server.hpp"

#include <atomic>
#include <mutex>
#include <optional>
#include <thread>

#include <fcntl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <fmt/format.h>
#include <fmt/ostream.h>

#include "mock_compress.hpp"
#include "mock_service.hpp"
#include "venice_batch/tls_cert.hpp"

namespace venice_batch {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using mock::Request;
using mock::Response;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
using Stream = beast::ssl_stream<beast::tcp_stream>;

// The completion handler of every co_spawn here: a coroutine that ends with an exception is
// reported, never silently dropped.
auto log_failure(const char* what) {
  return [what](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      fmt::print(stderr, "venice-mock: {} failed: {}\n", what, ex.what());
    } catch (...) {
      fmt::print(stderr, "venice-mock: {} failed\n", what);
    }
  };
}

// Asio opens sockets without FD_CLOEXEC: a process the host program starts while the emulator
// runs (a test's venice-batch) would inherit the listening socket, keep the port bound after
// stop() and keep connections half open.
void close_on_exec(int fd) { ::fcntl(fd, F_SETFD, ::fcntl(fd, F_GETFD) | FD_CLOEXEC); }

// The request's path without its query string.
std::string_view path_of(const Request& req) {
  const std::string_view target = req.target();
  return target.substr(0, target.find('?'));
}

}  // namespace

struct MockServer::Impl {
  MockOptions options;
  mock::MockService service;
  net::io_context io;
  ssl::context tls{ssl::context::tls_server};
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::filesystem::path ca_path;
  std::uint16_t bound_port = 0;
  std::atomic<bool> stopping{false};
  std::mutex sessions_mutex;  // guards sessions (the listener adds, stop() closes)
  std::vector<std::weak_ptr<Stream>> sessions;

  explicit Impl(MockOptions o) : options(std::move(o)), service(options) {}

  // Routes one request. Only generate waits (its added latency) or injects a fault.
  net::awaitable<mock::GenerateAnswer> route(const Request& req, simdjson::dom::parser& parser) {
    const auto path = path_of(req);
    if (req.method() == http::verb::post && path == "/api/v1/image/generate")
      co_return co_await service.generate(req, parser);
    if (req.method() == http::verb::get && path == "/api/v1/api_keys/rate_limits")
      co_return mock::GenerateAnswer{service.rate_limits(req)};
    if (req.method() == http::verb::get && path == "/__mock/stats") co_return mock::GenerateAnswer{service.stats_page(req)};
    if (req.method() == http::verb::get)
      if (auto res = service.catalog(req, path)) co_return mock::GenerateAnswer{std::move(*res)};
    co_return mock::GenerateAnswer{mock::json_response(404, mock::error_body("Not found"), req)};
  }

  // The answer to one request, its JSON compressed as the request asks.
  net::awaitable<mock::GenerateAnswer> serve(const Request& req, simdjson::dom::parser& parser) {
    auto answer = co_await route(req, parser);
    if (auto coding = mock::encode_answer(req[http::field::accept_encoding], answer.response, answer.fault))
      service.on_coding(*coding);
    co_return answer;
  }

  // Sends the answer, or acts out its wire fault. Returns whether the connection stays open.
  net::awaitable<bool> send(Stream& stream, Response& res, MockFault fault) {
    auto& tcp_stream = beast::get_lowest_layer(stream);
    tcp_stream.expires_after(std::chrono::seconds(60));
    if (fault == MockFault::close_mid_body || fault == MockFault::short_body) {
      // Serialize by hand so only part of the body goes out.
      std::string raw = fmt::format("{}", fmt::streamed(res.base()));
      raw.append(res.body(), 0, res.body().size() / 2);
      co_await net::async_write(stream, net::buffer(raw), use_tuple);
      if (fault == MockFault::short_body) {
        tcp_stream.expires_after(std::chrono::seconds(2));
        co_await stream.async_shutdown(use_tuple);  // clean close_notify: a short body, not a reset
      }
      co_return false;  // close: drop the TCP connection without close_notify
    }
    if (fault == MockFault::drop) co_return false;  // not a byte: closed as if idle
    if (fault == MockFault::stall) {
      net::steady_timer t(co_await net::this_coro::executor);
      t.expires_after(options.faults.stall);
      co_await t.async_wait(use_tuple);
      co_return false;
    }
    auto [ec, written] = co_await http::async_write(stream, res, use_tuple);
    co_return !ec && res.keep_alive();
  }

  // One connection, on its own strand: handshake, then request after request until the client
  // closes, the idle timeout passes or a fault ends it.
  net::awaitable<void> session(std::shared_ptr<Stream> stream) {
    auto& tcp_stream = beast::get_lowest_layer(*stream);
    tcp_stream.expires_after(std::chrono::seconds(10));
    auto [hec] = co_await stream->async_handshake(ssl::stream_base::server, use_tuple);
    if (hec) co_return;
    beast::flat_buffer buffer;
    simdjson::dom::parser json;  // this session's own: no document is shared across threads
    for (bool open = true; open;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(40u << 20);
      tcp_stream.expires_after(options.idle_timeout);  // idle keep-alive connections close
      auto [rec, n] = co_await http::async_read(*stream, buffer, parser, use_tuple);
      if (rec) break;
      const auto req = parser.release();
      tcp_stream.expires_never();  // generate's added latency is no timeout
      auto answer = co_await serve(req, json);
      open = co_await send(*stream, answer.response, answer.fault);
    }
    boost::system::error_code ignored;
    tcp_stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    tcp_stream.close();
  }

  net::awaitable<void> listen() {
    for (;;) {
      // Each connection gets its own strand: with several io threads, its timers and I/O
      // never run at the same time.
      auto [ec, socket] = co_await acceptor->async_accept(net::make_strand(io), use_tuple);
      if (ec) {
        if (stopping) co_return;
        continue;  // EMFILE and the like: keep serving the connections we have
      }
      close_on_exec(socket.native_handle());
      socket.set_option(tcp::no_delay(true), ec);
      auto stream = std::make_shared<Stream>(std::move(socket), tls);
      service.on_connection();
      {
        std::lock_guard lock(sessions_mutex);
        std::erase_if(sessions, [](const auto& w) { return w.expired(); });
        sessions.push_back(stream);
      }
      net::co_spawn(stream->get_executor(), session(stream), log_failure("session"));
    }
  }

  void load_certificate() {
    if (!options.cert_file.empty()) {
      ca_path = options.cert_file;
      tls.use_certificate_chain_file(options.cert_file.string());
      tls.use_private_key_file(options.key_file.string(), ssl::context::pem);
      return;
    }
    auto dir = options.cert_dir;
    if (dir.empty()) {
      std::string tmpl = (std::filesystem::temp_directory_path() / "venice-mock-XXXXXX").string();
      if (!::mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a temp dir for the certificate");
      dir = tmpl;
    }
    auto cert = make_self_signed_cert(options.cert_hosts);
    ca_path = write_cert_files(cert, dir);
    tls.use_certificate_chain(net::buffer(cert.cert_pem));
    tls.use_private_key(net::buffer(cert.key_pem), ssl::context::pem);
  }
};

MockServer::MockServer(MockOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

MockServer::~MockServer() { stop(); }

void MockServer::start() {
  auto& s = *impl_;
  s.load_certificate();
  s.tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3);
  tcp::endpoint ep(net::ip::make_address(s.options.bind_address), s.options.port);
  s.acceptor.emplace(net::make_strand(s.io));
  s.acceptor->open(ep.protocol());
  close_on_exec(s.acceptor->native_handle());
  s.acceptor->set_option(net::socket_base::reuse_address(true));
  s.acceptor->bind(ep);
  s.acceptor->listen(net::socket_base::max_listen_connections);
  s.bound_port = s.acceptor->local_endpoint().port();
  net::co_spawn(s.acceptor->get_executor(), s.listen(), log_failure("listener"));
  for (unsigned i = 0; i < std::max(1u, s.options.threads); ++i) s.threads.emplace_back([&s] { s.io.run(); });
}

void MockServer::stop() {
  auto& s = *impl_;
  if (s.stopping.exchange(true)) return;
  // Stop the threads first, whatever is pending (a stall timer, a latency wait): once they are
  // joined nothing else touches the acceptor or a stream, so closing them here races with nothing.
  s.io.stop();
  for (auto& t : s.threads)
    if (t.joinable()) t.join();
  boost::system::error_code ignored;
  if (s.acceptor) s.acceptor->close(ignored);
  std::lock_guard lock(s.sessions_mutex);
  for (auto& w : s.sessions)
    if (auto st = w.lock()) beast::get_lowest_layer(*st).socket().close(ignored);
}

std::uint16_t MockServer::port() const { return impl_->bound_port; }
std::filesystem::path MockServer::ca_file() const { return impl_->ca_path; }
MockStats MockServer::stats() const { return impl_->service.stats(); }

}  // namespace venice_batch
