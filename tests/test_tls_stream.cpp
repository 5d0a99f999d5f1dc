// The pool's TLS stream (tls_stream.hpp) against a server it did not write: Asio's own
// ssl::stream, in a thread of its own, doing what servers do to a client — answers in records of
// every size, a close with and without close_notify, a reset, silence, a certificate for another
// name. What a user would notice: every byte arrives in order, a cut answer is never taken for a
// whole one, a silent server ends in a timeout rather than a hang.
#include <gtest/gtest.h>

#include <functional>
#include <future>
#include <numeric>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <openssl/ssl.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "test_support.hpp"
#include "venice_batch/tls_cert.hpp"
#include "venice_batch/tls_stream.hpp"
#include "venice_batch/transport_error.hpp"

using namespace venice_batch;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

// The server side of one connection: accept, handshake (unless told not to), then `script`.
class TlsPeer {
 public:
  using Script = std::function<void(ssl::stream<tcp::socket>&)>;

  explicit TlsPeer(std::vector<std::string> cert_hosts = {"127.0.0.1"})
      : cert_(make_self_signed_cert(cert_hosts)), server_ctx_(ssl::context::tls_server) {
    server_ctx_.use_certificate_chain(net::buffer(cert_.cert_pem));
    server_ctx_.use_private_key(net::buffer(cert_.key_pem), ssl::context::pem);
    acceptor_.open(tcp::v4());
    acceptor_.bind(tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    acceptor_.listen();
  }
  ~TlsPeer() {
    release_.set_value();
    if (thread_.joinable()) thread_.join();
  }
  // What a script waits on to hold its connection open until the test is over.
  void hold() const { released_.wait(); }

  void serve(Script script, bool handshake = true) {
    thread_ = std::thread([this, script = std::move(script), handshake] {
      ssl::stream<tcp::socket> s(server_io_, server_ctx_);
      error_code ec;
      acceptor_.accept(s.next_layer(), ec);
      if (ec) return;
      if (handshake) {
        s.handshake(ssl::stream_base::server, ec);
        if (ec) return;
      }
      script(s);
    });
  }

  // A client context trusting this peer's certificate, as --ca-file does.
  ssl::context client_context() const {
    ssl::context ctx(ssl::context::tls_client);
    ctx.add_certificate_authority(net::buffer(cert_.cert_pem));
    ctx.set_verify_mode(ssl::verify_peer);
    return ctx;
  }
  tcp::endpoint endpoint() const { return acceptor_.local_endpoint(); }

 private:
  SelfSignedCert cert_;
  ssl::context server_ctx_;
  net::io_context server_io_;
  tcp::acceptor acceptor_{server_io_};
  std::promise<void> release_;
  std::shared_future<void> released_ = release_.get_future().share();
  std::thread thread_;
};

// The server's writes and reads: errors end the script quietly (the client may be gone).
void send(ssl::stream<tcp::socket>& s, std::string_view bytes) {
  error_code ignored;
  net::write(s, net::buffer(bytes), ignored);
}
std::string receive(ssl::stream<tcp::socket>& s, std::size_t n) {
  std::string got(n, '\0');
  error_code ec;
  got.resize(net::read(s, net::buffer(got), ec));
  return got;
}

// The client: a TlsStream connected to the peer, driven by coroutines on `io`.
struct Client {
  explicit Client(TlsPeer& peer, const std::string& host = "127.0.0.1")
      : ctx(peer.client_context()), stream(io.get_executor(), ctx.native_handle()) {
    stream.socket().connect(peer.endpoint());
    EXPECT_TRUE(stream.set_host(host));
  }
  // Runs handlers until `work` is done (a deadline's timer may still be pending after it).
  template <class T>
  T run(net::awaitable<T> work) {
    auto f = net::co_spawn(io, std::move(work), net::use_future);
    io.restart();
    while (f.wait_for(std::chrono::seconds(0)) != std::future_status::ready && io.run_one() > 0) {
    }
    return f.get();
  }
  error_code handshake() {
    return run([this]() -> net::awaitable<error_code> {
      auto [ec] = co_await stream.async_handshake(use_tuple);
      co_return ec;
    }());
  }
  // Reads until `want` bytes or an error; returns what came and the error.
  std::pair<std::string, error_code> read(std::size_t want) {
    return run([this, want]() -> net::awaitable<std::pair<std::string, error_code>> {
      std::string got(want, '\0');
      auto [ec, n] = co_await net::async_read(stream, net::buffer(got), use_tuple);
      got.resize(n);
      co_return std::pair{got, ec};
    }());
  }
  ssl::context ctx;
  net::io_context io;
  TlsStream stream;
};

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  std::uint32_t x = 12345;
  for (auto& c : s) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

}  // namespace

