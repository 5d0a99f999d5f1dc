// Base64 decode throughput on realistic payloads: the project's decoder (AVX2 path with its
// scalar fallback) beside OpenSSL's EVP_DecodeBlock, the named baseline, in the same run.
// Run: build/bench/bench_base64 --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <random>

#include <openssl/evp.h>

#include "venice_batch/base64.hpp"

using namespace venice_batch;

namespace {

// One 1024x1024 WebP generation is ~350 KB of bytes, ~470 KB of base64; a 4-variant
// response carries four of them.
const std::string& payload(std::size_t images) {
  static std::map<std::size_t, std::string> cache;
  auto& s = cache[images];
  if (s.empty()) {
    std::mt19937 rng(1);
    std::vector<std::uint8_t> bytes(images * 350 * 1024);
    for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
    s = base64::encode(bytes);
  }
  return s;
}

void BM_Decode_Project(benchmark::State& state) {
  const auto& in = payload(static_cast<std::size_t>(state.range(0)));
  std::vector<std::uint8_t> out(base64::max_decoded_size(in.size()));
  for (auto _ : state) {
    auto n = base64::decode(in, out.data());
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * in.size()));
}

void BM_Decode_ProjectScalar(benchmark::State& state) {
  const auto& in = payload(static_cast<std::size_t>(state.range(0)));
  std::vector<std::uint8_t> out(base64::max_decoded_size(in.size()));
  for (auto _ : state) {
    auto n = base64::decode_scalar(in, out.data());
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * in.size()));
}

void BM_Decode_OpenSSL_EVP_DecodeBlock(benchmark::State& state) {
  const auto& in = payload(static_cast<std::size_t>(state.range(0)));
  std::vector<std::uint8_t> out(base64::max_decoded_size(in.size()) + 4);
  for (auto _ : state) {
    int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
    benchmark::DoNotOptimize(n);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * in.size()));
}

}  // namespace

BENCHMARK(BM_Decode_Project)->Arg(1)->Arg(4)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Decode_ProjectScalar)->Arg(1)->Arg(4)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Decode_OpenSSL_EVP_DecodeBlock)->Arg(1)->Arg(4)->Unit(benchmark::kMicrosecond);
