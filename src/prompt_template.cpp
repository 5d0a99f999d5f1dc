// The template grammar: text with `{...|...}` groups (optionally `{lo-hi$$sep$$...}` picks),
// `__name__` wildcards and backslash escapes, parsed into PromptTemplate::Tree. Wildcard files are
// loaded once each, line by line (a line is itself a template), with cycles and depth bounded.
#include "venice_batch/prompt_template.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <utility>

#include <fmt/format.h>

#include "expand_internal.hpp"
#include "prompt_template_tree.hpp"
#include "venice_batch/sink.hpp"
#include "venice_batch/text.hpp"

namespace venice_batch {
namespace {

using Tree = PromptTemplate::Tree;
using Kind = Tree::Kind;
constexpr std::uint32_t kFailed = UINT32_MAX;
constexpr int kMaxNesting = 64;          // `{` inside `{`: deeper is surely a mistake (and the stack's limit)
constexpr std::size_t kMaxWildcardDepth = 32;
constexpr std::string_view kEscapable = "{}|_\\$:";

bool is_digit(char c) { return c >= '0' && c <= '9'; }

/// [A-Za-z0-9_.-] segments joined by '/', none empty, starting with '.' or at an end with '_'.
bool is_wildcard_name(std::string_view name) {
  if (name.empty() || name.size() > 200 || name.front() == '_' || name.back() == '_') return false;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= name.size(); ++i) {
    if (i < name.size() && name[i] != '/') {
      const char c = name[i];
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) return false;
      continue;
    }
    if (i == start || name[start] == '.') return false;  // empty segment, ".", "..", hidden
    start = i + 1;
  }
  return true;
}

struct WildcardLoader;

/// Parses one text (the spec's template, or one line of a wildcard file) into tree nodes.
class Parser {
 public:
  Parser(Tree& tree, WildcardLoader& loader, std::string_view text, std::string_view origin, unsigned first_line,
         bool top_level_groups_recorded)
      : tree_(tree), loader_(loader), text_(text), origin_(origin), first_line_(first_line),
        record_groups_(top_level_groups_recorded) {}

  /// The text's root node (from byte `start` on), or kFailed with error() set.
  std::uint32_t parse_all(std::size_t start = 0) {
    pos_ = start;
    const auto root = sequence(0);
    if (root != kFailed && pos_ < text_.size())  // only a '}' at the top level stops a sequence
      return fail(pos_, "'}' closes no '{' (write \\} for a literal brace)");
    return root;
  }
  const std::string& error() const { return error_; }

 private:
  std::uint32_t sequence(int depth);
  std::uint32_t group(int depth);
  std::uint32_t wildcard(std::size_t at, std::string_view name);
  bool read_pick_prefix(Tree::Node& node);
  bool option_has_weight() const;

  std::uint32_t add(Tree::Node node, std::size_t at) {
    tree_.nodes.push_back(std::move(node));
    const auto id = static_cast<std::uint32_t>(tree_.nodes.size() - 1);
    if (!tree_.count_node(id)) return fail(at, "has more than 2^64-1 expansions");
    return id;
  }
  std::uint32_t add_literal(std::string text) {
    Tree::Node n;
    n.text = std::move(text);
    return add(std::move(n), 0);
  }
  std::uint32_t fail(std::size_t at, std::string_view what) {
    if (error_.empty()) error_ = fmt::format("{}: {}", where(at), what);
    return kFailed;
  }
  std::string where(std::size_t at) const {
    const auto before = text_.substr(0, at);
    const auto nl = before.rfind('\n');
    const auto line = first_line_ + std::count(before.begin(), before.end(), '\n');
    const auto col = before.substr(nl == std::string_view::npos ? 0 : nl + 1);
    const auto chars = std::count_if(col.begin(), col.end(), [](char c) { return (c & 0xC0) != 0x80; });
    return fmt::format("{}, line {}, column {}", origin_, line, chars + 1);
  }
  friend struct WildcardLoader;

  Tree& tree_;
  WildcardLoader& loader_;
  std::string_view text_;
  std::string_view origin_;
  unsigned first_line_;
  bool record_groups_;
  std::size_t pos_ = 0;
  unsigned groups_seen_ = 0;
  std::string error_;
};

/// Loads wildcard files by name, each once; refuses cycles and runaway nesting.
struct WildcardLoader {
  Tree& tree;
  const WildcardSource& source;
  std::map<std::string, std::uint32_t, std::less<>> loaded;  // name -> its file's node
  std::vector<std::string> loading;                           // the chain being loaded now

  /// The node of wildcard `name`'s options, or kFailed with `error` set (without a position
  /// when the problem is the reference itself, with the wildcard file's position when it is inside).
  std::uint32_t load(std::string_view name, std::string& error, bool& positioned);

