// One manifest line to a JobSpec or an InvalidLine: the id, the defaults merged in, the
// request checked against the schema, and the canonical body (keys sorted) with its hash.
#include "venice_batch/manifest.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

#include "venice_batch/openai_batch.hpp"
#include "venice_batch/request_schema.hpp"
#include "venice_batch/sha256.hpp"

namespace venice_batch {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;
using Member = std::pair<std::string_view, simdjson::dom::element>;

// A string for a message: control characters escaped, cut at a code point boundary.
std::string quoted(std::string_view s) {
  constexpr std::size_t kMax = 64;
  std::string out = "'";
  std::size_t i = 0;
  for (; i < s.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) fmt::format_to(std::back_inserter(out), "\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  if (i < s.size()) {
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
    out += "...";
  }
  return out + "'";
}

std::string_view type_name(simdjson::dom::element v) {
  switch (v.type()) {
    case simdjson::dom::element_type::ARRAY: return "an array";
    case simdjson::dom::element_type::OBJECT: return "an object";
    case simdjson::dom::element_type::STRING: return "a string";
    case simdjson::dom::element_type::BOOL: return "a boolean";
    case simdjson::dom::element_type::NULL_VALUE: return "null";
    default: return "a number";
  }
}

/// Why `id` cannot name files, or empty if it can.
std::string id_problem(std::string_view id) {
  if (id.empty()) return "id is empty";
  if (id.size() > 128) return fmt::format("id is {} bytes long (at most 128)", id.size());
  if (!is_valid_job_id(id))
    return fmt::format("id {} cannot name files: use A-Z a-z 0-9 . _ - only, starting with a letter or digit "
                       "(no '/', '..' or leading '.')",
                       quoted(id));
  return {};
}

std::string sha256_hex(std::string_view data) {
  thread_local Sha256Hasher hasher;
  return hasher.hex(data);
}

bool by_key(const Member& a, const Member& b) { return a.first < b.first; }

/// The first key that `members` (sorted by key) holds twice, or empty.
std::string_view repeated_key(const std::vector<Member>& members) {
  auto it = std::adjacent_find(members.begin(), members.end(), [](const Member& a, const Member& b) { return a.first == b.first; });
  return it == members.end() ? std::string_view{} : it->first;
}

void write_key(Writer& w, std::string_view k) { w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())); }

/// Writes `v` as JSON; with `canonical`, every object's keys sorted (nested ones too), so equal
/// requests give equal bytes. Integers stay integers, doubles stay doubles. Returns false if
/// a nested object repeats a key (its meaning would be ambiguous).
bool write_value(Writer& w, simdjson::dom::element v, bool canonical) {
  using T = simdjson::dom::element_type;
  switch (v.type()) {
    case T::OBJECT: {
      std::vector<Member> members;
      for (auto [k, x] : simdjson::dom::object(v)) members.emplace_back(k, x);
      if (canonical) {
        std::stable_sort(members.begin(), members.end(), by_key);
        if (!repeated_key(members).empty()) return false;
      }
      w.StartObject();
      for (const auto& [k, x] : members) {
        write_key(w, k);
        if (!write_value(w, x, canonical)) return false;
      }
      return w.EndObject();
    }
    case T::ARRAY:
      w.StartArray();
      for (auto x : simdjson::dom::array(v))
        if (!write_value(w, x, canonical)) return false;
      return w.EndArray();
    case T::STRING: {
      std::string_view s(v);
      return w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
    }
    case T::INT64: return w.Int64(std::int64_t(v));
    case T::UINT64: return w.Uint64(std::uint64_t(v));
    case T::DOUBLE: return w.Double(double(v));  // false for a non-finite value (simdjson never yields one)
    case T::BOOL: return w.Bool(bool(v));
    case T::NULL_VALUE: return w.Null();
  }
  return false;
}

std::string write_object(const std::vector<Member>& members, bool canonical, bool& ok) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  ok = w.StartObject();
  for (const auto& [k, v] : members) {
    write_key(w, k);
    ok = ok && write_value(w, v, canonical);
  }
  ok = ok && w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

// "width: must be an integer from 1 to 1280 (got 2000)"; an unknown field's message names it already.
std::string describe(const FieldIssue& issue) {
  if (issue.code == "unrecognized_keys" || issue.path.empty()) return issue.message;
  return fmt::format("{}: {}", issue.path, issue.message);
}

}  // namespace

std::string manifest_line_hash(std::string_view line) { return sha256_hex(line); }

namespace {
// What besides the line's text shapes its request. Changing the defaults changes every key.
std::string options_fingerprint(const ManifestOptions& options) {
  return fmt::format("venice-batch line key 1\ndefaults={}\nallow_unknown_fields={}\n", options.defaults_json,
                     options.allow_unknown_fields);
}
}  // namespace

std::string manifest_line_key(const ManifestOptions& options, std::string_view line) {
  return ManifestLineKeyer(options).key(line);
}

