// Response decoding throughput: simdjson On-Demand parse + strict base64 decode + magic check
// of a realistic generate response (a real 1024x1024 WebP per image, 1 and 4 variants).
// Run: build/bench/bench_response --benchmark_min_time=1
// Arg pairs: variants, skimmed (1) or whole-document (0) parsing.
#include <benchmark/benchmark.h>

#include "venice_batch/base64.hpp"
#include "venice_batch/image_encode.hpp"
#include "venice_batch/response.hpp"

using namespace venice_batch;

namespace {

// A real 1024x1024 WebP (the emulator's encoder: a few hundred KB, like a generation): the
// decoder checks the container, so random bytes behind a RIFF header no longer pass.
std::vector<std::uint8_t> test_webp(std::uint32_t seed) { return encode_test_image(ImageFormat::webp, 1024, 1024, seed); }

HttpResponse make_response(int variants) {
  std::string body = R"({"id":"generate-image-1","images":[)";
  for (int i = 0; i < variants; ++i) {
    if (i) body += ",";
    body += '"';
    body += base64::encode(test_webp(static_cast<std::uint32_t>(i)));
    body += '"';
  }
  body += R"(],"timing":{"inferenceDuration":812,"inferencePreprocessingTime":3,"inferenceQueueTime":41,"total":860},)"
          R"("request":{"success":true,"data":{"model":"z-image-turbo","prompt":"a cat","width":1024,"height":1024}}})";
  HttpResponse r;
  r.status = 200;
  r.body = std::move(body);
  r.body.reserve(r.body.size() + 64);
  return r;
}

// Arg 0: variants; arg 1: 1 = the images skimmed out before simdjson (the default), 0 = the
// whole document through simdjson's stage 1 (as before the skim).
void BM_DecodeResponse(benchmark::State& state) {
  const int variants = static_cast<int>(state.range(0));
  const HttpResponse response = make_response(variants);
  ResponseDecoder decoder;
  if (state.range(1) == 0) decoder.set_skim_threshold(SIZE_MAX);
  for (auto _ : state) {
    auto r = decoder.decode(response, {ImageFormat::webp, variants, false});
    if (!r) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(response.body.size()));
  state.counters["body_KB"] = static_cast<double>(response.body.size()) / 1024.0;
}
BENCHMARK(BM_DecodeResponse)->Args({1, 0})->Args({1, 1})->Args({4, 0})->Args({4, 1})->Unit(benchmark::kMicrosecond);

}  // namespace
