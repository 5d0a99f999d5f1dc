// The expansion loop: counts the lines first (refusing an explosion before writing anything),
// then visits combination indices in order or in a seeded permutation, builds each line from its
// index, skips a request already written, and streams the lines to the sink in 1 MiB chunks.
#include "venice_batch/expand.hpp"

#include <algorithm>
#include <cstring>
#include <new>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>
#include <simdjson.h>

#include "expand_internal.hpp"
#include "venice_batch/request_schema.hpp"
#include "venice_batch/sink.hpp"

namespace venice_batch {
namespace {

constexpr std::size_t kChunkBytes = 1 << 20;

/// Collects lines and hands them to the sink a chunk at a time.
class ChunkWriter {
 public:
  explicit ChunkWriter(const ManifestChunkSink& sink) : sink_(sink) { buf_.reserve(kChunkBytes + 65536); }
  std::string& buffer() { return buf_; }
  bool maybe_flush() { return buf_.size() < kChunkBytes || flush(); }
  bool flush() {
    const bool ok = buf_.empty() || sink_(buf_);
    buf_.clear();
    return ok;
  }

 private:
  const ManifestChunkSink& sink_;
  std::string buf_;
};

/// A combination skipped because its id was taken: its request's digest and where it was met.
struct Duplicate {
  Sha256 digest;
  std::uint64_t position;
};

using ExpandResult = boost::system::result<ExpandSummary, ExpandError>;

/// The order combinations are visited in: 0, 1, 2, ... or a sample's permutation.
struct VisitOrder {
  std::optional<IndexPermutation> permutation;
  std::uint64_t operator()(std::uint64_t position) const { return permutation ? (*permutation)(position) : position; }
};

ExpandResult fail(ExpandFailure kind, std::string message) {
  return ExpandResult(boost::system::in_place_error, ExpandError{kind, std::move(message)});
}

ExpandResult collision(const Sweep::Impl& s, unsigned digits, std::uint64_t id, std::uint64_t a, std::uint64_t b) {
  return fail(ExpandFailure::collision,
              fmt::format("{}: two different requests have the same id {}-{:0{}x} (the lines at positions {} and {} "
                          "of the expansion); the manifest is incomplete",
                          s.spec_name, s.id_prefix, id, digits, a + 1, b + 1));
}

/// Where a duplicate was skipped, its twin was written earlier: find the twin and compare the
/// whole digests. The same digest is the same request; another is a true collision.
ExpandResult check_duplicates(const Sweep::Impl& s, const ExpandOptions& options,
                              const std::unordered_map<std::uint64_t, Duplicate>& duplicates,
                              const VisitOrder& index_at, ExpandSummary summary) {
  std::uint64_t last = 0;
  for (const auto& [id, d] : duplicates) last = std::max(last, d.position);
  SweepLine line(s, options.id_hex_digits);
  for (std::uint64_t pos = 0; pos < last; ++pos) {
    line.build(index_at(pos));
    auto it = duplicates.find(line.short_id());
    if (it != duplicates.end() && it->second.digest != line.digest())
      return collision(s, options.id_hex_digits, line.short_id(), pos, it->second.position);
  }
  return summary;
}

// Whether some combination may send variants above 1 with return_binary true, which the API (and
// a run) refuses: each value alone passes the schema, the pair is checked line by line.
bool may_pair_variants_with_binary(const Sweep::Impl& s) {
  bool many = false, binary = false;
  const auto look = [&](const SweepField& f) {
    many = many || (f.name == "variants" && f.json != "1");
    binary = binary || (f.name == "return_binary" && f.json == "true");
  };
  for (const auto& f : s.fixed) look(f);
  for (const auto& axis : s.axes) {
    if (axis.values.empty() && axis.name == "variants")  // a range, rising or falling: its largest end
      many = many || std::max(axis.from, axis.from + axis.step * static_cast<std::int64_t>(axis.range_size - 1)) > 1;
    for (const auto& v : axis.values)
      for (const auto& f : v.fields) look(f);
  }
  return many && binary;
}

bool pairs_variants_with_binary(std::string_view body) {
  const auto variants = body.find(R"("variants":)");  // canonical: one digit, 1 to 4
  return variants != std::string_view::npos && body.substr(variants + 11, 1) != "1" &&
         body.find(R"("return_binary":true)") != std::string_view::npos;
}

}  // namespace

boost::system::result<std::uint64_t, ExpandError> planned_lines(const Sweep& sweep, const ExpandOptions& options) {
  using Result = boost::system::result<std::uint64_t, ExpandError>;
  auto refuse = [](std::string why) { return Result(boost::system::in_place_error, ExpandError{ExpandFailure::refused, std::move(why)}); };
  const Sweep::Impl& s = sweep.impl();
  std::uint64_t visits = s.combinations;
  if (options.sample) {
    if (*options.sample == 0) return refuse("a sample of 0 combinations writes nothing");
    if (*options.sample > s.combinations)
      return refuse(fmt::format("{}: a sample of {} from only {} combinations", s.spec_name, *options.sample, s.combinations));
    visits = *options.sample;
  }
  std::uint64_t lines = 0;
  if (__builtin_mul_overflow(visits, s.replicates, &lines))
    return refuse(fmt::format("{}: more than 2^64-1 lines", s.spec_name));
  if (options.max_jobs && lines > *options.max_jobs)
    return refuse(fmt::format("{}: {} lines ({} combinations x {} replicates) is more than the limit of {} "
                              "(--max-jobs): nothing written",
                              s.spec_name, lines, visits, s.replicates, *options.max_jobs));
  return lines;
}

boost::system::result<ExpandSummary, ExpandError> expand(const Sweep& sweep, const ExpandOptions& options,
                                                         const ManifestChunkSink& sink) {
  const auto planned = planned_lines(sweep, options);
  if (!planned) return ExpandResult(boost::system::in_place_error, planned.error());
  const Sweep::Impl& s = sweep.impl();
  const std::uint64_t visits = options.sample ? *options.sample : s.combinations;
  VisitOrder index_at;
  if (options.sample) index_at.permutation.emplace(s.combinations, options.sample_seed);

  SweepLine line(s, options.id_hex_digits);
  std::optional<IdSet> written;
  try {
    written.emplace(visits);
  } catch (const std::bad_alloc&) {
    return fail(ExpandFailure::refused,
                fmt::format("{}: {} combinations are too many to remember their ids (11 bytes each): "
                            "narrow the sweep or use --sample",
                            s.spec_name, visits));
  }
  std::unordered_map<std::uint64_t, Duplicate> duplicates;
  ChunkWriter out(sink);
  ExpandSummary summary;
  const bool check_pairs = may_pair_variants_with_binary(s);
  for (std::uint64_t pos = 0; pos < visits; ++pos) {
    line.build(index_at(pos));
    // Each value was checked as the run checks it; the prompt is made here, line by line: a blank
    // one ("", "{|  }") would be refused by every run of the manifest.
    if (is_blank_text(line.prompt()))
      return fail(ExpandFailure::refused,
                  fmt::format("{}: the template makes a blank prompt (combination {}; give each of its groups a "
                              "choice that is not blank); the manifest is incomplete",
                              s.spec_name, index_at(pos) + 1));
    if (check_pairs && pairs_variants_with_binary(line.body()))
      return fail(ExpandFailure::refused,
                  fmt::format("{}: combination {} sends variants above 1 with return_binary true, which the API "
                              "refuses (binary mode returns one image); the manifest is incomplete",
                              s.spec_name, index_at(pos) + 1));
    // The line is written first and taken back if its id was: the id's slot in a large set is
    // a cache miss, and the writing hides it.
    written->prefetch(line.short_id());
    const std::size_t before = out.buffer().size();
    for (std::uint32_t r = 1; r <= s.replicates; ++r) line.append_line(r, out.buffer());
    if (!written->insert(line.short_id())) {
      out.buffer().resize(before);
      auto [it, first] = duplicates.try_emplace(line.short_id(), Duplicate{line.digest(), pos});
      if (!first && it->second.digest != line.digest())
        return collision(s, options.id_hex_digits, line.short_id(), it->second.position, pos);
      ++summary.duplicates;
      continue;
    }
    summary.lines += s.replicates;
    if (!out.maybe_flush()) return fail(ExpandFailure::write_failed, "the manifest could not be written");
  }
  if (!out.flush()) return fail(ExpandFailure::write_failed, "the manifest could not be written");
  if (duplicates.empty()) return summary;
  return check_duplicates(s, options, duplicates, index_at, summary);
}

Sweep::Sweep(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Sweep::Sweep(Sweep&&) noexcept = default;
Sweep& Sweep::operator=(Sweep&&) noexcept = default;
Sweep::~Sweep() = default;

std::uint64_t Sweep::combinations() const { return impl_->combinations; }
std::uint32_t Sweep::replicates() const { return impl_->replicates; }

boost::system::result<Sweep, std::string> Sweep::parse(std::string_view json, std::string spec_name,
                                                       const WildcardSource& wildcards) {
  auto impl = read_sweep_spec(json, std::move(spec_name), wildcards);
  if (!impl) return {boost::system::in_place_error, impl.error()};
  return Sweep(std::make_unique<Impl>(std::move(*impl)));
}

boost::system::result<Sweep, std::string> Sweep::load(const std::filesystem::path& spec,
                                                      const std::filesystem::path& wildcards_dir) {
  std::string text;
  if (const int err = read_whole_file(spec, text); err != 0)
    return {boost::system::in_place_error, fmt::format("{}: cannot be read ({})", spec.string(), std::strerror(err))};

  std::filesystem::path dir = wildcards_dir;
  if (dir.empty()) {  // the spec's "wildcards", next to the spec
    simdjson::dom::parser parser;
    std::string_view named = "wildcards";
    simdjson::dom::element root;
    if (!parser.parse(text).get(root) && root["wildcards"].get_string().get(named)) named = "wildcards";
    dir = spec.parent_path() / named;
  }
  return parse(text, spec.string(), wildcard_directory(dir, dir.string()));
}

}  // namespace venice_batch
