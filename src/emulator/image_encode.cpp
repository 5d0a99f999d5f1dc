#include "venice_batch/image_encode.hpp"

#include <cstdio>
#include <cstring>
#include <stdexcept>

#include <jpeglib.h>
#include <png.h>
#include <webp/encode.h>

namespace venice_batch {
namespace {

// A smooth gradient with hashed texture: compresses like a photograph rather than like a flat
// fill, so response sizes (and the client's decode work) are realistic.
std::vector<std::uint8_t> make_pixels(std::uint32_t w, std::uint32_t h, std::uint32_t seed) {
  std::vector<std::uint8_t> rgb(static_cast<std::size_t>(w) * h * 3);
  std::uint32_t state = seed * 2654435761u + 1;
  for (std::uint32_t y = 0; y < h; ++y) {
    for (std::uint32_t x = 0; x < w; ++x) {
      state ^= state << 13;
      state ^= state >> 17;
      state ^= state << 5;
      const std::uint32_t noise = state & 0x3f;
      std::uint8_t* p = &rgb[(static_cast<std::size_t>(y) * w + x) * 3];
      p[0] = static_cast<std::uint8_t>((x * 255 / (w ? w : 1) + seed * 40 + noise) & 0xff);
      p[1] = static_cast<std::uint8_t>((y * 255 / (h ? h : 1) + noise / 2) & 0xff);
      p[2] = static_cast<std::uint8_t>(((x + y) * 128 / (w + h) + seed * 90 + noise) & 0xff);
    }
  }
  return rgb;
}

std::vector<std::uint8_t> encode_webp(const std::vector<std::uint8_t>& rgb, std::uint32_t w, std::uint32_t h) {
  std::uint8_t* out = nullptr;
  const std::size_t n = WebPEncodeRGB(rgb.data(), static_cast<int>(w), static_cast<int>(h), static_cast<int>(w * 3), 80.0f, &out);
  if (n == 0) throw std::runtime_error("WebP encoding failed");
  std::vector<std::uint8_t> bytes(out, out + n);
  WebPFree(out);
  return bytes;
}

void png_append(png_structp png, png_bytep data, png_size_t n) {
  auto* out = static_cast<std::vector<std::uint8_t>*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + n);
}

std::vector<std::uint8_t> encode_png(const std::vector<std::uint8_t>& rgb, std::uint32_t w, std::uint32_t h) {
  std::vector<std::uint8_t> out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info) throw std::runtime_error("PNG encoder setup failed");
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    throw std::runtime_error("PNG encoding failed");
  }
  png_set_write_fn(png, &out, png_append, nullptr);
  png_set_compression_level(png, 1);  // fast: the emulator encodes once per size and caches
  png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (std::uint32_t y = 0; y < h; ++y)
    png_write_row(png, const_cast<png_bytep>(&rgb[static_cast<std::size_t>(y) * w * 3]));
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

std::vector<std::uint8_t> encode_jpeg(const std::vector<std::uint8_t>& rgb, std::uint32_t w, std::uint32_t h) {
  jpeg_compress_struct c{};
  jpeg_error_mgr err{};
  c.err = jpeg_std_error(&err);
  err.error_exit = [](j_common_ptr) { throw std::runtime_error("JPEG encoding failed"); };
  jpeg_create_compress(&c);
  unsigned char* mem = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &mem, &size);
  c.image_width = w;
  c.image_height = h;
  c.input_components = 3;
  c.in_color_space = JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 85, TRUE);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(&rgb[static_cast<std::size_t>(c.next_scanline) * w * 3]);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  std::vector<std::uint8_t> out(mem, mem + size);
  jpeg_destroy_compress(&c);
  std::free(mem);
  return out;
}

}  // namespace

std::vector<std::uint8_t> encode_test_image(ImageFormat format, std::uint32_t width, std::uint32_t height,
                                            std::uint32_t seed) {
  if (width == 0 || height == 0 || width > 8192 || height > 8192) throw std::runtime_error("bad image size");
  const auto rgb = make_pixels(width, height, seed);
  switch (format) {
    case ImageFormat::webp: return encode_webp(rgb, width, height);
    case ImageFormat::png: return encode_png(rgb, width, height);
    case ImageFormat::jpeg: return encode_jpeg(rgb, width, height);
  }
  throw std::runtime_error("unknown format");
}

}  // namespace venice_batch
