#include "venice_batch/tls_stream.hpp"

#include <cerrno>
#include <limits>
#include <new>

#include <sys/socket.h>
#include <sys/types.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace venice_batch {

namespace net = boost::asio;

namespace {

// OpenSSL reads ahead into this much: about four 16 KB records per read of the socket instead
// of two reads (header, then body) per record. Not more: OpenSSL 3 moves what is left in the
// buffer to its front before each record, so the copying grows with the square of this size
// (256 KB: 3.9 MB moved per answer of 557 KB, the io thread 40% slower than with 64 KB).
// Measured in bench/RESULTS.md (issue 10, step 3).
constexpr long kReadAheadBytes = 4 * (16 * 1024 + 256);

// The BIO between OpenSSL and the socket: non-blocking recv/send on the descriptor, never
// SIGPIPE (a library must not rely on the program ignoring it), errno kept for the error.
struct SocketBio {
  static TlsBioData& data(BIO* b) { return *static_cast<TlsBioData*>(BIO_get_data(b)); }

  // One recv or send as a BIO answers it: the count, or -1 with "retry" or the errno set.
  template <class Call>
  static int io(BIO* b, bool reading, Call call) {
    TlsBioData& d = data(b);
    BIO_clear_retry_flags(b);
    for (;;) {
      const ssize_t n = call(d.fd);
      if (n == 0 && reading) d.eof = true;  // the peer closed: BIO_eof, OpenSSL's unexpected EOF
      if (n >= 0) return static_cast<int>(n);
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) d.last_errno = errno;
      else if (reading) BIO_set_retry_read(b);
      else BIO_set_retry_write(b);
      return -1;
    }
  }

  static int read(BIO* b, char* out, int len) {
    return io(b, true, [&](int fd) { return ::recv(fd, out, static_cast<std::size_t>(len), MSG_DONTWAIT); });
  }

  static int write(BIO* b, const char* in, int len) {
    return io(b, false,
              [&](int fd) { return ::send(fd, in, static_cast<std::size_t>(len), MSG_DONTWAIT | MSG_NOSIGNAL); });
  }

  static long ctrl(BIO* b, int cmd, long, void*) {
    if (cmd == BIO_CTRL_FLUSH) return 1;  // nothing is buffered here
    if (cmd == BIO_CTRL_EOF) return data(b).eof ? 1 : 0;
    return 0;
  }

  static BIO_METHOD* method() {
    static BIO_METHOD* const m = [] {
      BIO_METHOD* made = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "venice-batch socket");
      if (!made) return made;
      BIO_meth_set_read(made, &SocketBio::read);
      BIO_meth_set_write(made, &SocketBio::write);
      BIO_meth_set_ctrl(made, &SocketBio::ctrl);
      BIO_meth_set_create(made, [](BIO* b) {
        BIO_set_init(b, 1);
        return 1;
      });
      return made;
    }();
    return m;
  }
};

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

boost::system::error_code TlsStream::timeout_error() { return boost::beast::error::timeout; }

