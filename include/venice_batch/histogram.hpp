// A log-linear latency histogram (HdrHistogram's idea): values are
// non-negative integers (microseconds), recorded in O(1) into buckets whose
// width is at most 1/128 of their value, so every percentile is within 1% of
// the exact answer, in fixed memory whatever the run length. Values above
// ~1.2 hours land in the top bucket; min and max are kept exactly.
#pragma once

#include <array>
#include <cstdint>

namespace venice_batch {

class LatencyHistogram {
 public:
  static constexpr unsigned kSubBits = 7;                  ///< 128 linear sub-buckets per power of two
  static constexpr unsigned kSub = 1u << kSubBits;
  static constexpr unsigned kMagnitudes = 26;              ///< up to 2^(7+25) us ~ 71 minutes
  static constexpr std::size_t kBuckets = static_cast<std::size_t>(kSub) * kMagnitudes;

  void record(std::uint64_t value) noexcept;
  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t min() const noexcept { return count_ ? min_ : 0; }
  std::uint64_t max() const noexcept { return max_; }
  double mean() const noexcept { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }
  /// The value at percentile p (0..100): within 1% of the exact value at that rank, clamped to [min, max].
  std::uint64_t value_at_percentile(double p) const noexcept;
  void merge(const LatencyHistogram& other) noexcept;
  void reset() noexcept;

 private:
  static std::size_t bucket_of(std::uint64_t v) noexcept;
  static std::uint64_t representative(std::size_t bucket) noexcept;

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t count_ = 0, sum_ = 0, min_ = UINT64_MAX, max_ = 0;
};

}  // namespace venice_batch
