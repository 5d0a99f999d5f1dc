#include "venice_batch/manifest.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <unordered_map>
#include <utility>
#include <vector>

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
using Member = std::pair<std::string_view, simdjson::dom::element>;

// A line longer than this cannot become a request the API accepts (it refuses bodies over 35 MB
// with 413); stopping here also keeps a file without newlines from being read into memory whole.
constexpr std::size_t kMaxLineBytes = 35u << 20;
constexpr std::size_t kReadBlockBytes = 1u << 20;
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

// What makes a line blank, for the reader and count_manifest_jobs alike.
bool is_line_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

bool is_blank_line(std::string_view s) {
  return std::all_of(s.begin(), s.end(), is_line_space);
}

// Reads up to `size` bytes, retrying on EINTR; throws on a read error (a manifest cut short
// silently would end the run early as if it were complete).
std::size_t read_block(int fd, char* data, std::size_t size) {
  for (;;) {
    const ssize_t n = ::read(fd, data, size);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) throw std::runtime_error(std::string("cannot read manifest: ") + std::strerror(errno));
  }
}

class FileDescriptor {
 public:
  explicit FileDescriptor(const std::filesystem::path& path)
      : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)), open_errno_(fd_ < 0 ? errno : 0) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  /// Why the file could not be opened (an errno value), or 0.
  int open_errno() const { return open_errno_; }

 private:
  int fd_;
  int open_errno_;
};

// A string for a message: control characters escaped, cut at a code point boundary.
std::string quoted(std::string_view s) {
  constexpr std::size_t kMax = 64;
  std::string out = "'";
  std::size_t i = 0;
  for (; i < s.size() && i < kMax; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (i < s.size()) {
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xC0) out.pop_back();
    out += "...";
  }
  return out + "'";
}

std::string type_name(simdjson::dom::element v) {
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
  if (id.size() > 128) return "id is " + std::to_string(id.size()) + " bytes long (at most 128)";
  if (!is_valid_job_id(id))
    return "id " + quoted(id) +
           " cannot name files: use A-Z a-z 0-9 . _ - only, starting with a letter or digit (no '/', '..' or leading '.')";
  return {};
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 failed");  // OpenSSL broken: not a property of the line
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * len, '0');
  for (unsigned i = 0; i < len; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 15];
  }
  return out;
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
  return issue.path + ": " + issue.message;
}

/// Turns lines into entries. Owns its simdjson parsers (one set per reader) and the parsed
/// defaults, so a stream of lines reuses their memory.
class LineParser {
 public:
  /// Throws std::runtime_error if `options.defaults_json` is not a JSON object, sets `id` or
  /// sets a field twice.
  explicit LineParser(const ManifestOptions& options) {
    schema_.allow_unknown_fields = options.allow_unknown_fields;
    simdjson::dom::element root;
    if (auto err = defaults_parser_.parse(options.defaults_json).get(root))
      throw std::runtime_error(std::string("the config's defaults are not valid JSON (") + simdjson::error_message(err) + ")");
    simdjson::dom::object obj;
    if (root.get_object().get(obj)) throw std::runtime_error("the config's defaults must be a JSON object, not " + type_name(root));
    for (auto [k, v] : obj) {
      if (k == "id") throw std::runtime_error("the config's defaults cannot set 'id': every job needs its own");
      defaults_.emplace_back(k, v);
    }
    auto sorted = defaults_;
    std::stable_sort(sorted.begin(), sorted.end(), by_key);
    if (auto k = repeated_key(sorted); !k.empty())
      throw std::runtime_error("the config's defaults set '" + std::string(k) + "' twice");
  }

