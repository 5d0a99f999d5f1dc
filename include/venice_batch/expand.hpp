// Sweeps (`venice-batch expand`): a JSON spec — a prompt template crossed with a matrix of
// request fields — turned into manifest lines. A line's id is a hash of its request, so a grown
// spec keeps every old id and a run on the same out dir sends only the new jobs. Lines are built
// one at a time from their index (every combination, or a seeded sample): none is held.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/system/result.hpp>

#include "venice_batch/prompt_template.hpp"

namespace venice_batch {

/// A parsed, checked sweep spec (format: README, "Sweeps: venice-batch expand"). Immutable.
class Sweep {
 public:
  /// Reads the spec file. Wildcard files come from `wildcards_dir` when given, else from the
  /// spec's "wildcards" directory (relative to the spec file; default "wildcards").
  static boost::system::result<Sweep, std::string> load(const std::filesystem::path& spec,
                                                        const std::filesystem::path& wildcards_dir = {});
  /// From text: `spec_name` names it in messages; wildcards come from `wildcards` (the spec's
  /// "wildcards" key is then only checked to be a string).
  static boost::system::result<Sweep, std::string> parse(std::string_view json, std::string spec_name,
                                                         const WildcardSource& wildcards);
  Sweep(Sweep&&) noexcept;
  Sweep& operator=(Sweep&&) noexcept;
  ~Sweep();

  /// Template expansions x the matrix's values (each written `replicates()` times).
  std::uint64_t combinations() const;
  std::uint32_t replicates() const;

  struct Impl;  ///< src/expand_internal.hpp
  const Impl& impl() const { return *impl_; }

 private:
  explicit Sweep(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct ExpandOptions {
  /// Refuse, before writing anything, a sweep of more lines than this.
  std::optional<std::uint64_t> max_jobs;
  /// Write only this many combinations, drawn without replacement by `sample_seed` (not the
  /// request's `seed`): the same spec and sample seed give the same manifest on any machine.
  std::optional<std::uint64_t> sample;
  std::uint64_t sample_seed = 0;
  /// Hex digits of the request hash in an id (1-16). 16 keeps a true collision unlikely even at
  /// 10 million lines (~3e-6); tests shorten it to force one.
  unsigned id_hex_digits = 16;
};

/// Receives the manifest in chunks of whole lines, each ending in '\n'; returns false if it
/// could not write them (the expansion then stops).
using ManifestChunkSink = std::function<bool(std::string_view lines)>;

enum class ExpandFailure {
  refused,       ///< --max-jobs exceeded, a sample larger than the sweep: nothing was written
  collision,     ///< two different requests got the same id (the manifest is incomplete)
  write_failed,  ///< the sink refused a chunk
};

struct ExpandError {
  ExpandFailure kind = ExpandFailure::refused;
  std::string message;
};

struct ExpandSummary {
  std::uint64_t lines = 0;       ///< lines written
  std::uint64_t duplicates = 0;  ///< combinations skipped: the same request as an earlier one
};

/// The lines expand() would write (combinations or the sample, times replicates, before
/// duplicates are dropped), or why it refuses. Counted without expanding anything.
boost::system::result<std::uint64_t, ExpandError> planned_lines(const Sweep& sweep, const ExpandOptions& options);

/// Writes the manifest to `sink`. Each line: {"id", <request fields>, "metadata": {"template",
/// "values"}}. A combination whose request equals an earlier one's is skipped (counted in
/// `duplicates`); two different requests with the same id are a collision.
boost::system::result<ExpandSummary, ExpandError> expand(const Sweep& sweep, const ExpandOptions& options,
                                                         const ManifestChunkSink& sink);

/// A bijection of [0, size) chosen by `seed`: a Feistel network over the next even power of two,
/// cycle-walked into range, keyed by splitmix64. Integer-only: the same on every machine.
class IndexPermutation {
 public:
  IndexPermutation(std::uint64_t size, std::uint64_t seed);
  std::uint64_t operator()(std::uint64_t index) const;

 private:
  std::uint64_t size_;
  unsigned half_bits_ = 0;
  std::uint64_t half_mask_ = 0;
  std::uint64_t keys_[6] = {};
};

/// One step of splitmix64: advances `state` and returns the next 64 random bits.
std::uint64_t splitmix64(std::uint64_t& state);

}  // namespace venice_batch
