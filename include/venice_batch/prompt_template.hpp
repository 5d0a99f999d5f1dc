// Prompt templates in the sd-dynamic-prompts convention, for sweeps (expand.hpp): `{a|b}`
// alternatives (nested, empty options allowed), `{2$$a|b|c}` / `{1-2$$ and $$a|b|c}` "pick k of",
// `__name__` wildcards (one option per line of name.txt), escapes \{ \} \| \_ \\. A parsed template
// numbers its expansions 0..count()-1 and builds any one from its number alone: none is held.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

namespace venice_batch {

/// A wildcard file's text and the path to show in messages ("wildcards/animal.txt").
struct WildcardFile {
  std::string text;
  std::string shown_path;
};

/// Finds wildcard `name` ("animal", "colors/warm"): its file, or why not ("no file wildcards/x.txt").
using WildcardSource = std::function<boost::system::result<WildcardFile, std::string>(std::string_view name)>;

/// Wildcards read from `dir`/<name>.txt (`shown_dir` is how messages spell `dir`).
WildcardSource wildcard_directory(std::filesystem::path dir, std::string shown_dir);

/// One choice an expansion made, for the manifest's metadata: what it is (label_text(label):
/// "__animal__" for a wildcard, "{1}" for the template's first top-level group) and the part of
/// the prompt it produced, prompt[begin, end).
struct TemplateChoice {
  std::uint32_t label = 0;
  std::uint32_t begin = 0, end = 0;
};

struct TemplateExpansion {
  std::string prompt;
  std::vector<TemplateChoice> choices;  ///< in the order they appear in the prompt
};

/// A parsed template with its wildcards loaded. Expansions are numbered in mixed radix: the
/// template's first group varies fastest. Immutable after parse; cheap to move.
class PromptTemplate {
 public:
  /// Parses `text`, loading every wildcard it (or a wildcard file) names. `origin` names the text
  /// in messages ("sweep.json: prompt"); an error names the file, line and column at fault: a
  /// missing wildcard file, an unclosed `{`, a stray `}`, a cycle of wildcards, weights (`2::`,
  /// not supported), a bad pick range, more than 2^64-1 expansions.
  static boost::system::result<PromptTemplate, std::string> parse(std::string_view text, std::string origin,
                                                                  const WildcardSource& wildcards);
  PromptTemplate(PromptTemplate&&) noexcept;
  PromptTemplate& operator=(PromptTemplate&&) noexcept;
  ~PromptTemplate();

  /// How many expansions there are (at least 1); expansions may repeat a prompt (`{a|a}`).
  std::uint64_t count() const;
  /// Expansion `index` (< count()) into `out` (cleared first, its memory reused).
  void expand(std::uint64_t index, TemplateExpansion& out) const;
  /// The metadata key of a choice label: "__name__" or "{n}".
  const std::string& label_text(std::uint32_t label) const;
  /// How many labels there are (ids 0..label_count()-1).
  std::uint32_t label_count() const;

  struct Tree;  ///< the parsed nodes (src/prompt_template_tree.hpp)

 private:
  explicit PromptTemplate(std::unique_ptr<Tree> tree);
  std::unique_ptr<Tree> tree_;
};

}  // namespace venice_batch