  ManifestEntry parse(std::string_view line, std::uint64_t line_no) {
    std::string id = derived_job_id(line_no);
    auto invalid = [&](std::string reason) { return InvalidLine{line_no, id, std::move(reason)}; };

    simdjson::dom::element root;
    if (auto err = line_parser_.parse(line.data(), line.size(), true).get(root))
      return invalid(std::string("not valid JSON (") + simdjson::error_message(err) + ")");
    simdjson::dom::object obj;
    if (root.get_object().get(obj)) return invalid("not a JSON object (got " + type_name(root) + ")");

    // Problems found before the schema's: reported first, all together with the schema's.
    std::vector<std::string> problems;
    line_fields_.clear();
    int ids = 0;
    for (auto [k, v] : obj) {
      if (k != "id") {
        line_fields_.emplace_back(k, v);
        continue;
      }
      if (++ids > 1) continue;  // reported below
      std::string_view given;
      if (v.get_string().get(given)) {
        problems.push_back("id must be a string (got " + type_name(v) + ")");
      } else if (auto p = id_problem(given); !p.empty()) {
        problems.push_back(std::move(p));
      } else {
        id.assign(given);
      }
    }
    if (ids > 1) problems.push_back("field 'id' appears more than once");

    // The request: the line's fields, then the defaults it leaves out. Validated in this order,
    // so issues are listed as the user wrote the line.
    sorted_fields_ = line_fields_;
    std::stable_sort(sorted_fields_.begin(), sorted_fields_.end(), by_key);
    if (auto k = repeated_key(sorted_fields_); !k.empty())
      problems.push_back("field '" + std::string(k) + "' appears more than once");
    merged_ = line_fields_;
    for (const auto& d : defaults_) {
      if (!std::binary_search(sorted_fields_.begin(), sorted_fields_.end(), d, by_key)) {
        merged_.push_back(d);
        sorted_fields_.insert(std::upper_bound(sorted_fields_.begin(), sorted_fields_.end(), d, by_key), d);
      }
    }

    bool ok = false;
    const std::string in_line_order = write_object(merged_, false, ok);
    simdjson::dom::object request;
    if (!ok || request_parser_.parse(in_line_order).get_object().get(request))
      return invalid("cannot rebuild the request from the line");  // not expected: simdjson read it
    for (const auto& issue : validate_request(request, schema_)) problems.push_back(describe(issue));

    std::string body = write_object(sorted_fields_, true, ok);
    if (!ok) problems.push_back("an object in the line repeats a key");
    if (!problems.empty()) {
      std::string reason;
      for (const auto& p : problems) reason += (reason.empty() ? "" : "; ") + p;
      return invalid(std::move(reason));
    }

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
    job.request_hash = sha256_hex(body);
    job.body = std::move(body);
    return job;
  }

 private:
  SchemaOptions schema_;
  simdjson::dom::parser defaults_parser_;  // owns the elements in defaults_
  simdjson::dom::parser line_parser_;
  simdjson::dom::parser request_parser_;
  std::vector<Member> defaults_;
  std::vector<Member> line_fields_, sorted_fields_, merged_;  // reused per line
};

}  // namespace

bool is_valid_job_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  auto alnum = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(id[0])) return false;
  return std::all_of(id.begin(), id.end(), [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
}

std::string derived_job_id(std::uint64_t line) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%08llu", static_cast<unsigned long long>(line));
  return buf;
}

ManifestEntry parse_manifest_line(std::string_view line, std::uint64_t line_no, const ManifestOptions& options) {
  std::optional<LineParser> parser;
  try {
    parser.emplace(options);
  } catch (const std::runtime_error& e) {
    return InvalidLine{line_no, derived_job_id(line_no), e.what()};
  }
  return parser->parse(line, line_no);
}

struct ManifestReader::Impl {
  Impl(const std::filesystem::path& path, const ManifestOptions& options) : lines(options), file(path) {}

