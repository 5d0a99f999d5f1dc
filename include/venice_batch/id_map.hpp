// The map type for per-job-id state of a million jobs (the journal's, the manifest's ids).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include <boost/unordered/unordered_flat_map.hpp>

namespace venice_batch {

/// A hash of string keys that also takes a string_view, so a lookup builds no std::string.
struct StringKeyHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
/// Per-id maps of a million entries (the journal's, the manifest's ids): open addressing keeps
/// an entry and its (short, inline) id in one slot, so a lookup is one or two cache misses, not
/// a node chase; resume of 1M jobs is dominated by these lookups.
template <class Value>
using IdMap = boost::unordered_flat_map<std::string, Value, StringKeyHash, std::equal_to<>>;

}  // namespace venice_batch
