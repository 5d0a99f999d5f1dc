// The inside of a PromptTemplate: a tree of nodes in one vector (wildcard files are shared
// subtrees), each knowing how many expansions it has. Built by the parser (prompt_template.cpp),
// counted and expanded by expand_template.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "venice_batch/prompt_template.hpp"

namespace venice_batch {

struct PromptTemplate::Tree {
  enum class Kind : std::uint8_t {
    literal,   ///< `text`
    sequence,  ///< `children` one after the other
    choice,    ///< one of `children`
    pick,      ///< `min_pick`..`max_pick` distinct `children` in listed order, joined by `text`
    wildcard,  ///< the file node `children[0]`, recorded under `label`
  };
  struct Node {
    Kind kind = Kind::literal;
    std::int32_t label = -1;   ///< a recorded choice: index into `labels`
    std::uint64_t count = 1;   ///< expansions of this node
    std::string text;          ///< literal: the text; pick: the separator
    std::vector<std::uint32_t> children;
    /// choice: table[i] = expansions of options 0..i; pick: subsets[i][k] = expansions of k
    /// options picked from options i.., row-major with max_pick + 1 columns (n + 1 rows).
    std::vector<std::uint64_t> table;
    std::uint32_t min_pick = 0, max_pick = 0;
  };

  std::vector<Node> nodes;
  std::uint32_t root = 0;
  std::vector<std::string> labels;

  /// The index of label `text` in `labels`, added if new.
  std::int32_t intern_label(std::string text);
  /// Fills node `id`'s count (and its table) from its children's; false if it exceeds 2^64-1.
  bool count_node(std::uint32_t id);
  /// Appends expansion `index` of node `id` to `out`.
  void expand(std::uint32_t id, std::uint64_t index, TemplateExpansion& out) const;

 private:
  void expand_body(const Node& n, std::uint64_t index, TemplateExpansion& out) const;
};

}  // namespace venice_batch
