// libFuzzer target: response decoding and API error parsing must never crash, hang or read
// out of bounds, whatever the server sends. The first byte picks the mode and headers.
#include <cstddef>
#include <cstdint>

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
  (void)decoded;
  auto err = parse_api_error(r.body);
  (void)err;
  return 0;
}
