// Image formats the API returns (WebP, PNG, JPEG): names, file extensions,
// MIME types, and recognition of a format from its magic bytes.
// Pure functions, no I/O; the sink and the response decoder build on them.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace venice_batch {

enum class ImageFormat : std::uint8_t { webp, png, jpeg };

/// "webp" / "png" / "jpeg" (the API's `format` values); nullopt for anything else.
std::optional<ImageFormat> parse_image_format(std::string_view name);
/// The API's name of the format: "webp", "png", "jpeg".
std::string_view to_string(ImageFormat f);
/// File extension without the dot: "webp", "png", "jpg".
std::string_view file_extension(ImageFormat f);
/// MIME type: "image/webp", "image/png", "image/jpeg".
std::string_view content_type(ImageFormat f);
/// The format named by a Content-Type header value (parameters ignored); nullopt if not an image type we know.
std::optional<ImageFormat> format_from_content_type(std::string_view value);
/// The format the bytes actually are, by their magic bytes; nullopt when they are no known image format.
std::optional<ImageFormat> sniff_image_format(std::span<const std::uint8_t> bytes);

struct ImageSize {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
};

/// What is wrong with bytes that claim to be an image.
enum class ImageDefect : std::uint8_t {
  none,
  unknown_format,  ///< no magic bytes of a format we know
  truncated,       ///< cut short: the container counts more bytes than there are, or has no end marker
  corrupt,         ///< no dimensions in the header, or container fields that contradict each other
};

/// The verdict on one image's bytes, from its container alone (no pixel decoding):
/// WebP: RIFF size within the bytes, chunks within the RIFF, a VP8/VP8L/VP8X header with dimensions;
/// PNG: signature, IHDR with dimensions, chunks that fit, IEND;
/// JPEG: SOI, segments that fit, a SOFn with dimensions before SOS, EOI at the end.
struct ImageCheck {
  std::optional<ImageFormat> format;  ///< by magic bytes; set even when defective (except unknown_format)
  ImageSize size;                     ///< meaningful when ok()
  ImageDefect defect = ImageDefect::unknown_format;
  bool ok() const { return defect == ImageDefect::none; }
};
ImageCheck check_image(std::span<const std::uint8_t> bytes);

/// Width and height of a whole image (check_image passed); nullopt for anything else.
std::optional<ImageSize> probe_image_size(std::span<const std::uint8_t> bytes);

}  // namespace venice_batch