// The first 8 bytes of SHA-256(options fingerprint, line), big-endian (as hash_prefix64 reads its hex).
std::uint64_t ManifestLineKeyer::key64(std::string_view line) const { return digest_->first64(line); }
std::string ManifestLineKeyer::key(std::string_view line) const { return fmt::format("{:016x}", key64(line)); }
ManifestLineKeyer::ManifestLineKeyer(const ManifestOptions& options)
    : digest_(std::make_shared<Sha256Hasher>(options_fingerprint(options))) {}

/// Owns its simdjson parsers and the parsed defaults, so a stream of lines reuses their memory.
struct ManifestLineParser::Impl {
  SchemaOptions schema;
  ManifestLineKeyer keyer;
  simdjson::dom::parser defaults_parser;  // owns the elements in `defaults`
  simdjson::dom::parser line_parser;
  simdjson::dom::parser mapped_parser;  // an OpenAI Batch line, as the Venice line it maps to
  simdjson::dom::parser request_parser;
  ModelSizesLookup model_sizes;
  std::vector<Member> defaults;
  std::vector<Member> line_fields, sorted_fields, merged;  // reused per line

  explicit Impl(const ManifestOptions& options) : keyer(options) {
    schema.allow_unknown_fields = options.allow_unknown_fields;
    simdjson::dom::element root;
    if (auto err = defaults_parser.parse(options.defaults_json).get(root))
      throw std::runtime_error(fmt::format("the config's defaults are not valid JSON ({})", simdjson::error_message(err)));
    simdjson::dom::object obj;
    if (root.get_object().get(obj))
      throw std::runtime_error(fmt::format("the config's defaults must be a JSON object, not {}", type_name(root)));
    for (auto [k, v] : obj) {
      if (k == "id") throw std::runtime_error("the config's defaults cannot set 'id': every job needs its own");
      defaults.emplace_back(k, v);
    }
    auto sorted = defaults;
    std::stable_sort(sorted.begin(), sorted.end(), by_key);
    if (auto k = repeated_key(sorted); !k.empty())
      throw std::runtime_error(fmt::format("the config's defaults set '{}' twice", k));
  }

  /// The config's default model, for an OpenAI Batch line whose body names none.
  std::string_view default_model() const {
    std::string_view model;
    for (const auto& [k, v] : defaults)
      if (k == "model" && !v.get_string().get(model)) return model;
    return {};
  }

  /// Splits the line's `id` and `metadata` from its request fields (into line_fields); a bad id
  /// or metadata is a problem.
  void read_fields(simdjson::dom::object obj, std::string& id, std::string& metadata, std::vector<std::string>& problems) {
    line_fields.clear();
    int ids = 0, metadatas = 0;
    for (auto [k, v] : obj) {
      if (k == "metadata") {
        if (++metadatas > 1) continue;  // reported below
        if (!v.is_object()) {
          problems.push_back(fmt::format("metadata must be a JSON object (got {})", type_name(v)));
          continue;
        }
        metadata = simdjson::minify(v);
        if (metadata.size() > kMaxMetadataBytes)
          problems.push_back(fmt::format("metadata is {} bytes; at most {} are kept", metadata.size(), kMaxMetadataBytes));
        continue;
      }
      if (k != "id") {
        line_fields.emplace_back(k, v);
        continue;
      }
      if (++ids > 1) continue;  // reported below
      std::string_view given;
      if (v.get_string().get(given)) problems.push_back(fmt::format("id must be a string (got {})", type_name(v)));
      else if (auto p = id_problem(given); !p.empty()) problems.push_back(std::move(p));
      else id.assign(given);
    }
    if (ids > 1) problems.push_back("field 'id' appears more than once");
    if (metadatas > 1) problems.push_back("field 'metadata' appears more than once");
  }

  /// The request: the line's fields, then the defaults it leaves out (merged, in line order,
  /// so issues are listed as the user wrote the line; sorted_fields, for the canonical body).
  void merge_defaults(std::vector<std::string>& problems) {
    sorted_fields = line_fields;
    std::stable_sort(sorted_fields.begin(), sorted_fields.end(), by_key);
    if (auto k = repeated_key(sorted_fields); !k.empty())
      problems.push_back(fmt::format("field '{}' appears more than once", k));
    merged = line_fields;
    for (const auto& d : defaults) {
      if (!std::binary_search(sorted_fields.begin(), sorted_fields.end(), d, by_key)) {
        merged.push_back(d);
        sorted_fields.insert(std::upper_bound(sorted_fields.begin(), sorted_fields.end(), d, by_key), d);
      }
    }
  }