  /// Reads the next line (without its '\n') into `line`; false at the end of the file. A BOM
  /// at the start of the file is dropped. A line longer than kMaxLineBytes is read to its end
  /// without being kept: `line` is then empty and `long_line` says whether it had content.
  bool next_line() {
    line.clear();
    long_line = LongLine::no;
    bool any = false;
    for (;;) {
      if (pos == end) {
        end = read_block(file.get(), block.data(), block.size());
        pos = 0;
        if (at_file_start && std::string_view(block.data(), end).starts_with(kUtf8Bom)) pos = kUtf8Bom.size();
        at_file_start = false;
        if (end == 0) return any;
        if (pos == end) continue;
      }
      any = true;
      const char* p = block.data() + pos;
      const auto* nl = static_cast<const char*>(std::memchr(p, '\n', end - pos));
      const std::size_t take = nl ? static_cast<std::size_t>(nl - p) : end - pos;
      if (long_line == LongLine::no && line.size() + take <= kMaxLineBytes) {
        line.append(p, take);
      } else {
        if (long_line == LongLine::no) {
          long_line = is_blank_line(line) ? LongLine::blank : LongLine::content;
          line.clear();
        }
        if (long_line == LongLine::blank && !std::all_of(p, p + take, is_line_space)) long_line = LongLine::content;
      }
      pos += take + (nl ? 1 : 0);
      if (nl) return true;
    }
  }

  enum class LongLine { no, blank, content };

  LineParser lines;
  FileDescriptor file;
  std::vector<char> block = std::vector<char>(kReadBlockBytes);
  std::size_t pos = 0, end = 0;
  bool at_file_start = true;
  std::string line;  // reused for every line
  LongLine long_line = LongLine::no;
  std::uint64_t line_no = 0;
  std::unordered_map<std::string, std::uint64_t> first_line_of_id;
};

ManifestReader::ManifestReader(const std::filesystem::path& path, ManifestOptions options)
    : impl_(std::make_unique<Impl>(path, options)) {
  if (impl_->file.get() < 0)
    throw std::runtime_error("cannot open manifest '" + path.string() + "': " + std::strerror(impl_->file.open_errno()));
}

ManifestReader::~ManifestReader() = default;

std::optional<ManifestEntry> ManifestReader::next() {
  auto& s = *impl_;
  while (s.next_line()) {
    ++s.line_no;
    std::string_view view(s.line);
    if (!view.empty() && view.back() == '\r') view.remove_suffix(1);
    if (s.long_line == Impl::LongLine::blank || (s.long_line == Impl::LongLine::no && is_blank_line(view))) continue;
    auto entry = s.long_line == Impl::LongLine::content
                     ? ManifestEntry(InvalidLine{s.line_no, derived_job_id(s.line_no),
                                                 "line is longer than " + std::to_string(kMaxLineBytes >> 20) +
                                                     " MiB (the API refuses request bodies over 35 MB)"})
                     : s.lines.parse(view, s.line_no);
    const std::string& id = std::visit([](const auto& e) -> const std::string& { return e.id; }, entry);
    auto [it, inserted] = s.first_line_of_id.try_emplace(id, s.line_no);
    if (!inserted)
      return InvalidLine{s.line_no, id, "duplicate id '" + id + "' (first on line " + std::to_string(it->second) + ")"};
    return entry;
  }
  return std::nullopt;
}

std::uint64_t count_manifest_jobs(const std::filesystem::path& path) {
  FileDescriptor file(path);
  if (file.get() < 0) return 0;
  std::vector<char> block(kReadBlockBytes);
  std::uint64_t count = 0;
  bool in_content_line = false;  // the current line has a non-blank byte and is counted at its end
  bool first_block = true;
  for (;;) {
    const std::size_t n = read_block(file.get(), block.data(), block.size());
    if (n == 0) break;
    const char* p = block.data();
    const char* end = p + n;
    if (first_block && std::string_view(p, n).starts_with(kUtf8Bom)) p += kUtf8Bom.size();
    first_block = false;
    while (p < end) {
      if (!in_content_line) {
        while (p < end && is_line_space(*p)) ++p;
        if (p == end) break;
        if (*p == '\n') {
          ++p;
          continue;
        }
        in_content_line = true;
      }
      const auto* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
      if (!nl) break;
      ++count;
      in_content_line = false;
      p = nl + 1;
    }
  }
  return count + (in_content_line ? 1 : 0);
}

}  // namespace venice_batch
