// Where requests go: the configured base URL, parsed and checked in one place
// (config validation and the HTTP pool both use parse_base_url).
#pragma once

#include <string>
#include <string_view>

#include <boost/system/result.hpp>

namespace venice_batch {

struct HttpEndpoint {
  std::string host;         ///< name or IP literal; verified against the certificate
  std::string port = "443";
  std::string path_prefix;  ///< e.g. "/api/v1" (no trailing slash)
  /// The Host header: host, plus ":port" unless 443.
  std::string host_header() const;
  /// parse_base_url, throwing std::invalid_argument with its message (for start-up code).
  static HttpEndpoint from_base_url(std::string_view base_url);
};

/// Parses "https://host[:port]/prefix" (scheme case-insensitive). Refuses anything else
/// (http, no host, a query, a fragment, user:password@) with a message naming the problem,
/// rather than dropping part of what the user wrote.
boost::system::result<HttpEndpoint, std::string> parse_base_url(std::string_view base_url);

}  // namespace venice_batch
