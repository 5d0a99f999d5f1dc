// One mapping from an error code met at a step of an exchange to what failed.
#include <gtest/gtest.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "venice_batch/endpoint.hpp"
#include "venice_batch/transport_error.hpp"

using namespace venice_batch;
namespace net = boost::asio;
namespace http = boost::beast::http;

TEST(TransportErrorTest, EachStepMapsItsFailures) {
  using S = ExchangeStep;
  using E = TransportError;
  EXPECT_EQ(classify_transport_error(net::error::host_not_found, S::resolve, false), E::resolve_failed);
  EXPECT_EQ(classify_transport_error(net::error::operation_aborted, S::resolve, false), E::resolve_failed);
  EXPECT_EQ(classify_transport_error(net::error::connection_refused, S::connect, false), E::connect_failed);
  EXPECT_EQ(classify_transport_error(boost::beast::error::timeout, S::connect, false), E::timeout);
  EXPECT_EQ(classify_transport_error(boost::beast::error::timeout, S::tls_handshake, false), E::timeout);
  EXPECT_EQ(classify_transport_error(net::error::connection_reset, S::tls_handshake, false), E::tls_failed);
  const boost::system::error_code cert(ERR_PACK(ERR_LIB_SSL, 0, SSL_R_CERTIFICATE_VERIFY_FAILED),
                                       net::error::get_ssl_category());
  EXPECT_EQ(classify_transport_error(cert, S::tls_handshake, false), E::certificate_rejected);
  EXPECT_EQ(classify_transport_error(net::error::broken_pipe, S::write, false), E::connection_lost);
  EXPECT_EQ(classify_transport_error(http::error::end_of_stream, S::read_header, false), E::connection_lost);
  EXPECT_EQ(classify_transport_error(http::error::bad_version, S::read_header, false), E::protocol_error);
  EXPECT_EQ(classify_transport_error(http::error::body_limit, S::read_body, false), E::body_too_large);
  EXPECT_EQ(classify_transport_error(http::error::partial_message, S::read_body, false), E::body_truncated);
  EXPECT_EQ(classify_transport_error(net::ssl::error::stream_truncated, S::read_body, false), E::body_truncated);
  EXPECT_EQ(classify_transport_error(net::error::eof, S::read_body, false), E::body_truncated);
  EXPECT_EQ(classify_transport_error(boost::beast::error::timeout, S::read_body, false), E::timeout);
}

TEST(TransportErrorTest, CancellationWinsOverTheErrorItCaused) {
  EXPECT_EQ(classify_transport_error(net::error::operation_aborted, ExchangeStep::read_body, true),
            TransportError::cancelled);
  EXPECT_EQ(classify_transport_error(net::error::bad_descriptor, ExchangeStep::write, true), TransportError::cancelled);
}

TEST(EndpointTest, BaseUrlIsParsedOrRefusedWithTheReason) {
  auto ep = parse_base_url("https://api.venice.ai/api/v1/");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->host, "api.venice.ai");
  EXPECT_EQ(ep->port, "443");
  EXPECT_EQ(ep->path_prefix, "/api/v1");
  EXPECT_EQ(ep->host_header(), "api.venice.ai");
  auto upper = parse_base_url("HTTPS://127.0.0.1:8443/x");
  ASSERT_TRUE(upper) << "schemes are case-insensitive";
  EXPECT_EQ(upper->host_header(), "127.0.0.1:8443");
  EXPECT_NE(parse_base_url("http://api.venice.ai/api/v1").error().find("https"), std::string::npos);
  EXPECT_NE(parse_base_url("https://u:pw@api.venice.ai/api/v1").error().find("password"), std::string::npos);
  EXPECT_NE(parse_base_url("https://api.venice.ai/api/v1?x=1").error().find("query"), std::string::npos);
  EXPECT_FALSE(parse_base_url("not a url"));
  EXPECT_FALSE(parse_base_url("https:///nohost"));
}
