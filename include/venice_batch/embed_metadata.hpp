// Generation metadata inside the image file (issue 11): the prompt, model, seed, size and the
// server's request id as one JSON object, added as PNG iTXt, JPEG COM or WebP XMP. Only a chunk
// (and a WebP's VP8X header) is added: every original chunk or segment keeps its bytes, so the
// pixels decode exactly as before. Pure functions on bytes, no I/O. The caller decides when to
// embed: never into a content-violation placeholder, and it keeps the original bytes on an error.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include "venice_batch/image_bytes.hpp"
#include "venice_batch/image_format.hpp"

namespace venice_batch {

/// What goes into the image; empty strings and nullopt fields are left out. width/height are the
/// requested size, server_id the API's id for the request (its response header).
struct ImageMetadata {
  std::string prompt, negative_prompt, model, style_preset, server_id;
  std::optional<std::int64_t> seed;
  std::optional<std::int64_t> width, height, steps;
  std::optional<double> cfg_scale;  ///< left out when not finite
};

/// The metadata of one job from the request body sent to the API ("prompt", "negative_prompt",
/// "model", "seed", "width", "height", "steps", "cfg_scale", "style_preset"; fields of another
/// JSON type are left out) and the server's id. A body that is not a JSON object gives server_id alone.
ImageMetadata image_metadata_from_request(std::string_view request_body_json, std::string_view server_id);

/// The metadata as one compact JSON object with the field names of the request body plus
/// "server_id": the text embedded in every format. Valid UTF-8 whatever the inputs (ill-formed
/// bytes become U+FFFD).
std::string image_metadata_json(const ImageMetadata& meta);

/// The PNG iTXt keyword under which the JSON is stored (not "parameters": tools read that one as
/// the Stable Diffusion web UI's line format, which this JSON is not).
inline constexpr std::string_view kPngMetadataKeyword = "venice-batch";

/// A JPEG COM segment holds at most this many bytes of text. Longer metadata JSON is made to fit
/// by cutting the text fields longer than a common length (in practice the prompt) at a character
/// boundary and adding "truncated": true, so the comment stays valid JSON and valid UTF-8.
inline constexpr std::size_t kJpegCommentMaxBytes = 65533;

enum class EmbedError {
  wrong_format = 1,  ///< the bytes are not an image of the format given
  malformed_image,   ///< the container does not parse to its end (truncated or corrupt)
  webp_has_xmp,      ///< the WebP already carries XMP, which would be replaced: it is kept as it is
  webp_mux_failed,   ///< libwebpmux could not read or assemble the WebP
};
const boost::system::error_category& embed_error_category() noexcept;
boost::system::error_code make_error_code(EmbedError e) noexcept;

/// `image` with `meta` added as image_metadata_json:
/// PNG: one uncompressed iTXt chunk (keyword kPngMetadataKeyword) right after IHDR;
/// JPEG: one COM segment after SOI and the APPn segments that follow it (JFIF, Exif);
/// WebP: an "XMP " chunk (the JSON as dc:description) via libwebpmux; a simple VP8/VP8L file
/// gains the VP8X header chunk, the image chunks' bytes are unchanged.
/// The image must pass check_image as `format`; otherwise an EmbedError and nothing is changed.
/// A WebP comes back in libwebpmux's own buffer (not copied again: 418 KB per image).
boost::system::result<ImageBytes> embed_image_metadata(std::span<const std::uint8_t> image, ImageFormat format,
                                                       const ImageMetadata& meta);

}  // namespace venice_batch

namespace boost::system {
template <>
struct is_error_code_enum<venice_batch::EmbedError> : std::true_type {};
}  // namespace boost::system
