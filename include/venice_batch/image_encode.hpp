// Real images for the emulator: deterministic pictures of a given size encoded
// with libwebp, libpng and libjpeg, so the client decodes, sniffs and measures
// the same kinds of bytes the API sends.
#pragma once

#include <cstdint>
#include <vector>

#include "venice_batch/image_format.hpp"

namespace venice_batch {

/// Encodes a deterministic width x height picture (pattern chosen by `seed`, with enough
/// texture that a 1024x1024 WebP is a few hundred KB like real generations).
/// Throws std::runtime_error if the codec fails.
std::vector<std::uint8_t> encode_test_image(ImageFormat format, std::uint32_t width, std::uint32_t height,
                                            std::uint32_t seed);

}  // namespace venice_batch
