// A sweep line's identity: combination index -> the request it makes (canonical JSON: keys
// sorted, no spaces) -> SHA-256 -> the id's hash part; and the set of ids already written.
// The id depends on nothing but the request: not on the line's position, the template, or the
// values that made it, so a grown spec gives every old request its old id.
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <sys/mman.h>

#include "expand_internal.hpp"

namespace venice_batch {

SweepLine::SweepLine(const Sweep::Impl& sweep, unsigned id_hex_digits)
    : sweep_(sweep), id_hex_digits_(std::clamp(id_hex_digits, 1u, 16u)), hasher_(std::make_unique<Sha256Hasher>()),
      digits_(sweep.axes.size()), range_json_(sweep.axes.size()), label_seen_(sweep.prompt.label_count()) {
  fields_.reserve(sweep.fixed.size() + 1 + 16 * sweep.axes.size());
  order_ = static_order(sweep);
  for (std::uint32_t i = 0; i < sweep.prompt.label_count(); ++i) {
    label_keys_.emplace_back();
    append_json_string(label_keys_.back(), sweep.prompt.label_text(i));
  }
}

SweepLine::~SweepLine() = default;

/// The request's fields in name order, when no group axis makes the set of fields vary: then
/// the order is worked out once and every line only fills in the values.
std::vector<SweepLine::Slot> SweepLine::static_order(const Sweep::Impl& sweep) {
  std::vector<std::pair<std::string_view, Slot>> named;
  for (std::uint32_t i = 0; i < sweep.fixed.size(); ++i) named.push_back({sweep.fixed[i].name, {Slot::fixed, i}});
  named.push_back({"prompt", {Slot::prompt, 0}});
  for (std::uint32_t i = 0; i < sweep.axes.size(); ++i) {
    for (const auto& v : sweep.axes[i].values)
      if (v.fields.size() != 1 || v.fields[0].name != sweep.axes[i].name) return {};  // a group
    named.push_back({sweep.axes[i].name, {Slot::axis, i}});
  }
  std::sort(named.begin(), named.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Slot> order;
  for (const auto& [name, slot] : named) order.push_back(slot);
  return order;
}

void SweepLine::build(std::uint64_t index) {
  for (std::size_t i = sweep_.axes.size(); i-- > 0;) {  // the last axis varies fastest
    const SweepAxis& axis = sweep_.axes[i];
    const std::uint64_t radix = axis.size();
    digits_[i] = index % radix;
    index /= radix;
    if (axis.values.empty()) {
      char buf[24];
      const auto value = axis.from + static_cast<std::int64_t>(digits_[i]) * axis.step;  // within [from, to]
      range_json_[i].assign(buf, std::to_chars(buf, buf + sizeof buf, value).ptr);
    }
  }
  sweep_.prompt.expand(index, expansion_);
  prompt_json_.clear();
  append_json_string(prompt_json_, expansion_.prompt);

  body_.clear();
  body_ += '{';
  auto field = [&](std::string_view key_json, std::string_view json) {
    if (body_.size() > 1) body_ += ',';
    body_ += key_json;
    body_ += ':';
    body_ += json;
  };
  for (const Slot& slot : order_) {
    if (slot.kind == Slot::fixed) field(sweep_.fixed[slot.index].key_json, sweep_.fixed[slot.index].json);
    else if (slot.kind == Slot::prompt) field("\"prompt\"", prompt_json_);
    else field(sweep_.axes[slot.index].key_json, axis_json(slot.index));
  }
  if (order_.empty()) {  // a group axis: collect the fields this line has and sort them
    fields_.clear();
    for (const auto& f : sweep_.fixed) fields_.push_back({f.name, f.key_json, f.json});
    fields_.push_back({"prompt", "\"prompt\"", prompt_json_});
    for (std::size_t i = 0; i < sweep_.axes.size(); ++i) {
      const SweepAxis& axis = sweep_.axes[i];
      if (axis.values.empty()) fields_.push_back({axis.name, axis.key_json, range_json_[i]});
      else
        for (const auto& f : axis.values[digits_[i]].fields) fields_.push_back({f.name, f.key_json, f.json});
    }
    std::sort(fields_.begin(), fields_.end(), [](const FieldView& a, const FieldView& b) { return a.name < b.name; });
    for (const auto& f : fields_) field(f.key_json, f.json);
  }
  body_ += '}';
  hash_body();
  metadata_built_ = false;
}

std::string_view SweepLine::axis_json(std::size_t axis) const {
  const SweepAxis& a = sweep_.axes[axis];
  return a.values.empty() ? std::string_view(range_json_[axis]) : std::string_view(a.values[digits_[axis]].json);
}

void SweepLine::hash_body() {
  hasher_->digest(body_, digest_);
  std::uint64_t first = 0;
  for (int i = 0; i < 8; ++i) first = (first << 8) | digest_[i];
  short_id_ = first >> (64 - 4 * id_hex_digits_);
}

namespace {

std::uint64_t mix(std::uint64_t z) {  // the ids are hashes already, but cut ones are small numbers
  z = (z ^ (z >> 33)) * 0xff51afd7ed558ccdULL;
  return z ^ (z >> 33);
}

}  // namespace

IdSet::IdSet(std::uint64_t expected) : size_(std::max<std::uint64_t>(16, expected + expected / 3 + 1)) {
  if (expected > (std::uint64_t{1} << 58)) throw std::bad_alloc();  // the byte count would overflow
  constexpr std::size_t kHugePage = 2 << 20;  // random probes over 4 KiB pages would miss the TLB every time
  const std::size_t bytes = (size_ * sizeof(std::uint64_t) + kHugePage - 1) / kHugePage * kHugePage;
  slots_.reset(static_cast<std::uint64_t*>(std::aligned_alloc(kHugePage, bytes)));
  if (!slots_) throw std::bad_alloc();
  ::madvise(slots_.get(), bytes, MADV_HUGEPAGE);  // a hint: without it the set is only slower
  std::memset(slots_.get(), 0, bytes);
}

void IdSet::Free::operator()(std::uint64_t* p) const { std::free(p); }

std::uint64_t IdSet::slot_of(std::uint64_t id) const {
  // Spread over the table by a multiply-shift (no power-of-two size needed).
  return static_cast<std::uint64_t>((static_cast<unsigned __int128>(mix(id)) * size_) >> 64);
}

bool IdSet::insert(std::uint64_t id) {
  if (id == 0) return !std::exchange(has_zero_, true);
  const std::uint64_t n = size_;
  for (std::uint64_t i = slot_of(id);; i = i + 1 == n ? 0 : i + 1) {  // linear probing
    if (slots_[i] == id) return false;
    if (slots_[i] == 0) {
      slots_[i] = id;
      return true;
    }
  }
}

}  // namespace venice_batch
