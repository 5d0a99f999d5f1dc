#include "venice_batch/request_schema.hpp"

#include <array>
#include <cstdint>
#include <limits>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace venice_batch {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// The documented fields (VENICE_API.md). `inpaint` is deliberately absent: it is retired.
constexpr std::array<std::string_view, 24> kFields = {
    "model",          "prompt",        "negative_prompt",   "width",       "height",
    "aspect_ratio",   "resolution",    "quality",           "format",      "variants",
    "return_binary",  "seed",          "steps",             "cfg_scale",   "style_preset",
    "lora_strength",  "safe_mode",     "hide_watermark",    "embed_exif_metadata",
    "enable_web_search", "enhance_prompt", "disable_prompt_optimization_thinking", "style_references",
    "anon_user_id"};

constexpr std::int64_t kMaxSeed = 999'999'999;

// Decodes one UTF-8 sequence at s[i] (the input was validated by simdjson) and advances i.
char32_t next_code_point(std::string_view s, std::size_t& i) {
  const auto b = static_cast<unsigned char>(s[i]);
  const int len = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
  char32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
  for (int k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += len;
  return cp;
}

std::size_t code_points(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Unicode White_Space: a prompt of only these (ASCII or not, e.g. U+3000) is blank.
bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}


// A value as JSON for a message, cut at a code point boundary so the message stays valid UTF-8.
std::string show(element v) {
  std::string s = simdjson::minify(v);
  constexpr std::size_t kMax = 40;
  if (s.size() <= kMax) return s;
  std::size_t cut = kMax - 3;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return fmt::format("{}...", std::string_view(s).substr(0, cut));
}

std::string range_text(std::int64_t lo, std::int64_t hi) {
  return fmt::format("from {} to {}", lo, hi);
}

class Checker {
 public:
  Checker(std::vector<FieldIssue>& issues, const SchemaOptions& options) : issues_(issues), options_(options) {}

  void add(std::string path, std::string code, std::string message) {
    issues_.push_back({std::move(path), std::move(code), std::move(message)});
  }

  void unknown(const std::string& path) { add(path, "unrecognized_keys", fmt::format("unknown field '{}'", path)); }

  /// An integer in [lo, hi]; 1024.0 is a number but not an integer.
  void integer(const std::string& path, element v, std::int64_t lo, std::int64_t hi) {
    const std::string expected = fmt::format("must be an integer {}", range_text(lo, hi));
    integer_in(path, v, lo, hi, expected);
  }

  void positive_integer(const std::string& path, element v) {
    integer_in(path, v, 1, std::numeric_limits<std::int64_t>::max(), "must be a positive integer");
  }

  /// A number (integer or not) above `lo` (or at it, if inclusive) and at most `hi`.
  void number(const std::string& path, element v, double lo, bool lo_inclusive, double hi, const std::string& range) {
    double x = 0;
    if (!v.is_number() || v.get_double().get(x)) {
      add(path, "invalid_type", fmt::format("must be a number {} (got {})", range, show(v)));
      return;
    }
    if (lo_inclusive ? x < lo : x <= lo) add(path, "too_small", fmt::format("must be a number {} (got {})", range, show(v)));
    else if (x > hi) add(path, "too_big", fmt::format("must be a number {} (got {})", range, show(v)));
  }

  void boolean(const std::string& path, element v) {
    if (!v.is_bool()) add(path, "invalid_type", fmt::format("must be true or false (got {})", show(v)));
  }

  /// A string with at least one non-blank character and at most `max_chars` code points.
  void text(const std::string& path, element v, std::size_t max_chars) {
    std::string_view s;
    if (!string(path, v, s)) return;
    if (is_blank_text(s)) {
      add(path, "too_small", "must not be empty or blank");
      return;
    }
    too_long(path, s, max_chars);
  }

  /// A string of at most `max_chars` code points, possibly empty.
  void optional_text(const std::string& path, element v, std::size_t max_chars) {
    std::string_view s;
    if (string(path, v, s)) too_long(path, s, max_chars);
  }

  void one_of(const std::string& path, element v, std::initializer_list<std::string_view> values) {
    std::string_view s;
    if (!string(path, v, s)) return;
    for (auto x : values)
      if (x == s) return;
    add(path, "invalid_enum_value", fmt::format("must be one of {} (got {})", fmt::join(values, ", "), show(v)));
  }

  /// "W:H" with two positive integers, e.g. "16:9".
  void aspect_ratio(const std::string& path, element v) {
    std::string_view s;
    if (!string(path, v, s)) return;
    auto positive = [](std::string_view d) {
      if (d.empty() || d.size() > 6) return false;
      bool nonzero = false;
      for (char c : d) {
        if (c < '0' || c > '9') return false;
        nonzero = nonzero || c != '0';
      }
      return nonzero;
    };
    const auto colon = s.find(':');
    if (colon == std::string_view::npos || !positive(s.substr(0, colon)) || !positive(s.substr(colon + 1)))
      add(path, "invalid_string", fmt::format("must be a ratio of two positive integers like \"16:9\" (got {})", show(v)));
  }

  void anon_user_id(const std::string& path, element v) {
    std::string_view s;
    if (!string(path, v, s)) return;
    bool printable = true;
    for (unsigned char c : s) printable = printable && c >= 0x20 && c < 0x7f;
    if (!printable || s.size() > 128 || s.find("||") != std::string_view::npos)
      add(path, "invalid_string", fmt::format("must be printable ASCII, at most 128 characters, without \"||\" (got {})", show(v)));
  }

  void style_references(const std::string& path, element v) {
    simdjson::dom::array refs;
    if (v.get_array().get(refs)) {
      add(path, "invalid_type", fmt::format("must be an array of {{image, strength}} objects (got {})", show(v)));
      return;
    }
    std::size_t i = 0;
    for (element ref : refs) {
      const std::string at = fmt::format("{}.{}", path, i++);
      simdjson::dom::object o;
      if (ref.get_object().get(o)) {
        add(at, "invalid_type", fmt::format("must be an object {{image, strength}} (got {})", show(ref)));
        continue;
      }
      bool has_image = false;
      for (auto [key, value] : o) {
        if (key == "image") {
          has_image = true;
          text(at + ".image", value, std::numeric_limits<std::size_t>::max());
        } else if (key == "strength") {
          number(at + ".strength", value, 0.1, true, 1.0, "from 0.1 to 1");
        } else if (!options_.allow_unknown_fields) {
          unknown(fmt::format("{}.{}", at, key));
        }
      }
      if (!has_image) add(at + ".image", "invalid_type", "is required (base64, data URI or URL)");
    }
  }

 private:
  bool string(const std::string& path, element v, std::string_view& out) {
    if (v.get_string().get(out) == simdjson::SUCCESS) return true;
    add(path, "invalid_type", fmt::format("must be a string (got {})", show(v)));
    return false;
  }

  void too_long(const std::string& path, std::string_view s, std::size_t max_chars) {
    if (max_chars == std::numeric_limits<std::size_t>::max()) return;
    const auto n = code_points(s);
    if (n > max_chars)
      add(path, "too_big", fmt::format("must be at most {} characters (got {})", max_chars, n));
  }

  void integer_in(const std::string& path, element v, std::int64_t lo, std::int64_t hi, const std::string& expected) {
    if (v.type() == element_type::UINT64) {  // above INT64_MAX: an integer, but too big for any field
      add(path, "too_big", fmt::format("{} (got {})", expected, show(v)));
      return;
    }
    std::int64_t x = 0;
    if (v.type() != element_type::INT64 || v.get_int64().get(x)) {
      add(path, "invalid_type", fmt::format("{} (got {})", expected, show(v)));
      return;
    }
    if (x < lo) add(path, "too_small", fmt::format("{} (got {})", expected, x));
    else if (x > hi) add(path, "too_big", fmt::format("{} (got {})", expected, x));
  }

  std::vector<FieldIssue>& issues_;
  const SchemaOptions& options_;
};

}  // namespace