 private:
  std::uint32_t parse_file(const WildcardFile& file, std::string& error, bool& positioned);
};

std::uint32_t Parser::sequence(int depth) {
  std::vector<std::uint32_t> parts;
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) parts.push_back(add_literal(std::exchange(literal, {})));
  };
  while (pos_ < text_.size()) {
    const char c = text_[pos_];
    if (c == '\\' && pos_ + 1 < text_.size() && kEscapable.find(text_[pos_ + 1]) != std::string_view::npos) {
      literal += text_[pos_ + 1];
      pos_ += 2;
    } else if (c == '{') {
      flush();
      const auto g = group(depth);
      if (g == kFailed) return kFailed;
      parts.push_back(g);
    } else if (c == '}' || (c == '|' && depth > 0)) {
      break;  // the group's end or next option: the caller reads it
    } else if (c == '_' && text_.substr(pos_, 2) == "__") {
      const auto close = text_.find("__", pos_ + 2);
      const auto name = close == std::string_view::npos ? std::string_view{} : text_.substr(pos_ + 2, close - pos_ - 2);
      if (!is_wildcard_name(name)) {
        literal += c;
        ++pos_;
        continue;
      }
      flush();
      const auto w = wildcard(pos_, name);
      if (w == kFailed) return kFailed;
      parts.push_back(w);
      pos_ = close + 2;
    } else {
      literal += c;
      ++pos_;
    }
  }
  flush();
  if (parts.size() == 1) return parts[0];
  Tree::Node n;
  n.kind = Kind::sequence;
  n.children = std::move(parts);
  return add(std::move(n), pos_);
}

std::uint32_t Parser::group(int depth) {
  const std::size_t open = pos_++;
  if (depth >= kMaxNesting) return fail(open, fmt::format("groups nested more than {} deep", kMaxNesting));
  Tree::Node n;
  n.kind = Kind::choice;
  const bool pick = read_pick_prefix(n);
  if (!error_.empty()) return kFailed;
  if (record_groups_ && depth == 0) n.label = tree_.intern_label(fmt::format("{{{}}}", ++groups_seen_));
  for (;;) {
    if (option_has_weight())
      return fail(pos_, "weights ('2::a') are not supported: a sweep expands every option once "
                        "(write \\: for a literal colon)");
    const auto option = sequence(depth + 1);
    if (option == kFailed) return kFailed;
    n.children.push_back(option);
    if (pos_ >= text_.size()) return fail(open, "'{' is never closed (write \\{ for a literal brace)");
    if (text_[pos_++] == '}') break;
  }
  if (pick && n.max_pick > n.children.size())
    return fail(open, fmt::format("picks up to {} of only {} options", n.max_pick, n.children.size()));
  return add(std::move(n), open);
}

/// `{2$$`, `{1-3$$`, `{2$$ and $$`: the pick range and separator (", " if none); false if the
/// group does not start with one (then nothing is read).
bool Parser::read_pick_prefix(Tree::Node& n) {
  std::size_t p = pos_;
  auto number = [&](std::uint32_t& v) {
    const std::size_t start = p;
    for (v = 0; p < text_.size() && is_digit(text_[p]); ++p) v = std::min<std::uint32_t>(v * 10 + (text_[p] - '0'), 1'000'000);
    return p > start;
  };
  std::uint32_t lo = 0, hi = 0;
  if (!number(lo)) return false;
  hi = lo;
  if (p < text_.size() && text_[p] == '-' && (++p, !number(hi))) return false;
  if (text_.substr(p, 2) != "$$") return false;
  p += 2;
  n.text = ", ";
  std::string separator;
  for (std::size_t q = p; q < text_.size() && text_[q] != '{' && text_[q] != '}' && text_[q] != '|'; ++q) {
    if (text_.substr(q, 2) == "$$") {
      n.text = std::move(separator);
      p = q + 2;
      break;
    }
    const bool escaped = text_[q] == '\\' && q + 1 < text_.size() && kEscapable.find(text_[q + 1]) != std::string_view::npos;
    separator += text_[escaped ? ++q : q];
  }
  n.kind = Kind::pick;
  n.min_pick = lo;
  n.max_pick = hi;
  if (hi < lo) fail(pos_ - 1, fmt::format("pick range {}-{}: the first number must not exceed the second", lo, hi));
  pos_ = p;
  return true;
}

/// True if the option at pos_ starts with a weight: digits, an optional fraction, then "::".
bool Parser::option_has_weight() const {
  std::size_t p = pos_;
  while (p < text_.size() && is_digit(text_[p])) ++p;
  if (p == pos_) return false;
  if (p < text_.size() && text_[p] == '.')
    for (++p; p < text_.size() && is_digit(text_[p]);) ++p;
  return text_.substr(p, 2) == "::";
}

