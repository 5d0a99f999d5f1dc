#include "venice_batch/transport_error.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "venice_batch/decompress.hpp"

namespace venice_batch {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

bool is_certificate_error(const boost::system::error_code& ec) {
  if (ec.category() != net::error::get_ssl_category()) return false;
  return ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_CERTIFICATE_VERIFY_FAILED;
}

bool is_timeout(const boost::system::error_code& ec) {
  return ec == beast::error::timeout || ec == net::error::timed_out;
}

// A compressed body: its HTTP framing was fine, its content is not.
TransportError classify_decompress_error(const boost::system::error_code& ec) {
  switch (static_cast<DecompressError>(ec.value())) {
    case DecompressError::corrupt: return TransportError::body_corrupt;
    case DecompressError::truncated: return TransportError::body_truncated;
    case DecompressError::too_large: return TransportError::body_too_large;
    case DecompressError::unsupported_coding: return TransportError::unsupported_encoding;
  }
  return TransportError::body_corrupt;
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
    case TransportError::head_too_large: return "head_too_large";
    case TransportError::body_corrupt: return "body_corrupt";
    case TransportError::unsupported_encoding: return "unsupported_encoding";
    case TransportError::protocol_error: return "protocol_error";
    case TransportError::cancelled: return "cancelled";
  }
  return "unknown";
}

std::string_view to_string(ExchangeStep s) {
  switch (s) {
    case ExchangeStep::resolve: return "resolving the host";
    case ExchangeStep::connect: return "connecting";
    case ExchangeStep::tls_handshake: return "TLS handshake";
    case ExchangeStep::write: return "writing the request";
    case ExchangeStep::read_header: return "reading the response header";
    case ExchangeStep::read_body: return "reading the response body";
  }
  return "?";
}

bool is_connection_closed(const boost::system::error_code& ec) {
  return ec == http::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset ||
         ec == net::error::broken_pipe || ec == net::ssl::error::stream_truncated ||
         ec == net::error::connection_aborted;
}

TransportError classify_transport_error(const boost::system::error_code& ec, ExchangeStep step, bool cancelled) {
  if (cancelled) return TransportError::cancelled;
  if (is_timeout(ec)) return TransportError::timeout;
  if (ec.category() == decompress_error_category()) return classify_decompress_error(ec);
  switch (step) {
    case ExchangeStep::resolve:
      // The resolver's own deadline cancels it: still a failure to resolve.
      return TransportError::resolve_failed;
    case ExchangeStep::connect:
      return TransportError::connect_failed;
    case ExchangeStep::tls_handshake:
      return is_certificate_error(ec) ? TransportError::certificate_rejected : TransportError::tls_failed;
    case ExchangeStep::write:
      return TransportError::connection_lost;
    case ExchangeStep::read_header:
      if (ec == http::error::body_limit) return TransportError::body_too_large;
      if (ec == http::error::header_limit) return TransportError::head_too_large;
      if (ec.category() == http::make_error_code(http::error::bad_version).category() && !is_connection_closed(ec))
        return TransportError::protocol_error;
      return TransportError::connection_lost;
    case ExchangeStep::read_body:
      if (ec == http::error::body_limit) return TransportError::body_too_large;
      if (ec == http::error::partial_message || is_connection_closed(ec)) return TransportError::body_truncated;
      if (ec.category() == http::make_error_code(http::error::bad_version).category())
        return TransportError::protocol_error;
      return TransportError::body_truncated;
  }
  return TransportError::protocol_error;
}

}  // namespace venice_batch
