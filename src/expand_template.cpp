// Counting and expanding a parsed prompt template: expansion `index` is decoded node by node in
// mixed radix (a sequence's first part varies fastest; a choice's options are numbered one after
// the other), so any expansion is built from its number without enumerating the ones before it.
#include <algorithm>

#include "prompt_template_tree.hpp"

namespace venice_batch {
namespace {

bool add_checked(std::uint64_t a, std::uint64_t b, std::uint64_t& out) { return !__builtin_add_overflow(a, b, &out); }
bool mul_checked(std::uint64_t a, std::uint64_t b, std::uint64_t& out) { return !__builtin_mul_overflow(a, b, &out); }

}  // namespace

bool PromptTemplate::Tree::count_node(std::uint32_t id) {
  Node& n = nodes[id];
  std::uint64_t total = 0;
  switch (n.kind) {
    case Kind::literal: total = 1; break;
    case Kind::wildcard: total = nodes[n.children[0]].count; break;
    case Kind::sequence:
      total = 1;
      for (auto c : n.children)
        if (!mul_checked(total, nodes[c].count, total)) return false;
      break;
    case Kind::choice:
      n.table.clear();
      for (auto c : n.children) {
        if (!add_checked(total, nodes[c].count, total)) return false;
        n.table.push_back(total);
      }
      break;
    case Kind::pick: {
      // subsets[i][k] = subsets[i+1][k] + count(i) * subsets[i+1][k-1]: without option i, or with it.
      const std::size_t options = n.children.size(), cols = n.max_pick + 1;
      n.table.assign((options + 1) * cols, 0);
      n.table[options * cols] = 1;
      for (std::size_t i = options; i-- > 0;) {
        const std::uint64_t c = nodes[n.children[i]].count;
        for (std::size_t k = 0; k < cols; ++k) {
          std::uint64_t with = 0, v = n.table[(i + 1) * cols + k];
          if (k > 0 && (!mul_checked(c, n.table[(i + 1) * cols + k - 1], with) || !add_checked(v, with, v))) return false;
          n.table[i * cols + k] = v;
        }
      }
      for (std::size_t k = n.min_pick; k < cols; ++k)
        if (!add_checked(total, n.table[k], total)) return false;
      break;
    }
  }
  n.count = total;
  return true;
}

void PromptTemplate::Tree::expand(std::uint32_t id, std::uint64_t index, TemplateExpansion& out) const {
  const Node& n = nodes[id];
  if (n.label < 0) return expand_body(n, index, out);
  const auto begin = static_cast<std::uint32_t>(out.prompt.size());
  const std::size_t slot = out.choices.size();
  out.choices.push_back({static_cast<std::uint32_t>(n.label), begin, begin});
  expand_body(n, index, out);
  out.choices[slot].end = static_cast<std::uint32_t>(out.prompt.size());
}

void PromptTemplate::Tree::expand_body(const Node& n, std::uint64_t index, TemplateExpansion& out) const {
  switch (n.kind) {
    case Kind::literal: out.prompt += n.text; return;
    case Kind::wildcard: return expand(n.children[0], index, out);
    case Kind::sequence:
      for (auto c : n.children) {
        const std::uint64_t radix = nodes[c].count;
        expand(c, radix == 1 ? 0 : index % radix, out);
        if (radix != 1) index /= radix;
      }
      return;
    case Kind::choice: {
      const std::size_t i = std::upper_bound(n.table.begin(), n.table.end(), index) - n.table.begin();
      return expand(n.children[i], index - (i == 0 ? 0 : n.table[i - 1]), out);
    }
    case Kind::pick: {
      const std::size_t cols = n.max_pick + 1;
      std::size_t k = n.min_pick;
      while (index >= n.table[k]) index -= n.table[k++];  // how many options this expansion picks
      bool first = true;
      for (std::size_t i = 0; k > 0; ++i) {
        const std::uint64_t rest = n.table[(i + 1) * cols + k - 1];  // ways to pick the others after i
        const std::uint64_t with_i = rest * nodes[n.children[i]].count;  // 0 if too few options are left
        if (index >= with_i) {
          index -= with_i;
          continue;
        }
        if (!first) out.prompt += n.text;
        first = false;
        expand(n.children[i], index / rest, out);
        index %= rest;
        --k;
      }
      return;
    }
  }
}

PromptTemplate::PromptTemplate(std::unique_ptr<Tree> tree) : tree_(std::move(tree)) {}
PromptTemplate::PromptTemplate(PromptTemplate&&) noexcept = default;
PromptTemplate& PromptTemplate::operator=(PromptTemplate&&) noexcept = default;
PromptTemplate::~PromptTemplate() = default;

std::uint64_t PromptTemplate::count() const { return tree_->nodes[tree_->root].count; }

void PromptTemplate::expand(std::uint64_t index, TemplateExpansion& out) const {
  out.prompt.clear();
  out.choices.clear();
  tree_->expand(tree_->root, index, out);
}

const std::string& PromptTemplate::label_text(std::uint32_t label) const { return tree_->labels[label]; }

std::uint32_t PromptTemplate::label_count() const { return static_cast<std::uint32_t>(tree_->labels.size()); }

}  // namespace venice_batch