  static JobSpec make_job(std::string id, std::uint64_t line_no, simdjson::dom::object request, std::string body) {
    JobSpec job;
    job.id = std::move(id);
    job.line = line_no;
    std::string_view s;
    if (request["model"].get_string().get(s) == simdjson::SUCCESS) job.model.assign(s);
    if (request["prompt"].get_string().get(s) == simdjson::SUCCESS) job.prompt.assign(s);
    if (request["format"].get_string().get(s) == simdjson::SUCCESS)
      job.format = parse_image_format(s).value_or(ImageFormat::webp);
    std::int64_t variants = 1;
    if (request["variants"].get_int64().get(variants) == simdjson::SUCCESS) job.variants = static_cast<int>(variants);
    bool binary = false;
    if (request["return_binary"].get_bool().get(binary) == simdjson::SUCCESS) job.return_binary = binary;
    std::int64_t seed = 0;
    if (request["seed"].get_int64().get(seed) == simdjson::SUCCESS) job.seed = seed;
    std::uint64_t width = 0, height = 0;
    if (request["width"].get_uint64().get(width) == simdjson::SUCCESS &&
        request["height"].get_uint64().get(height) == simdjson::SUCCESS)
      job.size = ImageSize{static_cast<std::uint32_t>(width), static_cast<std::uint32_t>(height)};
    job.request_hash = sha256_hex(body);
    job.body = std::move(body);
    return job;
  }

  ManifestEntry parse(std::string_view line, std::uint64_t line_no) {
    std::string id = derived_job_id(line_no);
    auto invalid = [&](std::string reason) { return InvalidLine{line_no, id, std::move(reason), sha256_hex(line)}; };

    simdjson::dom::element root;
    if (auto err = line_parser.parse(line.data(), line.size(), true).get(root))
      return invalid(fmt::format("not valid JSON ({})", simdjson::error_message(err)));
    simdjson::dom::object obj;
    if (root.get_object().get(obj)) return invalid(fmt::format("not a JSON object (got {})", type_name(root)));
    if (is_openai_batch_line(obj)) {
      auto mapped = map_openai_batch_line(obj, model_sizes, default_model());
      if (!mapped) {
        std::string_view custom_id;
        if (!obj["custom_id"].get_string().get(custom_id) && id_problem(custom_id).empty()) id = custom_id;
        return invalid(fmt::format("OpenAI Batch line: {}", mapped.error()));
      }
      if (mapped_parser.parse(*mapped).get(root) || root.get_object().get(obj))
        return invalid("cannot rebuild the request from the line");  // not expected: we wrote it
    }

    std::vector<std::string> problems;  // the line's own first, then the schema's, all together
    std::string metadata;
    read_fields(obj, id, metadata, problems);
    merge_defaults(problems);
    bool ok = false;
    const std::string in_line_order = write_object(merged, false, ok);
    simdjson::dom::object request;
    if (!ok || request_parser.parse(in_line_order).get_object().get(request))
      return invalid("cannot rebuild the request from the line");  // not expected: simdjson read it
    for (const auto& issue : validate_request(request, schema)) problems.push_back(describe(issue));
    std::string body = write_object(sorted_fields, true, ok);
    if (!ok) problems.push_back("an object in the line repeats a key");
    if (!problems.empty()) return invalid(fmt::format("{}", fmt::join(problems, "; ")));
    JobSpec job = make_job(std::move(id), line_no, request, std::move(body));
    job.line_key = keyer.key(line);
    job.metadata = std::move(metadata);
    return job;
  }
};

ManifestLineParser::ManifestLineParser(const ManifestOptions& options) : impl_(std::make_unique<Impl>(options)) {}
ManifestLineParser::~ManifestLineParser() = default;
ManifestEntry ManifestLineParser::parse(std::string_view line, std::uint64_t line_no) { return impl_->parse(line, line_no); }
void ManifestLineParser::set_max_prompt_chars(std::size_t chars) { impl_->schema.max_prompt_chars = chars; }
void ManifestLineParser::set_model_sizes(ModelSizesLookup sizes) { impl_->model_sizes = std::move(sizes); }

std::optional<std::string> canonical_json(simdjson::dom::element value) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  if (!write_value(w, value, true)) return std::nullopt;
  return std::string(buf.GetString(), buf.GetSize());
}

bool is_valid_job_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  auto alnum = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(id[0])) return false;
  return std::all_of(id.begin(), id.end(), [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
}

std::string derived_job_id(std::uint64_t line) {
  // By hand: a resume derives one per manifest line, and fmt's general path costs more than this.
  char buf[24];
  char* end = buf + sizeof buf;
  char* p = end;
  do {
    *--p = static_cast<char>('0' + line % 10);
    line /= 10;
  } while (line != 0);
  while (end - p < 8) *--p = '0';
  return std::string(p, end);
}

ManifestEntry parse_manifest_line(std::string_view line, std::uint64_t line_no, const ManifestOptions& options) {
  std::optional<ManifestLineParser> parser;
  try {
    parser.emplace(options);
  } catch (const std::runtime_error& e) {
    return InvalidLine{line_no, derived_job_id(line_no), e.what(), manifest_line_hash(line)};
  }
  return parser->parse(line, line_no);
}

}  // namespace venice_batch
