// Response decoding: turns a generate response into images checked by their
// magic bytes, or into an error value saying what was wrong. A successful JSON
// response is parsed with simdjson On-Demand in place and each images[k] is
// base64-decoded strictly; API error bodies (StandardError, DetailedError,
// the failure-lock text) are read for their message and kept verbatim.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include "venice_batch/http_response.hpp"
#include "venice_batch/image_format.hpp"

namespace venice_batch {

enum class ResponseError {
  invalid_json = 1,   ///< 200 whose body is not the documented JSON (retryable)
  missing_images,     ///< no `images` array, or not the number of variants asked for (retryable)
  invalid_base64,     ///< an images[k] that is not strict base64 (retryable)
  not_an_image,       ///< bytes of no known image format (retryable)
  wrong_format,       ///< a JSON-mode image whose magic bytes are not the requested format
};
const boost::system::error_category& response_error_category() noexcept;
boost::system::error_code make_error_code(ResponseError e) noexcept;

struct ServerTiming {
  double inference_ms = 0, preprocessing_ms = 0, queue_ms = 0, total_ms = 0;
};

struct DecodedImage {
  ImageFormat format = ImageFormat::webp;  ///< what the bytes actually are
  std::vector<std::uint8_t> bytes;
};

struct GenerateResult {
  std::string server_id;                ///< the response's `id` (absent in binary mode)
  std::optional<ServerTiming> timing;   ///< the response's `timing` (absent in binary mode)
  std::vector<DecodedImage> images;
  bool content_violation = false;       ///< x-venice-is-content-violation: true (images are placeholders)
};

/// What the client asked for, to check the answer against.
struct ExpectedImages {
  ImageFormat format = ImageFormat::webp;
  int variants = 1;
  bool return_binary = false;
};

/// Decodes 200 responses. Holds a simdjson On-Demand parser reused across calls: one
/// decoder per thread, never shared.
class ResponseDecoder {
 public:
  ResponseDecoder();
  ~ResponseDecoder();
  ResponseDecoder(const ResponseDecoder&) = delete;
  ResponseDecoder& operator=(const ResponseDecoder&) = delete;

  boost::system::result<GenerateResult> decode(const HttpResponse& response, const ExpectedImages& expected);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// An API error answer, as the user should see it.
struct ApiError {
  std::string message;     ///< `error` (a string), or `customMessage`, or a short excerpt of the body
  std::string body_json;   ///< the body verbatim when it is JSON (kept in results.jsonl), else empty
  std::string body_text;   ///< the body (truncated to 2 KB) when it is not JSON
  bool failure_lock = false;  ///< "Too many failed attempts": the API's 30 s failure lock
};

/// Reads any of the documented error body shapes; never fails (a non-JSON body becomes body_text).
ApiError parse_api_error(std::string_view body);

}  // namespace venice_batch

namespace boost::system {
template <>
struct is_error_code_enum<venice_batch::ResponseError> : std::true_type {};
}  // namespace boost::system
