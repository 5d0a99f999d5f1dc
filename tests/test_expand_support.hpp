// Helpers for the sweep tests (test_prompt_template.cpp, test_expand_*.cpp): wildcard files
// held in memory, and a sweep expanded into a vector of lines.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "venice_batch/expand.hpp"

namespace expand_test {

/// Wildcard files held in memory, shown in messages as wildcards/<name>.txt.
inline venice_batch::WildcardSource files(std::map<std::string, std::string> texts) {
  return [texts = std::move(texts)](std::string_view name)
             -> boost::system::result<venice_batch::WildcardFile, std::string> {
    auto it = texts.find(std::string(name));
    const std::string shown = "wildcards/" + std::string(name) + ".txt";
    if (it == texts.end()) return {boost::system::in_place_error, "no file " + shown};
    return venice_batch::WildcardFile{it->second, shown};
  };
}

/// The spec parsed as "sweep.json" with these wildcards; fails the test if it does not parse.
venice_batch::Sweep sweep(const std::string& spec, std::map<std::string, std::string> wildcards = {});

/// The spec's parse error ("" and a test failure if it parses).
std::string spec_error(const std::string& spec, std::map<std::string, std::string> wildcards = {});

/// What expand wrote (lines without '\n'), or its error.
struct Expanded {
  std::vector<std::string> lines;
  std::optional<venice_batch::ExpandError> error;
  venice_batch::ExpandSummary summary;
  std::uint64_t chunks = 0;  ///< calls to the sink
};
Expanded expand_all(const venice_batch::Sweep& sweep, const venice_batch::ExpandOptions& options = {});

/// The "id" of a manifest line.
std::string id_of(const std::string& line);
/// Field `key` of a line (a request field or "metadata") as minified JSON.
std::string field_of(const std::string& line, const std::string& key);

}  // namespace expand_test
