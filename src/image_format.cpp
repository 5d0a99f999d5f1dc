#include "venice_batch/image_format.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>

#include <zlib.h>

namespace venice_batch {

std::optional<ImageFormat> parse_image_format(std::string_view name) {
  if (name == "webp") return ImageFormat::webp;
  if (name == "png") return ImageFormat::png;
  if (name == "jpeg") return ImageFormat::jpeg;
  return std::nullopt;
}

std::string_view to_string(ImageFormat f) {
  switch (f) {
    case ImageFormat::webp: return "webp";
    case ImageFormat::png: return "png";
    case ImageFormat::jpeg: return "jpeg";
  }
  return "webp";
}

std::string_view file_extension(ImageFormat f) { return f == ImageFormat::jpeg ? "jpg" : to_string(f); }

std::string_view content_type(ImageFormat f) {
  switch (f) {
    case ImageFormat::webp: return "image/webp";
    case ImageFormat::png: return "image/png";
    case ImageFormat::jpeg: return "image/jpeg";
  }
  return "application/octet-stream";
}

std::optional<ImageFormat> format_from_content_type(std::string_view value) {
  auto semi = value.find(';');
  if (semi != std::string_view::npos) value = value.substr(0, semi);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  std::string lower(value);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower == "image/webp") return ImageFormat::webp;
  if (lower == "image/png") return ImageFormat::png;
  if (lower == "image/jpeg" || lower == "image/jpg") return ImageFormat::jpeg;
  return std::nullopt;
}

std::optional<ImageFormat> sniff_image_format(std::span<const std::uint8_t> b) {
  static constexpr std::uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
  if (b.size() >= 8 && std::memcmp(b.data(), png_sig, 8) == 0) return ImageFormat::png;
  if (b.size() >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) return ImageFormat::jpeg;
  if (b.size() >= 12 && std::memcmp(b.data(), "RIFF", 4) == 0 && std::memcmp(b.data() + 8, "WEBP", 4) == 0)
    return ImageFormat::webp;
  return std::nullopt;
}

namespace {
using Bytes = std::span<const std::uint8_t>;

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
std::uint32_t be16(const std::uint8_t* p) { return (std::uint32_t{p[0]} << 8) | p[1]; }
std::uint32_t le16(const std::uint8_t* p) { return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8); }
std::uint32_t le24(const std::uint8_t* p) { return le16(p) | (std::uint32_t{p[2]} << 16); }
std::uint32_t le32(const std::uint8_t* p) { return le24(p) | (std::uint32_t{p[3]} << 24); }

ImageCheck verdict(ImageFormat f, ImageDefect defect, ImageSize size = {}) {
  if (defect == ImageDefect::none && (size.width == 0 || size.height == 0)) defect = ImageDefect::corrupt;
  return ImageCheck{f, size, defect};
}

// Chunks: length(4, big-endian) type(4) data crc(4). IHDR first, IEND last.
ImageCheck check_png(Bytes b) {
  constexpr auto f = ImageFormat::png;
  if (b.size() < 8 + 8 + 13) return verdict(f, ImageDefect::truncated);
  if (be32(b.data() + 8) != 13 || std::memcmp(b.data() + 12, "IHDR", 4) != 0) return verdict(f, ImageDefect::corrupt);
  const ImageSize size{be32(b.data() + 16), be32(b.data() + 20)};
  if (size.width > 0x7fffffff || size.height > 0x7fffffff) return verdict(f, ImageDefect::corrupt);
  // Every chunk's CRC (of its type and data) must match, and pixels (IDAT) must come before IEND:
  // a PNG with a chunk damaged in place, or with no image data, is refused by any strict reader.
  bool saw_idat = false;
  for (std::size_t pos = 8;;) {
    if (b.size() - pos < 12) return verdict(f, ImageDefect::truncated);
    const std::uint32_t len = be32(b.data() + pos);
    if (len > 0x7fffffff) return verdict(f, ImageDefect::corrupt);
    if (b.size() - pos - 12 < len) return verdict(f, ImageDefect::truncated);
    const std::uint8_t* type = b.data() + pos + 4;
    if (::crc32(0L, type, 4 + len) != be32(type + 4 + len)) return verdict(f, ImageDefect::corrupt);
    if (std::memcmp(type, "IDAT", 4) == 0) saw_idat = true;
    if (std::memcmp(type, "IEND", 4) == 0)
      return verdict(f, len == 0 && saw_idat ? ImageDefect::none : ImageDefect::corrupt, size);
    pos += 12 + std::size_t{len};
  }
}

