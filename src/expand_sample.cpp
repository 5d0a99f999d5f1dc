// Sampling a sweep without replacement and without materialising it: a seeded pseudo-random
// permutation of the combination indices (a Feistel network, cycle-walked into range), whose
// first N values are the sample. splitmix64 is the only source of randomness: integer-only,
// so a spec and a sample seed give the same manifest on every machine and compiler.
#include <bit>

#include "venice_batch/expand.hpp"

namespace venice_batch {
namespace {

constexpr int kRounds = 6;

/// splitmix64's output function: a strong 64-bit mixer.
std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

std::uint64_t splitmix64(std::uint64_t& state) { return mix(state += 0x9e3779b97f4a7c15ULL); }

IndexPermutation::IndexPermutation(std::uint64_t size, std::uint64_t seed) : size_(size) {
  if (size_ <= 1) return;
  const unsigned bits = 64 - std::countl_zero(size_ - 1);  // enough for the largest index
  half_bits_ = (bits + 1) / 2;
  half_mask_ = (std::uint64_t{1} << half_bits_) - 1;
  std::uint64_t state = seed ^ mix(size_);  // another sweep size, another permutation
  for (auto& k : keys_) k = splitmix64(state);
}

std::uint64_t IndexPermutation::operator()(std::uint64_t index) const {
  if (size_ <= 1) return index;
  // A balanced Feistel network is a bijection of [0, 4^half_bits); applied again until the value
  // falls below size_ ("cycle walking") it is a bijection of [0, size_). Fewer than 4 tries on average.
  std::uint64_t x = index;
  do {
    std::uint64_t left = x >> half_bits_, right = x & half_mask_;
    for (int r = 0; r < kRounds; ++r) {
      const std::uint64_t next = left ^ (mix(right ^ keys_[r]) & half_mask_);
      left = right;
      right = next;
    }
    x = (left << half_bits_) | right;
  } while (x >= size_);
  return x;
}

}  // namespace venice_batch