bool is_known_request_field(std::string_view name) {
  for (auto f : kFields)
    if (f == name) return true;
  return false;
}

std::vector<FieldIssue> validate_request(simdjson::dom::object request, const SchemaOptions& options) {
  std::vector<FieldIssue> issues;
  Checker c(issues, options);
  bool has_model = false, has_prompt = false, has_variants = false, binary = false;
  for (auto [key_view, v] : request) {
    const std::string key(key_view);
    if (key == "model") {
      has_model = true;
      c.text(key, v, std::numeric_limits<std::size_t>::max());
    } else if (key == "prompt") {
      has_prompt = true;
      c.text(key, v, options.max_prompt_chars);
    } else if (key == "negative_prompt") {
      c.optional_text(key, v, options.max_prompt_chars);
    } else if (key == "width" || key == "height") {
      c.integer(key, v, 1, 1280);
    } else if (key == "aspect_ratio") {
      c.aspect_ratio(key, v);
    } else if (key == "resolution") {
      c.one_of(key, v, {"1K", "2K", "4K"});
    } else if (key == "quality") {
      c.one_of(key, v, {"low", "medium", "high"});
    } else if (key == "format") {
      c.one_of(key, v, {"jpeg", "png", "webp"});
    } else if (key == "variants") {
      has_variants = true;
      c.integer(key, v, 1, 4);
    } else if (key == "return_binary") {
      c.boolean(key, v);
      bool b = false;
      binary = v.get_bool().get(b) == simdjson::SUCCESS && b;
    } else if (key == "seed") {
      c.integer(key, v, -kMaxSeed, kMaxSeed);
    } else if (key == "steps") {
      c.positive_integer(key, v);  // the real cap is per model (constraints.steps.max)
    } else if (key == "cfg_scale") {
      c.number(key, v, 0, false, 20, "greater than 0 and at most 20");
    } else if (key == "style_preset") {
      c.text(key, v, std::numeric_limits<std::size_t>::max());
    } else if (key == "lora_strength") {
      c.integer(key, v, 0, 100);
    } else if (key == "safe_mode" || key == "hide_watermark" || key == "embed_exif_metadata" ||
               key == "enable_web_search" || key == "enhance_prompt" || key == "disable_prompt_optimization_thinking") {
      c.boolean(key, v);
    } else if (key == "style_references") {
      c.style_references(key, v);
    } else if (key == "anon_user_id") {
      c.anon_user_id(key, v);
    } else if (key == "inpaint") {
      c.add(key, "custom", "was retired on 2025-05-19 and is no longer accepted");
    } else if (!options.allow_unknown_fields) {
      c.unknown(key);
    }
  }
  if (!has_model) c.add("model", "invalid_type", "is required");
  if (!has_prompt) c.add("prompt", "invalid_type", "is required");
  if (binary && has_variants)
    c.add("variants", "custom", "cannot be combined with return_binary: true (a binary response holds one image)");
  return issues;
}

bool is_blank_text(std::string_view s) {
  for (std::size_t i = 0; i < s.size();)
    if (!is_white_space(next_code_point(s, i))) return false;
  return true;
}

}  // namespace venice_batch
