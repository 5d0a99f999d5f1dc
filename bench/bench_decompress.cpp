// What decoding a compressed answer costs the client: ContentDecoder (fed in 16 KB pieces, as
// the pool feeds it) against one-shot zlib inflate and BrotliDecoderDecompress into a
// preallocated buffer (the named baselines: the libraries alone), on a Venice-like answer (one
// 1024x1024 WebP of ~418 KB in base64, 557 KB of JSON), gzip at nginx's default level 1 and 6,
// br at 6. Bytes processed are the decoded bytes.
// Run: build/bench/bench_decompress --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <map>
#include <random>

#include <brotli/decode.h>
#include <zlib.h>

#include "../tests/compression_support.hpp"
#include "venice_batch/base64.hpp"
#include "venice_batch/decompress.hpp"

using namespace venice_batch;

namespace {

const std::string& answer() {
  static const std::string json = [] {
    std::mt19937 rng(7);
    std::vector<std::uint8_t> image(418 * 1024);
    for (auto& b : image) b = static_cast<std::uint8_t>(rng());
    return R"({"id":"generate-image-1","images":[")" + base64::encode(image) +
           R"("],"timing":{"inferenceDuration":812,"inferencePreprocessingTime":3,"inferenceQueueTime":41,"total":860}})";
  }();
  return json;
}

const std::string& encoded(ContentCoding coding, int level) {
  static std::map<std::pair<ContentCoding, int>, std::string> cache;
  auto& s = cache[{coding, level}];
  if (s.empty())
    s = coding == ContentCoding::gzip ? compression_test::gzip(answer(), level) : compression_test::brotli(answer(), level);
  return s;
}

void finish(benchmark::State& state, const std::string& wire) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * answer().size()));
  state.counters["wire_KB"] = static_cast<double>(wire.size()) / 1024.0;
}

void BM_ContentDecoder(benchmark::State& state) {
  const auto coding = static_cast<ContentCoding>(state.range(0));
  const std::string& wire = encoded(coding, static_cast<int>(state.range(1)));
  for (auto _ : state) {
    ContentDecoder d(coding, 64 << 20, wire.size());
    for (std::size_t at = 0; at < wire.size(); at += 16 * 1024)
      if (d.feed(std::string_view(wire).substr(at, 16 * 1024))) state.SkipWithError("decode failed");
    if (d.finish() || d.decoded_bytes() != answer().size()) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(d.take_body());
  }
  finish(state, wire);
}
BENCHMARK(BM_ContentDecoder)
    ->Args({static_cast<int>(ContentCoding::gzip), 1})
    ->Args({static_cast<int>(ContentCoding::gzip), 6})
    ->Args({static_cast<int>(ContentCoding::br), 6})
    ->Unit(benchmark::kMicrosecond);

void BM_ZlibInflateOneShot(benchmark::State& state) {
  const std::string& wire = encoded(ContentCoding::gzip, static_cast<int>(state.range(0)));
  std::string out(answer().size() + 64, '\0');
  for (auto _ : state) {
    z_stream z{};
    inflateInit2(&z, 15 + 16);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(wire.data()));
    z.avail_in = static_cast<uInt>(wire.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    if (inflate(&z, Z_FINISH) != Z_STREAM_END) state.SkipWithError("inflate failed");
    inflateEnd(&z);
    benchmark::DoNotOptimize(out.data());
  }
  finish(state, wire);
}
BENCHMARK(BM_ZlibInflateOneShot)->Arg(1)->Arg(6)->Unit(benchmark::kMicrosecond);

void BM_BrotliDecompressOneShot(benchmark::State& state) {
  const std::string& wire = encoded(ContentCoding::br, 6);
  std::string out(answer().size() + 64, '\0');
  for (auto _ : state) {
    std::size_t size = out.size();
    if (BrotliDecoderDecompress(wire.size(), reinterpret_cast<const std::uint8_t*>(wire.data()), &size,
                                reinterpret_cast<std::uint8_t*>(out.data())) != BROTLI_DECODER_RESULT_SUCCESS)
      state.SkipWithError("brotli failed");
    benchmark::DoNotOptimize(out.data());
  }
  finish(state, wire);
}
BENCHMARK(BM_BrotliDecompressOneShot)->Unit(benchmark::kMicrosecond);

}  // namespace
