#include "venice_batch/image_format.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>

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
std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
std::uint32_t be16(const std::uint8_t* p) { return (std::uint32_t{p[0]} << 8) | p[1]; }
std::uint32_t le16(const std::uint8_t* p) { return std::uint32_t{p[0]} | (std::uint32_t{p[1]} << 8); }
std::uint32_t le24(const std::uint8_t* p) { return le16(p) | (std::uint32_t{p[2]} << 16); }
}  // namespace

std::optional<ImageSize> probe_image_size(std::span<const std::uint8_t> b) {
  auto format = sniff_image_format(b);
  if (!format) return std::nullopt;
  switch (*format) {
    case ImageFormat::png:
      // Signature, then the IHDR chunk: length(4) "IHDR"(4) width(4) height(4).
      if (b.size() < 24 || std::memcmp(b.data() + 12, "IHDR", 4) != 0) return std::nullopt;
      return ImageSize{be32(b.data() + 16), be32(b.data() + 20)};
    case ImageFormat::jpeg: {
      std::size_t i = 2;
      while (i + 4 <= b.size()) {
        if (b[i] != 0xff) return std::nullopt;
        const std::uint8_t marker = b[i + 1];
        if (marker == 0xff) {  // fill byte
          ++i;
          continue;
        }
        if (marker == 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker == 0x01) {
          i += 2;
          continue;
        }
        const std::uint32_t len = be16(b.data() + i + 2);
        // SOF0..SOF15 carry the size, except DHT (C4), JPG (C8) and DAC (CC).
        if (marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc) {
          if (i + 9 > b.size()) return std::nullopt;
          return ImageSize{be16(b.data() + i + 7), be16(b.data() + i + 5)};
        }
        i += 2 + len;
      }
      return std::nullopt;
    }
    case ImageFormat::webp: {
      if (b.size() < 30) return std::nullopt;
      const std::uint8_t* c = b.data() + 12;
      if (std::memcmp(c, "VP8 ", 4) == 0) {
        // Frame header: 3 bytes tag, 3 bytes start code 9d 01 2a, then 14-bit width/height.
        if (c[11] != 0x9d || c[12] != 0x01 || c[13] != 0x2a) return std::nullopt;
        return ImageSize{le16(c + 14) & 0x3fff, le16(c + 16) & 0x3fff};
      }
      if (std::memcmp(c, "VP8L", 4) == 0) {
        if (c[8] != 0x2f) return std::nullopt;
        const std::uint32_t bits = std::uint32_t{c[9]} | (std::uint32_t{c[10]} << 8) | (std::uint32_t{c[11]} << 16) |
                                   (std::uint32_t{c[12]} << 24);
        return ImageSize{(bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1};
      }
      if (std::memcmp(c, "VP8X", 4) == 0) return ImageSize{le24(c + 12) + 1, le24(c + 15) + 1};
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace venice_batch
