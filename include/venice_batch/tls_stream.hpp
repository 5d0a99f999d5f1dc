// A TLS client stream of our own over OpenSSL, reading straight from the socket.
//
// Why not Boost 1.81's ssl::stream: its engine reads the socket 17 KB at a time into a buffer of
// its own, copies that into a BIO pair, and OpenSSL copies it out again before decrypting; and
// Beast's ssl_stream is its only way to carry a deadline. Here OpenSSL reads the socket itself
// through a small BIO (recv/send with MSG_NOSIGNAL) with a 64 KB read-ahead: the decrypted record
// is copied once, into the caller's buffer, and the socket is read about once per four records.
// Kernel TLS would save that copy too, but this VM's kernel has no `tls` module. Measured in
// bench/RESULTS.md (issue 10, step 3).
//
// It is a Beast/Asio AsyncReadStream and AsyncWriteStream with the parts of beast::tcp_stream the
// pool uses: an absolute deadline (`expires_at`) that fails whatever is pending, or the next
// operation, with beast::error::timeout. Errors are Asio's own for the same events (eof on
// close_notify, ssl::error::stream_truncated on a close without it, the OpenSSL reason otherwise),
// so classify_transport_error reads them the same. Not thread-safe: one io thread, one reader and
// one writer at a time. Included by http_pool.cpp and its test only: it pulls in Asio.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace venice_batch {

/// Where the stream's BIO finds the socket, and the errno of its last failed recv/send.
struct TlsBioData {
  int fd = -1;
  int last_errno = 0;
  bool eof = false;  ///< recv returned 0
};

/// What one non-blocking OpenSSL call came to.
struct TlsStep {
  enum Kind { done, want_read, want_write, failed } kind = done;
  std::size_t bytes = 0;  ///< read or written (done; may be > 0 with want_* when a loop stopped)
  boost::system::error_code error;
};

class TlsStream {
 public:
  using executor_type = boost::asio::any_io_executor;
  using Clock = std::chrono::steady_clock;

  /// `ctx` must outlive the stream. Throws std::bad_alloc if OpenSSL cannot make the session.
  TlsStream(executor_type ex, SSL_CTX* ctx);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  executor_type get_executor() noexcept { return state_->socket.get_executor(); }
  boost::asio::ip::tcp::socket& socket() noexcept { return state_->socket; }
  SSL* native_handle() noexcept { return state_->ssl; }

  /// Server name (SNI, unless `host` is an IP literal) and the name or address the certificate must
  /// carry. Call before the handshake; false if OpenSSL refused it.
  bool set_host(const std::string& host);

  /// The deadline of everything from now on: a pending operation then fails with timeout.
  void expires_at(Clock::time_point deadline);
  void expires_after(Clock::duration d) { expires_at(Clock::now() + d); }
  void expires_never();
  /// An error from an operation on socket() itself (connect): operation_aborted after the deadline
  /// passed is a timeout.
  boost::system::error_code translate(boost::system::error_code ec) const;

  /// Cancels pending operations and closes the socket (no close_notify: the pool never reuses it).
  void close();
  /// An error (the peer's close, a reset) already met after the last bytes given: whatever the
  /// HTTP answer said, the connection cannot carry another request.
  bool broken() const;
  /// Nothing for the caller arrived since the last read (or the handshake): no data held by
  /// OpenSSL, none waiting on the socket, no close or alert from the peer. TLS's own messages that
  /// came meanwhile (TLS 1.3 session tickets, sent after the handshake) are taken in without
  /// blocking. Only such a connection may carry the next request: data there (an answer nobody
  /// asked for, a 408 sent while idle) would be read as its answer.
  bool quiet();

