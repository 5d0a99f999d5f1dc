// What the HTTP client pool hands to response decoding: status, the headers we
// care about (lower-cased names) and the body. Plain data, no Beast types.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace venice_batch {

struct HttpResponse {
  int status = 0;
  /// Header fields with lower-cased names, in arrival order.
  std::vector<std::pair<std::string, std::string>> headers;
  /// The body, decoded from its Content-Encoding (the header stays as it came). Its capacity()
  /// is at least size() + 64 so simdjson can parse it in place.
  std::string body;

  /// The first value of header `lower_name`, if present.
  std::optional<std::string_view> header(std::string_view lower_name) const {
    for (const auto& [name, value] : headers)
      if (name == lower_name) return std::string_view(value);
    return std::nullopt;
  }
};

}  // namespace venice_batch
