// The inside of a Sweep (built by expand_spec.cpp) and SweepLine, which turns one combination's
// index into its request, id and manifest line (expand_ids.cpp, expand_writer.cpp): shared by
// the expansion loop in expand.cpp. Values are kept as canonical JSON text, ready to copy.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "venice_batch/expand.hpp"
#include "venice_batch/sha256.hpp"

namespace venice_batch {

/// One request field: its name (sort key), the name as a JSON string, its value as canonical JSON.
struct SweepField {
  std::string name, key_json, json;
};

struct SweepAxisValue {
  std::string json;                ///< the value as metadata records it
  std::vector<SweepField> fields;  ///< what it sets: the axis's field, or a group's fields
};

/// A matrix axis: a list of values, or (values empty) the integers from, from+step, ... (range_size of them).
struct SweepAxis {
  std::string name, key_json;  ///< the field or group name, also the metadata key
  std::vector<SweepAxisValue> values;
  std::int64_t from = 0, step = 1;
  std::uint64_t range_size = 0;
  std::uint64_t size() const { return values.empty() ? range_size : values.size(); }
};

struct Sweep::Impl {
  explicit Impl(PromptTemplate p) : prompt(std::move(p)) {}
  std::string spec_name;
  PromptTemplate prompt;
  std::string template_json;  ///< the template as a JSON string, for metadata
  std::vector<SweepField> fixed;
  std::vector<SweepAxis> axes;  ///< the last varies fastest; the template slowest
  std::uint32_t replicates = 1;
  std::string id_prefix = "s";
  std::uint64_t combinations = 1;
};

/// Reads spec text (expand_spec.cpp); `spec_name` prefixes every message.
boost::system::result<Sweep::Impl, std::string> read_sweep_spec(std::string_view json, std::string spec_name,
                                                                const WildcardSource& wildcards);

/// Appends `s` as a JSON string, escaped as RapidJSON's writer does (so a line's request is the
/// manifest reader's canonical body byte for byte).
void append_json_string(std::string& out, std::string_view s);


/// Builds combination `index`'s canonical request (keys sorted, no spaces), its SHA-256 and its
/// manifest lines, reusing its buffers from one combination to the next.
class SweepLine {
 public:
  SweepLine(const Sweep::Impl& sweep, unsigned id_hex_digits);
  ~SweepLine();
  SweepLine(const SweepLine&) = delete;
  SweepLine& operator=(const SweepLine&) = delete;

  void build(std::uint64_t index);
  const Sha256& digest() const { return digest_; }
  /// The prompt the template made for this line, as written.
  std::string_view prompt() const { return expansion_.prompt; }
  /// This line's request as sent: canonical JSON, keys sorted, no spaces.
  std::string_view body() const { return body_; }
  /// The id's hash part as a number: the digest's first id_hex_digits hex digits.
  std::uint64_t short_id() const { return short_id_; }
  /// Appends the line of replicate `replicate` (1-based; ids from the second on end in -r<n>).
  void append_line(std::uint32_t replicate, std::string& out);

 private:
  struct FieldView {
    std::string_view name, key_json, json;
  };
  /// Where a request field comes from: fixed[index], the prompt, or axes[index].
  struct Slot {
    enum Kind : std::uint8_t { fixed, prompt, axis } kind;
    std::uint32_t index;
  };
  static std::vector<Slot> static_order(const Sweep::Impl& sweep);
  std::string_view axis_json(std::size_t axis) const;  ///< this line's value of a one-field axis
  void hash_body();
  void build_metadata();

  const Sweep::Impl& sweep_;
  unsigned id_hex_digits_;
  std::unique_ptr<Sha256Hasher> hasher_;
  std::vector<std::uint64_t> digits_;  // per axis
  TemplateExpansion expansion_;
  std::string prompt_json_;
  std::vector<std::string> range_json_;  // per axis
  std::vector<Slot> order_;        // the fields in name order; empty with a group axis
  std::vector<FieldView> fields_;  // with a group axis: this line's fields
  std::string body_, metadata_;
  bool metadata_built_ = false;
  std::vector<std::string> label_keys_;  // JSON key per template label
  std::vector<std::uint32_t> label_seen_;
  Sha256 digest_{};
  std::uint64_t short_id_ = 0;
};

/// The ids already written (their hash part): 8 bytes a slot, 4/3 slots per expected id, in
/// huge pages where the system allows (a 10-million-id set is 107 MB, probed at random).
class IdSet {
 public:
  /// Throws std::bad_alloc if the memory cannot be had.
  explicit IdSet(std::uint64_t expected);
  /// False if `id` was already in the set.
  bool insert(std::uint64_t id);
  /// Starts loading `id`'s slot into the cache: an insert soon after does not wait for memory.
  void prefetch(std::uint64_t id) const { __builtin_prefetch(slots_.get() + slot_of(id)); }

 private:
  struct Free {
    void operator()(std::uint64_t* p) const;
  };
  std::uint64_t slot_of(std::uint64_t id) const;
  std::uint64_t size_ = 0;
  std::unique_ptr<std::uint64_t[], Free> slots_;  // 0 = empty; the id 0 is kept in has_zero_
  bool has_zero_ = false;
};

}  // namespace venice_batch
