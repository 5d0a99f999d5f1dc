// libFuzzer target: response decoding and API error parsing must never crash, hang or read
// out of bounds, whatever the server sends. The first byte picks the mode and headers.
#include <cstddef>
#include <algorithm>
#include <cstdint>
#include <cstddef>

#include "venice_batch/response.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace venice_batch;
  static ResponseDecoder decoder;
  if (size == 0) return 0;
  const std::uint8_t flags = data[0];
  HttpResponse r;
  r.status = 200;
  if (flags & 1) r.headers.emplace_back("x-venice-is-content-violation", "true");
  r.body.assign(reinterpret_cast<const char*>(data + 1), size - 1);
  r.body.reserve(r.body.size() + 64);
  ExpectedImages expected;
  expected.return_binary = (flags & 2) != 0;
  expected.variants = 1 + ((flags >> 2) & 3);
  expected.format = static_cast<ImageFormat>((flags >> 4) % 3);
  auto decoded = decoder.decode(r, expected);
  // Differential: long strings skimmed out before simdjson (a low threshold, so small inputs
  // have some) must succeed or fail as the whole document parsed by simdjson, with the same
  // images. On a broken document the two may name different errors (simdjson's On-Demand finds
  // structural errors lazily, and the skeleton's strings are shorter): both fail, which is what
  // the run acts on (a retryable decode error either way).
  static ResponseDecoder skimming, whole;
  skimming.set_skim_threshold(4);
  whole.set_skim_threshold(SIZE_MAX);
  auto a = skimming.decode(r, expected);
  auto b = whole.decode(r, expected);
  if (a.has_value() != b.has_value()) __builtin_trap();
  if (a) {
    if (a->images.size() != b->images.size() || a->server_id != b->server_id) __builtin_trap();
    for (std::size_t i = 0; i < a->images.size(); ++i)
      if (a->images[i].bytes.size() != b->images[i].bytes.size() ||
          !std::equal(a->images[i].bytes.begin(), a->images[i].bytes.end(), b->images[i].bytes.begin()))
        __builtin_trap();
  }
  (void)decoded;
  auto err = parse_api_error(r.body);
  (void)err;
  return 0;
}
