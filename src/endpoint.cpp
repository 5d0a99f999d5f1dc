#include "venice_batch/endpoint.hpp"

#include <stdexcept>

#include <boost/url/parse.hpp>
#include <fmt/format.h>

namespace venice_batch {

HttpEndpoint HttpEndpoint::from_base_url(std::string_view base_url) {
  auto parsed = parse_base_url(base_url);
  if (!parsed) throw std::invalid_argument(parsed.error());
  return *parsed;
}

std::string HttpEndpoint::host_header() const { return port == "443" ? host : host + ":" + port; }

boost::system::result<HttpEndpoint, std::string> parse_base_url(std::string_view base_url) {
  using Result = boost::system::result<HttpEndpoint, std::string>;
  auto bad = [](std::string why) { return Result(boost::system::in_place_error, std::move(why)); };
  auto url = boost::urls::parse_absolute_uri(base_url);
  if (!url) return bad(fmt::format("base URL '{}' is not an absolute URL", base_url));
  if (url->scheme_id() != boost::urls::scheme::https)  // compared case-insensitively
    return bad(fmt::format("base URL '{}' must use https", base_url));
  if (url->has_userinfo())
    return bad("the base URL holds a user name or password (not shown); the API key goes in VENICE_API_KEY");
  if (url->has_query() || url->has_fragment())
    return bad(fmt::format("base URL '{}' has a query or fragment; give only https://host[:port]/path", base_url));
  HttpEndpoint ep;
  ep.host = url->encoded_host_address().decode();
  if (ep.host.empty()) return bad(fmt::format("base URL '{}' has no host", base_url));
  if (url->has_port()) {
    if (url->port_number() == 0) return bad(fmt::format("base URL '{}' has an invalid port", base_url));
    ep.port = std::string(url->port());
  }
  ep.path_prefix = std::string(url->encoded_path());
  while (!ep.path_prefix.empty() && ep.path_prefix.back() == '/') ep.path_prefix.pop_back();
  return ep;
}

}  // namespace venice_batch