TEST(TlsStreamTest, EveryByteOfALargeAnswerArrivesInOrderWhateverTheRecordSizes) {
  TlsPeer peer;
  const std::string answer = pattern(3 * 1024 * 1024 + 17);
  std::promise<std::string> request_seen;
  peer.serve([&](ssl::stream<tcp::socket>& s) {
    request_seen.set_value(receive(s, 11));
    // Writes of 1 byte, a few hundred, a record and a bit, a large run: the client's read-ahead
    // buffer sees records cut everywhere.
    const std::size_t sizes[] = {1, 300, 16385, 70000, 5, 262144, 16384};
    std::size_t at = 0;
    for (std::size_t i = 0; at < answer.size(); ++i) {
      const std::size_t n = std::min(sizes[i % std::size(sizes)], answer.size() - at);
      send(s, std::string_view(answer).substr(at, n));
      at += n;
    }
  });
  Client c(peer);
  ASSERT_FALSE(c.handshake());
  // A request in two buffers (as Beast writes a header and a body) arrives whole.
  const std::string head = "POST /x\r\n", body = "{}";
  const auto wrote = c.run([&]() -> net::awaitable<std::size_t> {
    const std::array<net::const_buffer, 2> parts{net::buffer(head), net::buffer(body)};
    auto [ec, n] = co_await net::async_write(c.stream, parts, use_tuple);
    EXPECT_FALSE(ec) << ec.message();
    co_return n;
  }());
  EXPECT_EQ(wrote, head.size() + body.size());
  EXPECT_EQ(request_seen.get_future().get(), head + body);
  auto [got, ec] = c.read(answer.size());
  EXPECT_FALSE(ec) << ec.message();
  ASSERT_EQ(got.size(), answer.size());
  EXPECT_TRUE(got == answer) << "the bytes differ from what the server sent";
}

TEST(TlsStreamTest, ACloseNotifyIsTheEndOfTheStreamAndABareCloseIsATruncatedOne) {
  {
    TlsPeer peer;
    peer.serve([](ssl::stream<tcp::socket>& s) {
      send(s, "partial");
      error_code ignored;
      s.shutdown(ignored);  // close_notify
    });
    Client c(peer);
    ASSERT_FALSE(c.handshake());
    auto [got, ec] = c.read(100);
    EXPECT_EQ(got, "partial");
    EXPECT_EQ(ec, net::error::eof) << ec.message();
  }
  {
    TlsPeer peer;
    peer.serve([](ssl::stream<tcp::socket>& s) {
      send(s, "partial");
      error_code ignored;
      s.next_layer().shutdown(tcp::socket::shutdown_both, ignored);  // FIN without close_notify
      s.next_layer().close(ignored);
    });
    Client c(peer);
    ASSERT_FALSE(c.handshake());
    auto [got, ec] = c.read(100);
    EXPECT_EQ(got, "partial") << "bytes before the cut are given, then the error";
    EXPECT_EQ(ec, net::ssl::error::stream_truncated) << ec.message();
    EXPECT_EQ(classify_transport_error(ec, ExchangeStep::read_body, false), TransportError::body_truncated);
  }
}

TEST(TlsStreamTest, AResetInTheMiddleOfAnAnswerIsAConnectionError) {
  TlsPeer peer;
  peer.serve([](ssl::stream<tcp::socket>& s) {
    send(s, pattern(40000));
    error_code ignored;
    s.next_layer().set_option(net::socket_base::linger(true, 0), ignored);  // close sends RST
    s.next_layer().close(ignored);
  });
  Client c(peer);
  ASSERT_FALSE(c.handshake());
  auto [got, ec] = c.read(1 << 20);
  EXPECT_LT(got.size(), std::size_t{1} << 20);
  EXPECT_TRUE(is_connection_closed(ec)) << ec.message();
  EXPECT_EQ(classify_transport_error(ec, ExchangeStep::read_body, false), TransportError::body_truncated);
}

