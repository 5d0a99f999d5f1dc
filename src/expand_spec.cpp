// Reading a sweep spec: the JSON (prompt, wildcards, fixed, matrix, replicates, id_prefix,
// allow_unknown_fields) checked and turned into a Sweep::Impl. Every value a line can carry is
// checked here, once, against the request schema, so a typo fails before a line is written.
#include <algorithm>
#include <array>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <simdjson.h>

#include "expand_internal.hpp"
#include "venice_batch/manifest.hpp"
#include "venice_batch/request_schema.hpp"

namespace venice_batch {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using Result = boost::system::result<Sweep::Impl, std::string>;

constexpr std::uint32_t kMaxReplicates = 1000;
constexpr std::array<std::string_view, 8> kSpecKeys = {"prompt",     "wildcards", "fixed",
                                                        "matrix",     "replicates", "id_prefix",
                                                        "allow_unknown_fields", "description"};

std::string quoted(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

/// Builds a Sweep::Impl from the parsed spec, stopping at the first problem (in `error`).
class SpecReader {
 public:
  SpecReader(std::string spec_name, const WildcardSource& wildcards) : name_(std::move(spec_name)), wildcards_(wildcards) {}

  Result read(simdjson::dom::object spec);

 private:
  Result fail(std::string what) { return {boost::system::in_place_error, fmt::format("{}: {}", name_, what)}; }
  bool problem(std::string what) {
    if (error_.empty()) error_ = std::move(what);
    return false;
  }
  bool read_options(simdjson::dom::object spec, Sweep::Impl& out);
  bool read_fixed(element fixed, Sweep::Impl& out);
  bool read_axis(std::string_view name, element values, Sweep::Impl& out);
  bool read_range(std::string_view name, simdjson::dom::object range, SweepAxis& axis);
  bool field(std::string_view name, element value, const std::string& origin, SweepField& out);
  bool claim(std::string_view field, const std::string& origin);

  std::string name_;
  const WildcardSource& wildcards_;
  SchemaOptions schema_;
  simdjson::dom::parser check_parser_;
  std::map<std::string, std::string, std::less<>> owners_;  // field -> where the spec sets it
  std::string error_;
};

/// Registers that `origin` sets `field`; a field set in two places is a problem.
bool SpecReader::claim(std::string_view field, const std::string& origin) {
  if (field == "prompt") return problem(fmt::format("{}: 'prompt' is the template: set it at the top of the spec", origin));
  if (field == "id" || field == "metadata")
    return problem(fmt::format("{}: '{}' is written by expand itself", origin, field));
  auto [it, fresh] = owners_.try_emplace(std::string(field), origin);
  if (!fresh && it->second != origin)
    return problem(fmt::format("field '{}' is set twice: by {} and by {}", field, it->second, origin));
  return true;
}

/// Field `name` = `value`: canonical JSON, checked against the schema as the run would check it.
bool SpecReader::field(std::string_view name, element value, const std::string& origin, SweepField& out) {
  auto json = canonical_json(value);
  if (!json) return problem(fmt::format("{}: an object in the value repeats a key", origin));
  out = {std::string(name), quoted(name), std::move(*json)};
  // The field alone in a request with a placeholder model and prompt: only its own issues count.
  std::string probe = "{";
  if (name != "model") probe += "\"model\":\"m\",";
  probe += fmt::format("\"prompt\":\"p\",{}:{}}}", out.key_json, out.json);
  simdjson::dom::object request;
  if (check_parser_.parse(probe).get_object().get(request)) return problem(fmt::format("{}: cannot be checked", origin));
  std::vector<std::string> issues;
  for (const auto& issue : validate_request(request, schema_)) {
    if (issue.path != name && issue.path.rfind(fmt::format("{}.", name), 0) != 0) continue;
    issues.push_back(issue.code == "unrecognized_keys" ? issue.message : fmt::format("{}: {}", issue.path, issue.message));
  }
  if (!issues.empty()) return problem(fmt::format("{}: {}", origin, fmt::join(issues, "; ")));
  return true;
}

bool SpecReader::read_fixed(element fixed, Sweep::Impl& out) {
  simdjson::dom::object obj;
  if (fixed.get_object().get(obj)) return problem("'fixed' must be an object of request fields");
  for (auto [k, v] : obj) {
    const std::string origin = fmt::format("fixed.{}", k);
    SweepField f;
    if (!claim(k, origin) || !field(k, v, origin, f)) return false;
    out.fixed.push_back(std::move(f));
  }
  return true;
}

bool SpecReader::read_range(std::string_view name, simdjson::dom::object range, SweepAxis& axis) {
  const std::string origin = fmt::format("matrix.{}", name);
  std::int64_t to = 0;
  for (auto [k, v] : range)
    if (k != "from" && k != "to" && k != "step")
      return problem(fmt::format("{}: a range has only \"from\", \"to\" and \"step\" (not '{}')", origin, k));
  if (range["from"].get_int64().get(axis.from) || range["to"].get_int64().get(to))
    return problem(fmt::format("{}: a range needs integers \"from\" and \"to\"", origin));
  auto step = range["step"];
  if (step.error() != simdjson::NO_SUCH_FIELD && (step.get_int64().get(axis.step) || axis.step == 0))
    return problem(fmt::format("{}: \"step\" must be a non-zero integer", origin));
  const __int128 span = static_cast<__int128>(to) - axis.from;
  if (span != 0 && (span < 0) != (axis.step < 0))
    return problem(fmt::format("{}: the range from {} to {} by {} is empty", origin, axis.from, to, axis.step));
  axis.range_size = static_cast<std::uint64_t>(span / axis.step + 1);  // at most 2^64-1 values
  const auto last = static_cast<std::int64_t>(axis.from + static_cast<__int128>(axis.range_size - 1) * axis.step);
  for (const std::int64_t end : {axis.from, last}) {  // an integer field's range is an interval: its ends decide
    simdjson::dom::parser p;
    const std::string text = fmt::format("{}", end);
    SweepField f;
    if (!field(name, p.parse(text).value(), origin, f)) return false;
  }
  return true;
}

bool SpecReader::read_axis(std::string_view name, element values, Sweep::Impl& out) {
  SweepAxis axis;
  axis.name = std::string(name);
  axis.key_json = quoted(name);
  const std::string origin = fmt::format("matrix.{}", name);
  const bool is_field = is_known_request_field(name) || name == "prompt" || name == "id" || name == "metadata" ||
                        (schema_.allow_unknown_fields && values.type() != element_type::ARRAY);
  if (values.type() == element_type::OBJECT) {
    if (!is_field) return problem(fmt::format("{}: '{}' is not a request field: a range needs one", origin, name));
    simdjson::dom::object range = values;
    if (!claim(name, origin) || !read_range(name, range, axis)) return false;
  } else if (values.type() != element_type::ARRAY) {  // a single value: the same for every line
    SweepField f;
    if (!claim(name, origin) || !field(name, values, origin, f)) return false;
    out.fixed.push_back(std::move(f));
    return true;
  } else {
    std::size_t i = 0;
    simdjson::dom::array list = values;
    for (element v : list) {
      const std::string at = fmt::format("{}[{}]", origin, i++);
      SweepAxisValue value;
      SweepField f;
      if (is_field || (schema_.allow_unknown_fields && v.type() != element_type::OBJECT)) {
        if (!claim(name, origin) || !field(name, v, at, f)) return false;
        value.json = f.json;
        value.fields.push_back(std::move(f));
      } else if (v.type() != element_type::OBJECT) {
        return problem(fmt::format("{}: '{}' is not a request field, so its values must be objects of fields "
                                   "(a group, like {{\"width\": 1024, \"height\": 768}})", at, name));
      } else {
        simdjson::dom::object group = v;
        for (auto [k, x] : group) {
          if (!claim(k, origin) || !field(k, x, fmt::format("{}.{}", at, k), f)) return false;
          value.fields.push_back(std::move(f));
        }
        value.json = canonical_json(v).value_or(std::string());  // each member was checked above
      }
      axis.values.push_back(std::move(value));
    }
    if (axis.values.empty()) return problem(fmt::format("{} is an empty list: the sweep would have no lines", origin));
  }
  out.axes.push_back(std::move(axis));
  return true;
}

bool SpecReader::read_options(simdjson::dom::object spec, Sweep::Impl& out) {
  std::int64_t replicates = 1;
  if (auto r = spec["replicates"]; r.error() != simdjson::NO_SUCH_FIELD &&
                                   (r.get_int64().get(replicates) || replicates < 1 || replicates > kMaxReplicates))
    return problem(fmt::format("'replicates' must be an integer from 1 to {}", kMaxReplicates));
  out.replicates = static_cast<std::uint32_t>(replicates);
  if (auto p = spec["id_prefix"]; p.error() != simdjson::NO_SUCH_FIELD) {
    std::string_view prefix;
    if (p.get_string().get(prefix) || prefix.size() > 32 || !is_valid_job_id(prefix))
      return problem("'id_prefix' must be 1-32 of A-Z a-z 0-9 . _ -, starting with a letter or digit");
    out.id_prefix = std::string(prefix);
  }
  if (auto a = spec["allow_unknown_fields"];
      a.error() != simdjson::NO_SUCH_FIELD && a.get_bool().get(schema_.allow_unknown_fields))
    return problem("'allow_unknown_fields' must be true or false");
  if (element w; !spec["wildcards"].get(w) && w.type() != element_type::STRING)
    return problem("'wildcards' must be a directory name (a string)");
  return true;
}

Result SpecReader::read(simdjson::dom::object spec) {
  for (auto [k, v] : spec)
    if (std::find(kSpecKeys.begin(), kSpecKeys.end(), k) == kSpecKeys.end())
      return fail(fmt::format("unknown key '{}' (a spec has {})", k, fmt::join(kSpecKeys, ", ")));
  std::string_view prompt;
  if (spec["prompt"].get_string().get(prompt)) return fail("'prompt' (the template) is required and must be a string");
  auto parsed = PromptTemplate::parse(prompt, fmt::format("{}: prompt", name_), wildcards_);
  if (!parsed) return {boost::system::in_place_error, parsed.error()};
  Sweep::Impl out(std::move(*parsed));
  out.spec_name = name_;
  out.template_json = quoted(prompt);
  bool ok = read_options(spec, out);
  if (auto fixed = spec["fixed"]; ok && fixed.error() != simdjson::NO_SUCH_FIELD) ok = read_fixed(fixed.value(), out);
  if (auto matrix = spec["matrix"]; ok && matrix.error() != simdjson::NO_SUCH_FIELD) {
    simdjson::dom::object axes;
    ok = !matrix.get_object().get(axes) || problem("'matrix' must be an object: field (or group) -> values");
    for (auto [k, v] : axes)
      if (ok) ok = read_axis(k, v, out);
  }
  if (!ok) return fail(error_);
  out.combinations = out.prompt.count();
  for (const auto& axis : out.axes)
    if (__builtin_mul_overflow(out.combinations, axis.size(), &out.combinations))
      return fail("more than 2^64-1 combinations");
  return out;
}

}  // namespace

boost::system::result<Sweep::Impl, std::string> read_sweep_spec(std::string_view json, std::string spec_name,
                                                                const WildcardSource& wildcards) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto err = parser.parse(simdjson::padded_string(json)).get(root))
    return {boost::system::in_place_error, fmt::format("{}: not valid JSON ({})", spec_name, simdjson::error_message(err))};
  simdjson::dom::object spec;
  if (root.get_object().get(spec)) return {boost::system::in_place_error, fmt::format("{}: must be a JSON object", spec_name)};
  return SpecReader(std::move(spec_name), wildcards).read(spec);
}

}  // namespace venice_batch
