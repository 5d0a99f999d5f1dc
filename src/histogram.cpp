#include "venice_batch/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace venice_batch {

// Bucket layout: values below 2*kSub are exact (magnitude 0 covers [0, 2*kSub) in steps of 1
// using two halves); above, magnitude m >= 1 covers [kSub << m, kSub << (m+1)) in kSub steps of 2^m.
std::size_t LatencyHistogram::bucket_of(std::uint64_t v) noexcept {
  if (v < kSub) return static_cast<std::size_t>(v);
  const unsigned top = 63u - static_cast<unsigned>(std::countl_zero(v));  // v >= 2^top
  unsigned m = top - kSubBits + 1;                                          // v in [kSub<<(m-1), kSub<<m)
  if (m >= kMagnitudes) return kBuckets - 1;
  const std::uint64_t sub = (v >> (m - 1)) - kSub;  // 0..kSub-1 within the magnitude
  return static_cast<std::size_t>(m) * kSub + static_cast<std::size_t>(sub);
}

std::uint64_t LatencyHistogram::representative(std::size_t bucket) noexcept {
  const std::size_t m = bucket / kSub, sub = bucket % kSub;
  if (m == 0) return sub;
  const std::uint64_t width = 1ull << (m - 1);
  const std::uint64_t low = (static_cast<std::uint64_t>(kSub) + sub) << (m - 1);
  return low + width / 2;  // middle of the bucket: error at most half a width, < 0.4%
}

void LatencyHistogram::record(std::uint64_t value) noexcept {
  ++counts_[bucket_of(value)];
  ++count_;
  sum_ += value;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

std::uint64_t LatencyHistogram::value_at_percentile(double p) const noexcept {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  // Rank of the value (1-based), as the sorted-array definition: ceil(p/100 * n), at least 1.
  auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  if (rank == count_) return max_;  // the top value is kept exactly
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < kBuckets; ++b) {
    seen += counts_[b];
    if (seen >= rank) {
      if (b == kBuckets - 1) return max_;  // the overflow bucket has no representative value
      return std::clamp(representative(b), min(), max_);
    }
  }
  return max_;
}

void LatencyHistogram::merge(const LatencyHistogram& other) noexcept {
  for (std::size_t b = 0; b < kBuckets; ++b) counts_[b] += other.counts_[b];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void LatencyHistogram::reset() noexcept { *this = LatencyHistogram{}; }

}  // namespace venice_batch