TEST(TlsStreamTest, ASilentServerEndsTheReadWithATimeoutAndTheNextReadAtOnce) {
  TlsPeer peer;
  peer.serve([&](ssl::stream<tcp::socket>&) { peer.hold(); });
  Client c(peer);
  ASSERT_FALSE(c.handshake());
  c.stream.expires_after(std::chrono::milliseconds(50));
  auto [got, ec] = c.read(10);
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(ec, boost::beast::error::timeout) << ec.message();
  // The deadline has passed: the next operation fails the same way without waiting on the socket.
  auto [got2, ec2] = c.read(10);
  EXPECT_EQ(ec2, boost::beast::error::timeout) << ec2.message();
  EXPECT_EQ(classify_transport_error(ec2, ExchangeStep::read_header, false), TransportError::timeout);
}

TEST(TlsStreamTest, ADeadlineReplacedByALaterOneOrByNoneDoesNotFire) {
  TlsPeer peer;
  peer.serve([](ssl::stream<tcp::socket>& s) {
    if (receive(s, 4) == "ping") send(s, "pong");
  });
  Client c(peer);
  ASSERT_FALSE(c.handshake());
  c.stream.expires_after(std::chrono::milliseconds(1));
  c.stream.expires_never();  // a parked connection must not carry the last request's deadline
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  c.run([&]() -> net::awaitable<int> {
    auto [ec, n] = co_await net::async_write(c.stream, net::buffer(std::string("ping")), use_tuple);
    EXPECT_FALSE(ec) << ec.message();
    co_return 0;
  }());
  auto [got, ec] = c.read(4);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(got, "pong");
}

TEST(TlsStreamTest, AServerThatNeverHandshakesEndsInATimeout) {
  TlsPeer peer;
  peer.serve([&](ssl::stream<tcp::socket>&) { peer.hold(); }, /*handshake=*/false);
  Client c(peer);
  c.stream.expires_after(std::chrono::milliseconds(50));
  const auto ec = c.handshake();
  EXPECT_EQ(ec, boost::beast::error::timeout) << ec.message();
}

TEST(TlsStreamTest, ACertificateForAnotherNameIsRefused) {
  TlsPeer peer({"other.example"});
  peer.serve([](ssl::stream<tcp::socket>&) {});
  Client c(peer, "127.0.0.1");
  const auto ec = c.handshake();
  ASSERT_TRUE(ec);
  EXPECT_EQ(classify_transport_error(ec, ExchangeStep::tls_handshake, false), TransportError::certificate_rejected)
      << ec.message();
}

TEST(TlsStreamTest, ACertificateForTheNameAskedIsAccepted) {
  TlsPeer peer({"localhost"});
  peer.serve([](ssl::stream<tcp::socket>& s) { send(s, "ok"); });
  Client c(peer, "localhost");
  ASSERT_FALSE(c.handshake());
  auto [got, ec] = c.read(2);
  EXPECT_EQ(got, "ok");
}

TEST(TlsStreamTest, ADeadlineAlreadyPastFailsTheNextReadEvenWithDataWaiting) {
  // The pool sets the request's deadline again before each header read. Once it has passed, the
  // next read must fail at once, even when the server keeps bytes coming; before, setting it
  // again cleared the expiry, and a server flooding interim answers was never timed out.
  TlsPeer peer;
  peer.serve([&](ssl::stream<tcp::socket>& s) {
    send(s, "data that is there");
    peer.hold();
  });
  Client c(peer);
  ASSERT_FALSE(c.handshake());
  const auto past = TlsStream::Clock::now() - std::chrono::milliseconds(1);
  c.stream.expires_at(past);
  auto [got, ec] = c.read(4);
  EXPECT_EQ(ec, boost::beast::error::timeout) << ec.message();
  c.stream.expires_at(past);  // the same deadline again: still past
  auto [got2, ec2] = c.read(4);
  EXPECT_EQ(ec2, boost::beast::error::timeout) << ec2.message();
  c.stream.expires_after(std::chrono::seconds(30));  // a new deadline: the bytes are read
  auto [got3, ec3] = c.read(4);
  EXPECT_FALSE(ec3) << ec3.message();
  EXPECT_EQ(got3, "data");
}

TEST(TlsStreamTest, AClosedStreamFailsItsNextOperationWithoutTouchingTheDescriptor) {
  TlsPeer peer;
  peer.serve([&](ssl::stream<tcp::socket>& s) {
    send(s, "more");
    peer.hold();
  });
  Client c(peer);
  ASSERT_FALSE(c.handshake());
  c.stream.close();  // what cancel_all does; the number of the descriptor may be reused at once
  auto [got, ec] = c.read(4);
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(ec, net::error::operation_aborted) << ec.message();
}

