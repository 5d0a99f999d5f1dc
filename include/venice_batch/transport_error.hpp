// Why an HTTP exchange produced no response, and the one mapping from an
// error_code met at a given step of the exchange to that reason. Used by the
// pool (which meets the error codes) and by the attempt policy (which decides
// what each reason means for the job); no I/O here.
#pragma once

#include <string_view>

#include <boost/system/error_code.hpp>

namespace venice_batch {

enum class TransportError {
  none = 0,
  resolve_failed,
  connect_failed,        ///< refused, unreachable
  tls_failed,            ///< handshake failed for a reason other than the certificate
  certificate_rejected,  ///< the server's certificate or host name did not verify
  timeout,               ///< a resolve, connect, handshake or request deadline passed
  connection_lost,       ///< reset, or closed before the response was complete
  body_truncated,        ///< fewer body bytes than Content-Length, or a TLS stream cut short
  body_too_large,        ///< over max_body_bytes (compressed or, once decoded, decompressed)
  head_too_large,        ///< status line and headers over the pool's head limit (256 KiB)
  body_corrupt,          ///< a gzip or br body that does not decode (retryable: the next answer may)
  unsupported_encoding,  ///< a Content-Encoding the client cannot decode (zstd, compress): not retryable
  protocol_error,        ///< not parseable HTTP
  cancelled,             ///< cancel_all() was called
};
std::string_view to_string(TransportError e);

/// The steps of one exchange, in order. A failure before `write` means nothing reached the API.
enum class ExchangeStep { resolve, connect, tls_handshake, write, read_header, read_body };
std::string_view to_string(ExchangeStep s);

/// What failed, from the error code met at `step` (a DecompressError, decompress.hpp, included).
/// `cancelled`: the pool was told to cancel (cancel_all), which wins over whatever error the
/// cancellation produced.
TransportError classify_transport_error(const boost::system::error_code& ec, ExchangeStep step, bool cancelled);

/// The peer closed or reset the connection (on a reused keep-alive connection: the server
/// timed it out while it was idle).
bool is_connection_closed(const boost::system::error_code& ec);

}  // namespace venice_batch
