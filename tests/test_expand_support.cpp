// Helpers for the sweep tests (declared in test_expand_support.hpp); no tests here.
#include "test_expand_support.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

namespace expand_test {

using namespace venice_batch;

Sweep sweep(const std::string& spec, std::map<std::string, std::string> wildcards) {
  auto s = Sweep::parse(spec, "sweep.json", files(std::move(wildcards)));
  if (!s) {
    ADD_FAILURE() << s.error();
    return std::move(*Sweep::parse(R"({"prompt": "failed"})", "failed.json", files({})));
  }
  return std::move(*s);
}

std::string spec_error(const std::string& spec, std::map<std::string, std::string> wildcards) {
  auto s = Sweep::parse(spec, "sweep.json", files(std::move(wildcards)));
  if (s) ADD_FAILURE() << "the spec parsed, but an error was expected: " << spec;
  return s ? std::string() : s.error();
}

Expanded expand_all(const Sweep& sweep, const ExpandOptions& options) {
  Expanded out;
  std::string text;
  auto result = expand(sweep, options, [&](std::string_view chunk) {
    ++out.chunks;
    text += chunk;
    return true;
  });
  if (!result) out.error = result.error();
  else out.summary = *result;
  for (std::size_t start = 0; start < text.size();) {
    const auto end = text.find('\n', start);
    out.lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string field_of(const std::string& line, const std::string& key) {
  simdjson::dom::parser parser;
  simdjson::dom::element v;
  if (parser.parse(line).at_key(key).get(v)) return "<absent>";
  return simdjson::minify(v);
}

std::string id_of(const std::string& line) {
  const auto id = field_of(line, "id");
  return id.size() >= 2 ? id.substr(1, id.size() - 2) : id;
}

}  // namespace expand_test
