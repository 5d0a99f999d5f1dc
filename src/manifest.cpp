#include "venice_batch/manifest.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <stdexcept>
#include <unordered_map>

#include <fcntl.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

#include "venice_batch/request_schema.hpp"

namespace venice_batch {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void write_element(Writer& w, simdjson::dom::element v) {
  using T = simdjson::dom::element_type;
  switch (v.type()) {
    case T::OBJECT: {
      w.StartObject();
      for (auto [k, x] : simdjson::dom::object(v)) {
        w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
        write_element(w, x);
      }
      w.EndObject();
      break;
    }
    case T::ARRAY:
      w.StartArray();
      for (auto x : simdjson::dom::array(v)) write_element(w, x);
      w.EndArray();
      break;
    case T::STRING: {
      std::string_view s(v);
      w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
      break;
    }
    case T::INT64: w.Int64(std::int64_t(v)); break;
    case T::UINT64: w.Uint64(std::uint64_t(v)); break;
    case T::DOUBLE: w.Double(double(v)); break;
    case T::BOOL: w.Bool(bool(v)); break;
    case T::NULL_VALUE: w.Null(); break;
  }
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out(len * 2, '0');
  for (unsigned i = 0; i < len; ++i) {
    out[2 * i] = hex[digest[i] >> 4];
    out[2 * i + 1] = hex[digest[i] & 15];
  }
  return out;
}

std::string join_issues(const std::vector<FieldIssue>& issues) {
  std::string s;
  for (const auto& i : issues) {
    if (!s.empty()) s += "; ";
    if (i.code == "unrecognized_keys" || i.path.empty()) s += i.message;
    else s += i.path + ": " + i.message;
  }
  return s;
}

InvalidLine invalid(std::uint64_t line, std::string id, std::string reason) {
  return InvalidLine{line, std::move(id), std::move(reason)};
}

}  // namespace

bool is_valid_job_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  auto alnum = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(id[0])) return false;
  for (char c : id)
    if (!alnum(c) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

std::string derived_job_id(std::uint64_t line) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%08llu", static_cast<unsigned long long>(line));
  return buf;
}

ManifestEntry parse_manifest_line(std::string_view line, std::uint64_t line_no, const ManifestOptions& options) {
  thread_local simdjson::dom::parser line_parser, defaults_parser, body_parser;
  std::string id = derived_job_id(line_no);

  simdjson::dom::element root;
  if (auto err = line_parser.parse(line.data(), line.size(), true).get(root))
    return invalid(line_no, id, std::string("not valid JSON (") + simdjson::error_message(err) + ")");
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) return invalid(line_no, id, "not a JSON object");

  simdjson::dom::element id_value;
  if (obj["id"].get(id_value) == simdjson::SUCCESS) {
    std::string_view given;
    if (id_value.get_string().get(given)) return invalid(line_no, id, "id must be a string");
    if (!is_valid_job_id(given)) {
      std::string shown;
      for (unsigned char c : given.substr(0, 64)) shown += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
      return invalid(line_no, id,
                     "id '" + shown + "' cannot name files: use 1-128 of A-Z a-z 0-9 . _ - not starting with . _ or -");
    }
    id.assign(given);
  }

  // Merge: the line's fields over the defaults', keys sorted so that the body (and its hash)
  // does not depend on the order a line happened to use.
  std::map<std::string_view, simdjson::dom::element> fields;
  simdjson::dom::element defaults_root;
  if (options.defaults_json.size() > 2) {
    if (defaults_parser.parse(options.defaults_json).get(defaults_root) || !defaults_root.is_object())
      return invalid(line_no, id, "the config's defaults are not a JSON object");
    for (auto [k, v] : simdjson::dom::object(defaults_root)) fields[k] = v;
  }
  for (auto [k, v] : obj) {
    if (k == "id") continue;
    fields[k] = v;
  }
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  for (const auto& [k, v] : fields) {
    w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size()));
    write_element(w, v);
  }
  w.EndObject();
  std::string body(buf.GetString(), buf.GetSize());

  simdjson::dom::element merged;
  if (body_parser.parse(body).get(merged)) return invalid(line_no, id, "cannot re-read the request");  // not expected
  simdjson::dom::object request = merged;
  SchemaOptions schema;
  schema.allow_unknown_fields = options.allow_unknown_fields;
  auto issues = validate_request(request, schema);
  if (!issues.empty()) return invalid(line_no, id, join_issues(issues));

  JobSpec job;
  job.id = std::move(id);
  job.line = line_no;
  std::string_view s;
  if (request["model"].get_string().get(s) == simdjson::SUCCESS) job.model.assign(s);
  if (request["prompt"].get_string().get(s) == simdjson::SUCCESS) job.prompt.assign(s);
  if (request["format"].get_string().get(s) == simdjson::SUCCESS) job.format = parse_image_format(s).value_or(ImageFormat::webp);
  int64_t variants = 1;
  if (request["variants"].get_int64().get(variants) == simdjson::SUCCESS) job.variants = static_cast<int>(variants);
  bool binary = false;
  if (request["return_binary"].get_bool().get(binary) == simdjson::SUCCESS) job.return_binary = binary;
  job.request_hash = sha256_hex(body);
  job.body = std::move(body);
  return job;
}

