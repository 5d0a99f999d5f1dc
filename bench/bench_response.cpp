// Response decoding throughput: simdjson On-Demand parse + strict base64 decode + magic check
// of a realistic generate response (1024x1024 WebP of ~350 KB per image, 1 and 4 variants).
// Run: build/bench/bench_response --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <random>

#include "venice_batch/base64.hpp"
#include "venice_batch/response.hpp"

using namespace venice_batch;

namespace {

std::vector<std::uint8_t> fake_webp(std::size_t size, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> b(size);
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  const char hdr[] = "RIFF\x10\x00\x00\x00WEBPVP8 ";
  std::copy(hdr, hdr + 16, b.begin());
  return b;
}

HttpResponse make_response(int variants) {
  std::string body = R"({"id":"generate-image-1","images":[)";
  for (int i = 0; i < variants; ++i) {
    if (i) body += ",";
    body += '"';
    body += base64::encode(fake_webp(350 * 1024, static_cast<std::uint32_t>(i)));
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

void BM_DecodeResponse(benchmark::State& state) {
  const int variants = static_cast<int>(state.range(0));
  const HttpResponse response = make_response(variants);
  ResponseDecoder decoder;
  for (auto _ : state) {
    auto r = decoder.decode(response, {ImageFormat::webp, variants, false});
    if (!r) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(response.body.size()));
  state.counters["body_KB"] = static_cast<double>(response.body.size()) / 1024.0;
}
BENCHMARK(BM_DecodeResponse)->Arg(1)->Arg(4)->Unit(benchmark::kMicrosecond);

}  // namespace