  template <class Token>
  auto async_handshake(Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code)>(
        Composed<true>(state_, Op::handshake, nullptr, 0), token, state_->socket);
  }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    auto b = first_buffer<boost::asio::mutable_buffer>(buffers);
    return run_op(Op::read, b.data(), b.size(), std::forward<Token>(token));
  }

  /// Several buffers (Beast's request header and body) are gathered into one TLS record and one
  /// send, as beast::ssl_stream's flat_stream did: a request in pieces may meet a server's reset
  /// between them and fail half-written.
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    auto b = first_buffer<boost::asio::const_buffer>(buffers);
    const std::size_t total = boost::asio::buffer_size(buffers);
    if (b.size() < total && b.size() < kGatherBytes) {
      auto& gathered = state_->gathered;
      gathered.resize(std::min(total, kGatherBytes));
      boost::asio::buffer_copy(boost::asio::buffer(gathered), buffers);
      b = boost::asio::buffer(gathered);
    }
    return run_op(Op::write, const_cast<void*>(b.data()), b.size(), std::forward<Token>(token));
  }

 private:
  enum class Op { handshake, read, write };
  static constexpr std::size_t kGatherBytes = 16 * 1024;  // one TLS record's worth

  struct State {
    explicit State(executor_type ex) : socket(ex), timer(ex) {}
    ~State();
    boost::asio::ip::tcp::socket socket;
    boost::asio::steady_timer timer;
    SSL* ssl = nullptr;
    bool timed_out = false;
    bool armed = false;                 // the timer waits for `deadline`
    Clock::time_point deadline{};
    unsigned deadline_generation = 0;   // a timer handler of an older deadline does nothing
    std::string gathered;               // a write's buffers, gathered (async_write_some)
    TlsBioData bio_data;                // for the BIO, set at the first step (the socket is connected then)
    boost::system::error_code pending;  // an error met after bytes were read: the next read's
    // One non-blocking step of `op`: never waits. A read fills as much of the buffer as the
    // records already received allow.
    TlsStep step(Op op, void* data, std::size_t size);
    TlsStep failure(int ret);
  };

  template <class Buffer, class Sequence>
  static Buffer first_buffer(const Sequence& buffers) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it) {
      Buffer b(*it);
      if (b.size() != 0) return b;
    }
    return Buffer();
  }

  // The composed operation: a step; on want_read/want_write, wait for the socket and step again.
  // Finished without having waited, it completes through a post (Asio's rule: never complete
  // inside the initiating call; Beast's read loops rely on it).
  template <bool Handshake>
  struct Composed {
    Composed(std::shared_ptr<State> s, Op o, void* d, std::size_t n) : state(std::move(s)), op(o), data(d), size(n) {}
    std::shared_ptr<State> state;
    Op op;
    void* data;
    std::size_t size;
    enum class Phase { starting, waiting, posted } phase = Phase::starting;
    TlsStep result;

    template <class Self>
    void operator()(Self& self, boost::system::error_code wait_error = {}) {
      if (phase != Phase::posted) {
        result = next_step(wait_error);
        if (result.kind == TlsStep::want_read || result.kind == TlsStep::want_write) {
          phase = Phase::waiting;
          state->socket.async_wait(result.kind == TlsStep::want_read ? boost::asio::socket_base::wait_read
                                                                     : boost::asio::socket_base::wait_write,
                                   std::move(self));
          return;
        }
        if (phase == Phase::starting) {
          phase = Phase::posted;
          auto ex = state->socket.get_executor();
          boost::asio::post(ex, std::move(self));
          return;
        }
      }
      if constexpr (Handshake) self.complete(result.error);
      else self.complete(result.error, result.bytes);
    }

    TlsStep next_step(const boost::system::error_code& wait_error) {
      TlsStep s;
      if (state->timed_out) {
        s.kind = TlsStep::failed;
        s.error = timeout_error();
      } else if (wait_error) {
        s.kind = TlsStep::failed;  // cancelled or closed: the caller knows which
        s.error = wait_error;
      } else if (size != 0 || op == Op::handshake) {
        s = state->step(op, data, size);
      }
      return s;
    }
  };

  template <class Token>
  auto run_op(Op op, void* data, std::size_t size, Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        Composed<false>(state_, op, data, size), token, state_->socket);
  }

  static boost::system::error_code timeout_error();

  std::shared_ptr<State> state_;
};

}  // namespace venice_batch
