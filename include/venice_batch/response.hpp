// Response decoding: turns a generate response into images checked by their
// container check (magic bytes, length fields, dimensions), or into an error value saying
// what was wrong. A successful JSON response is parsed with simdjson On-Demand in place and
// each images[k] is base64-decoded strictly; API error bodies (StandardError, DetailedError,
// the failure-lock text) are read for their message and kept, valid UTF-8 and capped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include "venice_batch/http_response.hpp"
#include "venice_batch/image_bytes.hpp"
#include "venice_batch/image_format.hpp"

namespace venice_batch {

enum class ResponseError {
  invalid_json = 1,   ///< 200 whose body is not the documented JSON (retryable)
  missing_images,     ///< no `images` array, or not the number of variants asked for (retryable)
  invalid_base64,     ///< an images[k] that is not strict base64 (retryable)
  not_an_image,       ///< bytes of no known image format (retryable)
  truncated_image,    ///< an image cut short: more bytes counted than sent, or no end marker (retryable)
  corrupt_image,      ///< an image with no dimensions in its header, or a self-contradicting container (retryable)
};
/// The error's name as written in results.jsonl: "invalid_json", "truncated_image", ...
std::string_view to_string(ResponseError e);
const boost::system::error_category& response_error_category() noexcept;
boost::system::error_code make_error_code(ResponseError e) noexcept;

struct ServerTiming {
  double inference_ms = 0, preprocessing_ms = 0, queue_ms = 0, total_ms = 0;
};

/// An image as its bytes are: the format is the one they are (by magic bytes), which may differ
/// from the one asked for (VENICE_API.md: the bytes decide); the caller records both.
struct DecodedImage {
  ImageFormat format = ImageFormat::webp;  ///< what the bytes actually are
  ImageSize size;                          ///< from the image header
  ImageBytes bytes;                        ///< a std::span<const std::uint8_t> converts from it
};

struct GenerateResult {
  std::string server_id;                ///< the response's `id` (absent in binary mode)
  std::optional<ServerTiming> timing;   ///< the response's `timing` (absent in binary mode)
  std::vector<DecodedImage> images;
  bool content_violation = false;       ///< x-venice-is-content-violation: true (images are placeholders)
  bool blurred = false;                 ///< x-venice-is-blurred: true (the filter blurred the images; billed)
  /// `request.data.prompt` when the answer echoes the request (it may not: `request` can be null).
  std::optional<std::string> echoed_prompt;
  /// `request.data.seed` when echoed as an integer (the API fills a random one when none was sent).
  std::optional<std::int64_t> echoed_seed;
  /// `request.data.model` when echoed as a string.
  std::optional<std::string> echoed_model;
};

/// What the client asked for, to check the answer against.
struct ExpectedImages {
  ImageFormat format = ImageFormat::webp;
  int variants = 1;
  bool return_binary = false;
  /// The request's width x height, when it gives both: an image of another size is kept, and
  /// its file record says what was asked (the bytes decide, as for the format).
  std::optional<ImageSize> size = std::nullopt;
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

  /// Strings of at least this many bytes (the base64 images) are skimmed out of the document
  /// before simdjson indexes it (response.cpp says why). Tests and the fuzzer lower it, or turn
  /// it off with SIZE_MAX, to compare both ways on the same input.
  static constexpr std::size_t kDefaultSkimBytes = 256;
  void set_skim_threshold(std::size_t bytes);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// At most this much of an API error body is kept (results.jsonl): a server that answers with a
/// 5 MB error must not make a 5 MB journal line. Change it here; nothing else assumes its value.
inline constexpr std::size_t kApiBodyKeptBytes = 8 * 1024;
/// At most this much of the error message taken from the body is kept (then "… (N bytes cut)").
inline constexpr std::size_t kApiMessageKeptBytes = 1024;

/// An API error answer, as the user should see it. Every field is valid UTF-8 (ill-formed bytes
/// replaced by U+FFFD) and cut at a character boundary; the message may still hold control
/// characters: escape it (escape_for_terminal) before printing.
struct ApiError {
  std::string message;     ///< `error` (a string), or `customMessage`, or an excerpt of the body; capped
  std::string body_json;   ///< the body minified when it is JSON of at most kApiBodyKeptBytes, else empty
  std::string body_text;   ///< the body's first kApiBodyKeptBytes when it is not JSON or too long to keep whole
  bool body_truncated = false;  ///< body_text is only the start of the body
  bool failure_lock = false;  ///< "Too many failed attempts": the API's 30 s failure lock
};

/// Reads any of the documented error body shapes; never fails (a non-JSON body becomes body_text).
ApiError parse_api_error(std::string_view body);

}  // namespace venice_batch

namespace boost::system {
template <>
struct is_error_code_enum<venice_batch::ResponseError> : std::true_type {};
}  // namespace boost::system