std::uint32_t Parser::wildcard(std::size_t at, std::string_view name) {
  std::string error;
  bool positioned = false;
  const auto file = loader_.load(name, error, positioned);
  if (file == kFailed) {
    if (!positioned) return fail(at, fmt::format("wildcard __{}__: {}", name, error));
    if (error_.empty()) error_ = std::move(error);
    return kFailed;
  }
  Tree::Node n;
  n.kind = Kind::wildcard;
  n.children = {file};
  n.label = tree_.intern_label(fmt::format("__{}__", name));
  return add(std::move(n), at);
}

std::uint32_t WildcardLoader::load(std::string_view name, std::string& error, bool& positioned) {
  positioned = false;
  if (auto it = loaded.find(name); it != loaded.end()) return it->second;
  if (auto it = std::find(loading.begin(), loading.end(), name); it != loading.end()) {
    std::string chain;
    for (; it != loading.end(); ++it) chain += fmt::format("__{}__ -> ", *it);
    error = fmt::format("refers back to itself: {}__{}__", chain, name);
    return kFailed;
  }
  if (loading.size() >= kMaxWildcardDepth) {
    error = fmt::format("wildcards nested more than {} deep", kMaxWildcardDepth);
    return kFailed;
  }
  auto file = source(name);
  if (!file) {
    error = file.error();
    return kFailed;
  }
  loading.emplace_back(name);
  const auto id = parse_file(*file, error, positioned);
  loading.pop_back();
  if (id != kFailed) loaded.emplace(std::string(name), id);
  return id;
}

/// One option per line: trimmed, blank lines and `#` comments skipped, each line a template.
std::uint32_t WildcardLoader::parse_file(const WildcardFile& file, std::string& error, bool& positioned) {
  std::string_view text = file.text;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  Tree::Node n;
  n.kind = Kind::choice;
  unsigned line_no = 0;
  for (std::size_t start = 0; start < text.size();) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
    std::size_t first = 0;
    while (first < line.size() && std::isspace(static_cast<unsigned char>(line[first]))) ++first;
    if (first == line.size() || line[first] == '#') continue;
    positioned = true;
    if (!is_valid_utf8(line)) {
      error = fmt::format("{}, line {}: not valid UTF-8", file.shown_path, line_no);
      return kFailed;
    }
    Parser parser(tree, *this, line, file.shown_path, line_no, false);
    const auto option = parser.parse_all(first);
    if (option == kFailed) {
      error = parser.error();
      return kFailed;
    }
    n.children.push_back(option);
  }
  positioned = false;
  if (n.children.empty()) {
    error = fmt::format("{} has no options (every line is blank or a # comment)", file.shown_path);
    return kFailed;
  }
  tree.nodes.push_back(std::move(n));
  if (!tree.count_node(static_cast<std::uint32_t>(tree.nodes.size() - 1))) {
    error = fmt::format("{} has more than 2^64-1 expansions", file.shown_path);
    return kFailed;
  }
  return static_cast<std::uint32_t>(tree.nodes.size() - 1);
}

}  // namespace

std::int32_t PromptTemplate::Tree::intern_label(std::string text) {
  auto it = std::find(labels.begin(), labels.end(), text);
  if (it != labels.end()) return static_cast<std::int32_t>(it - labels.begin());
  labels.push_back(std::move(text));
  return static_cast<std::int32_t>(labels.size() - 1);
}

WildcardSource wildcard_directory(std::filesystem::path dir, std::string shown_dir) {
  return [dir = std::move(dir), shown_dir = std::move(shown_dir)](
             std::string_view name) -> boost::system::result<WildcardFile, std::string> {
    const std::string file_name = fmt::format("{}.txt", name);
    WildcardFile file{{}, shown_dir.empty() ? file_name : fmt::format("{}/{}", shown_dir, file_name)};
    if (const int err = read_whole_file(dir / file_name, file.text); err != 0)
      return {boost::system::in_place_error, err == ENOENT ? fmt::format("no file {}", file.shown_path)
                                                           : fmt::format("cannot read {} ({})", file.shown_path, std::strerror(err))};
    return file;
  };
}

boost::system::result<PromptTemplate, std::string> PromptTemplate::parse(std::string_view text, std::string origin,
                                                                         const WildcardSource& wildcards) {
  auto tree = std::make_unique<Tree>();
  WildcardLoader loader{*tree, wildcards, {}, {}};
  Parser parser(*tree, loader, text, origin, 1, true);
  const auto root = parser.parse_all();
  if (root == kFailed) return {boost::system::in_place_error, parser.error()};
  tree->root = root;
  return PromptTemplate(std::move(tree));
}

}  // namespace venice_batch