// Segments: FF marker [length(2, big-endian, counting itself) data]. The size is in a SOFn
// before the first SOS; entropy-coded data follows up to EOI (FF D9), which cannot occur
// inside it (an FF there is always followed by 00 or a restart marker).
ImageCheck check_jpeg(Bytes b) {
  constexpr auto f = ImageFormat::jpeg;
  std::optional<ImageSize> size;
  std::size_t i = 2;
  for (;;) {
    if (b.size() - i < 2) return verdict(f, ImageDefect::truncated);
    if (b[i] != 0xff) return verdict(f, ImageDefect::corrupt);
    const std::uint8_t marker = b[i + 1];
    if (marker == 0xff) {  // fill byte
      ++i;
      continue;
    }
    if ((marker >= 0xd0 && marker <= 0xd7) || marker == 0x01) {  // no length
      i += 2;
      continue;
    }
    if (marker == 0xd8 || marker == 0xd9) return verdict(f, ImageDefect::corrupt);  // SOI or EOI before SOS
    if (b.size() - i < 4) return verdict(f, ImageDefect::truncated);
    const std::uint32_t len = be16(b.data() + i + 2);
    if (len < 2) return verdict(f, ImageDefect::corrupt);
    if (b.size() - i - 2 < len) return verdict(f, ImageDefect::truncated);
    // SOF0..SOF15 carry the size, except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc) {
      if (len < 8) return verdict(f, ImageDefect::corrupt);
      size = ImageSize{be16(b.data() + i + 7), be16(b.data() + i + 5)};
    }
    i += 2 + len;
    if (marker == 0xda) break;  // SOS: entropy-coded data follows
  }
  if (!size) return verdict(f, ImageDefect::corrupt);
  // EOI at the end; a few trailing bytes (padding) are tolerated, a cut in the scan data is not.
  constexpr std::size_t kTail = 32;
  for (std::size_t k = b.size() - std::min(b.size() - i, kTail); k + 1 < b.size(); ++k) {
    if (b[k] == 0xff && b[k + 1] == 0xd9) return verdict(f, ImageDefect::none, *size);
  }
  return verdict(f, ImageDefect::truncated);
}

// The dimensions in the first chunk's header: VP8 (lossy key frame), VP8L (lossless) or VP8X (extended).
std::optional<ImageSize> webp_chunk_size(const std::uint8_t* fourcc, const std::uint8_t* d, std::uint32_t len) {
  if (std::memcmp(fourcc, "VP8 ", 4) == 0) {
    // Frame tag (3 bytes, bit 0 clear on a key frame), start code 9d 01 2a, 14-bit width and height.
    if (len < 10 || (d[0] & 1) != 0 || d[3] != 0x9d || d[4] != 0x01 || d[5] != 0x2a) return std::nullopt;
    return ImageSize{le16(d + 6) & 0x3fff, le16(d + 8) & 0x3fff};
  }
  if (std::memcmp(fourcc, "VP8L", 4) == 0) {
    if (len < 5 || d[0] != 0x2f) return std::nullopt;
    const std::uint32_t bits = le32(d + 1);
    return ImageSize{(bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1};
  }
  if (std::memcmp(fourcc, "VP8X", 4) == 0) {
    if (len < 10) return std::nullopt;
    return ImageSize{le24(d + 4) + 1, le24(d + 7) + 1};
  }
  return std::nullopt;
}

// "RIFF" size(4, little-endian, counting from "WEBP") "WEBP", then chunks: fourcc size data [pad].
ImageCheck check_webp(Bytes b) {
  constexpr auto f = ImageFormat::webp;
  const std::uint32_t riff = le32(b.data() + 4);
  if (riff < 4 + 8) return verdict(f, ImageDefect::corrupt);
  if (b.size() - 8 < riff) return verdict(f, ImageDefect::truncated);
  const std::size_t end = 8 + std::size_t{riff};
  std::optional<ImageSize> size;
  bool has_image_data = false;
  for (std::size_t pos = 12; pos < end;) {
    if (end - pos < 8) return verdict(f, ImageDefect::corrupt);
    const std::uint8_t* fourcc = b.data() + pos;
    const std::uint32_t len = le32(fourcc + 4);
    if (end - pos - 8 < len) return verdict(f, ImageDefect::corrupt);
    if (pos == 12) {
      size = webp_chunk_size(fourcc, fourcc + 8, len);
      if (!size) return verdict(f, ImageDefect::corrupt);
    }
    has_image_data = has_image_data || std::memcmp(fourcc, "VP8 ", 4) == 0 || std::memcmp(fourcc, "VP8L", 4) == 0 ||
                     std::memcmp(fourcc, "ANMF", 4) == 0;
    pos += 8 + std::size_t{len} + (len & 1);
  }
  if (!size || !has_image_data) return verdict(f, ImageDefect::corrupt);
  return verdict(f, ImageDefect::none, *size);
}
}  // namespace

ImageCheck check_image(std::span<const std::uint8_t> bytes) {
  auto format = sniff_image_format(bytes);
  if (!format) return ImageCheck{};
  switch (*format) {
    case ImageFormat::png: return check_png(bytes);
    case ImageFormat::jpeg: return check_jpeg(bytes);
    case ImageFormat::webp: return check_webp(bytes);
  }
  return ImageCheck{};
}

std::optional<ImageSize> probe_image_size(std::span<const std::uint8_t> bytes) {
  auto check = check_image(bytes);
  if (!check.ok()) return std::nullopt;
  return check.size;
}

}  // namespace venice_batch