TlsStream::TlsStream(executor_type ex, SSL_CTX* ctx) : state_(std::make_shared<State>(std::move(ex))) {
  state_->ssl = SSL_new(ctx);
  if (!state_->ssl) throw std::bad_alloc();
  SSL_set_mode(state_->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_set_read_ahead(state_->ssl, 1);
  SSL_set_default_read_buffer_len(state_->ssl, kReadAheadBytes);
  SSL_set_connect_state(state_->ssl);
}

TlsStream::~TlsStream() { close(); }

TlsStream::State::~State() {
  if (ssl) SSL_free(ssl);  // frees the BIO too
}

bool TlsStream::set_host(const std::string& host) {
  SSL* ssl = state_->ssl;
  if (is_ip_literal(host)) return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1;
  // SNI: without it, shared front ends answer with the wrong certificate.
  return SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 && SSL_set1_host(ssl, host.c_str()) == 1;
}

void TlsStream::expires_at(Clock::time_point deadline) {
  auto& s = *state_;
  if (s.armed && deadline == s.deadline) return;  // the same deadline again: its timer runs already
  const unsigned generation = ++s.deadline_generation;
  s.deadline = deadline;
  s.armed = false;
  // A deadline already past fails the next step at once. It must not be re-armed and cleared:
  // a server flooding answers that are parsed from what was already read (1xx) would never
  // let the timer's handler run before the next call cleared its flag.
  s.timed_out = deadline <= Clock::now();
  if (s.timed_out) {
    s.timer.cancel();
    return;
  }
  s.armed = true;
  s.timer.expires_at(deadline);  // cancels the wait of the previous deadline
  s.timer.async_wait([weak = std::weak_ptr<State>(state_), generation](const boost::system::error_code& ec) {
    if (ec) return;
    auto state = weak.lock();
    if (!state || state->deadline_generation != generation) return;  // replaced, or the stream is gone
    state->timed_out = true;
    boost::system::error_code ignored;
    state->socket.cancel(ignored);  // the pending wait completes; Composed reads timed_out
  });
}

void TlsStream::expires_never() {
  auto& s = *state_;
  ++s.deadline_generation;
  s.timed_out = false;
  s.armed = false;
  s.timer.cancel();
}

boost::system::error_code TlsStream::translate(boost::system::error_code ec) const {
  if (ec && state_->timed_out) return timeout_error();
  return ec;
}

void TlsStream::close() {
  boost::system::error_code ignored;
  state_->armed = false;
  state_->timer.cancel();
  state_->socket.cancel(ignored);
  state_->socket.close(ignored);
  // A step already completed and posted must not reach the closed descriptor's number, which the
  // process may have given to another file or socket by the time it runs.
  state_->bio_data.fd = -1;
}

bool TlsStream::broken() const { return static_cast<bool>(state_->pending); }

bool TlsStream::quiet() {
  if (broken() || !state_->socket.is_open()) return false;
  SSL* ssl = state_->ssl;
  // Bytes OpenSSL holds (read ahead with the last record: a server may send its session tickets
  // with its handshake's last flight, or a key update right after an answer) or bytes waiting on
  // the socket: OpenSSL reads them without blocking (our BIO never does). Records of its own leave
  // nothing to give; data, an alert, the end of the stream or part of a record still on its way
  // (which may be data) do.
  if (!ssl || SSL_has_pending(ssl) != 1) {
    char byte = 0;
    const ssize_t n = ::recv(state_->socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n <= 0) return false;  // closed
  }
  if (!ssl || !SSL_get_rbio(ssl)) return false;  // bytes before any handshake
  if (ERR_peek_error() != 0) ERR_clear_error();   // SSL_get_error reads the queue: another's entries would count
  char byte = 0;
  std::size_t got = 0;
  const int r = SSL_peek_ex(ssl, &byte, 1, &got);
  const bool nothing = r <= 0 && SSL_get_error(ssl, r) == SSL_ERROR_WANT_READ;
  if (ERR_peek_error() != 0) ERR_clear_error();
  return nothing && SSL_has_pending(ssl) != 1 && !state_->bio_data.eof;
}

TlsStep TlsStream::State::step(Op op, void* data, std::size_t size) {
  if (!socket.is_open()) return {TlsStep::failed, 0, net::error::operation_aborted};  // closed meanwhile
  if (!SSL_get_rbio(ssl)) {
    // The socket is connected now: hand its descriptor to OpenSSL through our BIO.
    BIO* bio = BIO_new(SocketBio::method());
    if (!bio) return {TlsStep::failed, 0, net::error::no_memory};
    bio_data.fd = socket.native_handle();
    BIO_set_data(bio, &bio_data);
    SSL_set_bio(ssl, bio, bio);
  }
  if (op == Op::read && pending) return {TlsStep::failed, 0, std::exchange(pending, {})};
  std::size_t done = 0;
  const auto chunk = [](std::size_t n) { return std::min<std::size_t>(n, std::numeric_limits<int>::max()); };
  // At most this many records per step: a server sending tiny records as fast as they are
  // decrypted must not keep the io thread (its timers, its other connections) in one loop.
  constexpr int kMaxRecordsPerStep = 64;
  for (int records = 0;; ++records) {
    if (ERR_peek_error() != 0) ERR_clear_error();  // SSL_get_error needs an empty queue; clearing it costs more
    bio_data.last_errno = 0;
    int ret = 0;
    std::size_t n = 0;
    switch (op) {
      case Op::handshake: ret = SSL_do_handshake(ssl); break;
      case Op::read: ret = SSL_read_ex(ssl, static_cast<char*>(data) + done, chunk(size - done), &n); break;
      case Op::write: ret = SSL_write_ex(ssl, data, chunk(size), &n); break;
    }
    if (ret == 1) {
      done += n;
      if (op == Op::read && done < size && records + 1 < kMaxRecordsPerStep) continue;  // more may be buffered
      return {TlsStep::done, done, {}};
    }
    const TlsStep s = failure(ret);
    if (op != Op::read || done == 0) return s;
    // Bytes were read before the socket ran dry or the stream ended: give them now; a failure
    // comes with the next read.
    if (s.kind == TlsStep::failed) pending = s.error;
    return {TlsStep::done, done, {}};
  }
}

TlsStep TlsStream::State::failure(int ret) {
  switch (SSL_get_error(ssl, ret)) {
    case SSL_ERROR_WANT_READ: return {TlsStep::want_read, 0, {}};
    case SSL_ERROR_WANT_WRITE: return {TlsStep::want_write, 0, {}};
    case SSL_ERROR_ZERO_RETURN: return {TlsStep::failed, 0, net::error::eof};  // close_notify
    case SSL_ERROR_SYSCALL:
      if (bio_data.last_errno != 0)
        return {TlsStep::failed, 0, boost::system::error_code(bio_data.last_errno, boost::system::system_category())};
      return {TlsStep::failed, 0, net::ssl::error::stream_truncated};
    default: break;
  }
  const unsigned long code = ERR_get_error();
  if (code == 0 || ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
    return {TlsStep::failed, 0, net::ssl::error::stream_truncated};  // closed without close_notify
  return {TlsStep::failed, 0, boost::system::error_code(static_cast<int>(code), net::error::get_ssl_category())};
}

}  // namespace venice_batch