TEST(TlsStreamTest, AnErrorMetAfterTheLastBytesMarksTheConnectionUnfitForAnotherRequest) {
  // The answer's last bytes and the server's close arrive together: the bytes are given, and the
  // stream says it is broken, so the pool does not park it for the next request.
  TlsPeer peer;
  peer.serve([](ssl::stream<tcp::socket>& s) {
    send(s, "last");
    // close_notify without waiting for the client's: as if the client's had come already.
    SSL_set_shutdown(s.native_handle(), SSL_RECEIVED_SHUTDOWN);
    error_code ignored;
    s.shutdown(ignored);
    s.next_layer().close(ignored);
  });
  Client c(peer);
  ASSERT_FALSE(c.handshake());
  // The server's FIN has arrived, so everything before it has too: one read sees both.
  ASSERT_TRUE(test_support::wait_until([&] {
    tcp_info info{};
    socklen_t len = sizeof info;
    return getsockopt(c.stream.socket().native_handle(), IPPROTO_TCP, TCP_INFO, &info, &len) == 0 &&
           info.tcpi_state == TCP_CLOSE_WAIT;
  }));
  const auto got = c.run([&]() -> net::awaitable<std::string> {
    std::string buf(100, '\0');
    auto [ec, n] = co_await c.stream.async_read_some(net::buffer(buf), use_tuple);
    EXPECT_FALSE(ec) << ec.message();
    buf.resize(n);
    co_return buf;
  }());
  EXPECT_EQ(got, "last");
  EXPECT_TRUE(c.stream.broken());
  auto [rest, ec] = c.read(1);
  EXPECT_EQ(ec, net::error::eof) << ec.message();
}

// A TLS 1.3 server sends session tickets right after the handshake: bytes on the socket that are
// TLS's own. The check before a request takes them in and calls the connection quiet; data sent
// before any request (a server that speaks first, whose answer the pool took for its request's)
// is not quiet, and stays there to be read.
TEST(TlsStreamTest, QuietTakesInSessionTicketsButNotDataNobodyAskedFor) {
  const auto bytes_waiting = [](Client& c) {
    char byte = 0;
    return ::recv(c.stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
  };
  {
    TlsPeer peer;
    peer.serve([&](ssl::stream<tcp::socket>&) { peer.hold(); });
    Client c(peer);
    ASSERT_FALSE(c.handshake());
    ASSERT_TRUE(test_support::wait_until([&] { return bytes_waiting(c); })) << "no session tickets came";
    EXPECT_TRUE(c.stream.quiet()) << "session tickets are no answer";
    EXPECT_TRUE(c.stream.quiet()) << "nor is a later one";
  }
  {
    TlsPeer peer;
    peer.serve([&](ssl::stream<tcp::socket>& s) {
      send(s, "HTTP/1.1 200 OK");
      peer.hold();
    });
    Client c(peer);
    ASSERT_FALSE(c.handshake());
    ASSERT_TRUE(test_support::wait_until([&] { return !c.stream.quiet(); }));
    EXPECT_FALSE(c.stream.quiet()) << "and it stays so";
    auto [got, ec] = c.read(15);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(got, "HTTP/1.1 200 OK");
  }
}

// A key update sent right after an answer is read ahead with the answer's last record and held
// by OpenSSL: TLS's own, no answer. quiet() looked at OpenSSL's buffer before letting OpenSSL read
// it, and called the connection not quiet (a review: a server sending its session tickets with its
// handshake's last flight would have failed every new connection's check the same way).
TEST(TlsStreamTest, QuietTakesInTlsMessagesOpenSslHoldsAlready) {
  TlsPeer peer;
  std::promise<void> sent;
  peer.serve([&](ssl::stream<tcp::socket>& s) {
    send(s, "last");
    SSL_key_update(s.native_handle(), SSL_KEY_UPDATE_NOT_REQUESTED);
    error_code ignored;
    s.handshake(ssl::stream_base::server, ignored);  // sends the key update, after the data
    sent.set_value();
    peer.hold();
  });
  Client c(peer);
  ASSERT_FALSE(c.handshake());
  sent.get_future().wait();
  // Both records on the socket before the client reads: "last" (26 bytes) and the key update (27).
  ASSERT_TRUE(test_support::wait_until([&] {
    int queued = 0;
    return ::ioctl(c.stream.socket().native_handle(), FIONREAD, &queued) == 0 && queued >= 53;
  })) << [&] { int q = 0; ::ioctl(c.stream.socket().native_handle(), FIONREAD, &q); return q; }();
  auto [got, ec] = c.read(4);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(got, "last");
  EXPECT_TRUE(c.stream.quiet()) << "a key update is no answer";
}