struct ManifestReader::Impl {
  std::ifstream in;
  ManifestOptions options;
  std::uint64_t line_no = 0;
  std::string line;
  std::unordered_map<std::string, std::uint64_t> seen;  // id -> first line
};

ManifestReader::ManifestReader(const std::filesystem::path& path, ManifestOptions options)
    : impl_(std::make_unique<Impl>()) {
  {
    simdjson::dom::parser p;
    simdjson::dom::element d;
    if (p.parse(options.defaults_json).get(d) || !d.is_object())
      throw std::runtime_error("the config's defaults must be a JSON object");
  }
  impl_->in.open(path, std::ios::binary);
  if (!impl_->in) throw std::runtime_error("cannot read manifest '" + path.string() + "'");
  impl_->options = std::move(options);
}

ManifestReader::~ManifestReader() = default;

std::optional<ManifestEntry> ManifestReader::next() {
  auto& s = *impl_;
  while (std::getline(s.in, s.line)) {
    ++s.line_no;
    std::string_view view(s.line);
    if (s.line_no == 1 && view.starts_with("\xEF\xBB\xBF")) view.remove_prefix(3);
    if (!view.empty() && view.back() == '\r') view.remove_suffix(1);
    if (view.find_first_not_of(" \t\r\f\v") == std::string_view::npos) continue;
    auto entry = parse_manifest_line(view, s.line_no, s.options);
    const std::string& id = std::visit([](const auto& e) -> const std::string& { return e.id; }, entry);
    auto [it, inserted] = s.seen.try_emplace(id, s.line_no);
    if (!inserted)
      return InvalidLine{s.line_no, id, "duplicate id '" + id + "' (first on line " + std::to_string(it->second) + ")"};
    return entry;
  }
  return std::nullopt;
}

std::uint64_t count_manifest_jobs(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  std::vector<char> buf(1 << 20);
  std::uint64_t count = 0;
  bool content = false;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n <= 0) break;
    const char* p = buf.data();
    const char* end = p + n;
    while (p < end) {
      if (!content) {
        // Skip whitespace until something that makes the line count.
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) ++p;
        if (p == end) break;
        if (*p == '\n') {
          ++p;
          continue;
        }
        content = true;
      }
      const void* nl = std::memchr(p, '\n', static_cast<std::size_t>(end - p));
      if (!nl) {
        p = end;
        break;
      }
      ++count;
      content = false;
      p = static_cast<const char*>(nl) + 1;
    }
  }
  if (content) ++count;
  ::close(fd);
  return count;
}

}  // namespace venice_batch
