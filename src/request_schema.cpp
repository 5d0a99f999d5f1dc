#include "venice_batch/request_schema.hpp"

#include <array>
#include <cstdint>
#include <string>

namespace venice_batch {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

constexpr std::array<std::string_view, 24> kFields = {
    "model",          "prompt",        "negative_prompt",   "width",       "height",
    "aspect_ratio",   "resolution",    "quality",           "format",      "variants",
    "return_binary",  "seed",          "steps",             "cfg_scale",   "style_preset",
    "lora_strength",  "safe_mode",     "hide_watermark",    "embed_exif_metadata",
    "enable_web_search", "enhance_prompt", "disable_prompt_optimization_thinking", "style_references",
    "anon_user_id"};

std::size_t code_points(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool is_blank(std::string_view s) {
  for (unsigned char c : s)
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v') return false;
  return true;
}

std::string show(element v) {
  std::string s = simdjson::minify(v);
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

struct Checker {
  std::vector<FieldIssue>& issues;

  void add(std::string path, std::string code, std::string message) {
    issues.push_back({std::move(path), std::move(code), std::move(message)});
  }

  bool is_integer(element v) const {
    return v.type() == element_type::INT64 || v.type() == element_type::UINT64;
  }

  void integer(std::string_view name, element v, std::int64_t lo, std::int64_t hi) {
    std::int64_t x;
    if (!is_integer(v) || v.get_int64().get(x)) {
      add(std::string(name), "invalid_type",
          "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi) + " (got " + show(v) + ")");
      return;
    }
    if (x < lo) add(std::string(name), "too_small", "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi) + " (got " + std::to_string(x) + ")");
    if (x > hi) add(std::string(name), "too_big", "must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi) + " (got " + std::to_string(x) + ")");
  }

  void number(std::string_view name, element v, double lo, bool lo_inclusive, double hi, const std::string& range) {
    double x;
    if (!v.is_number() || v.get_double().get(x)) {
      add(std::string(name), "invalid_type", "must be a number " + range + " (got " + show(v) + ")");
      return;
    }
    if (lo_inclusive ? x < lo : x <= lo) add(std::string(name), "too_small", "must be " + range + " (got " + show(v) + ")");
    if (x > hi) add(std::string(name), "too_big", "must be " + range + " (got " + show(v) + ")");
  }

  void boolean(std::string_view name, element v) {
    if (!v.is_bool()) add(std::string(name), "invalid_type", "must be true or false (got " + show(v) + ")");
  }

  bool string(std::string_view name, element v, std::string_view& out) {
    if (v.get_string().get(out)) {
      add(std::string(name), "invalid_type", "must be a string (got " + show(v) + ")");
      return false;
    }
    return true;
  }

  void text(std::string_view name, element v, std::size_t min_chars, std::size_t max_chars, bool not_blank) {
    std::string_view s;
    if (!string(name, v, s)) return;
    const auto n = code_points(s);
    if (n < min_chars || (not_blank && is_blank(s)))
      add(std::string(name), "too_small", "must not be empty or blank");
    else if (n > max_chars)
      add(std::string(name), "too_big",
          "must be at most " + std::to_string(max_chars) + " characters (got " + std::to_string(n) + ")");
  }

  void one_of(std::string_view name, element v, std::initializer_list<std::string_view> values) {
    std::string_view s;
    if (!string(name, v, s)) return;
    std::string list;
    for (auto x : values) {
      if (x == s) return;
      list += (list.empty() ? "" : ", ") + std::string(x);
    }
    add(std::string(name), "invalid_enum_value", "must be one of " + list + " (got \"" + std::string(s) + "\")");
  }

  void aspect_ratio(std::string_view name, element v) {
    std::string_view s;
    if (!string(name, v, s)) return;
    auto colon = s.find(':');
    auto digits = [](std::string_view d) {
      if (d.empty() || d.size() > 5) return false;
      for (char c : d)
        if (c < '0' || c > '9') return false;
      return std::stoi(std::string(d)) > 0;
    };
    if (colon == std::string_view::npos || !digits(s.substr(0, colon)) || !digits(s.substr(colon + 1)))
      add(std::string(name), "invalid_string", "must be a ratio like \"16:9\" (got \"" + std::string(s) + "\")");
  }

  void anon_user_id(std::string_view name, element v) {
    std::string_view s;
    if (!string(name, v, s)) return;
    bool printable = true;
    for (unsigned char c : s) printable = printable && c >= 0x20 && c < 0x7f;
    if (!printable || s.size() > 128 || s.find("||") != std::string_view::npos)
      add(std::string(name), "invalid_string", "must be printable ASCII, at most 128 characters, without \"||\"");
  }

  void style_references(std::string_view name, element v) {
    simdjson::dom::array refs;
    if (v.get_array().get(refs)) {
      add(std::string(name), "invalid_type", "must be an array of {image, strength} objects");
      return;
    }
    std::size_t i = 0;
    for (element ref : refs) {
      const std::string path = std::string(name) + "." + std::to_string(i++);
      simdjson::dom::object o;
      if (ref.get_object().get(o)) {
        add(path, "invalid_type", "must be an object {image, strength}");
        continue;
      }
      element image, strength;
      if (o["image"].get(image)) add(path + ".image", "invalid_type", "is required (base64, data URI or URL)");
      else text(path + ".image", image, 1, SIZE_MAX, true);
      if (o["strength"].get(strength) == simdjson::SUCCESS)
        number(path + ".strength", strength, 0.1, true, 1.0, "from 0.1 to 1");
      for (auto [k, unused] : o) {
        (void)unused;
        if (k != "image" && k != "strength") add(path, "unrecognized_keys", "unknown field '" + std::string(k) + "'");
      }
    }
  }
};

}  // namespace

bool is_known_request_field(std::string_view name) {
  for (auto f : kFields)
    if (f == name) return true;
  return false;
}

std::vector<FieldIssue> validate_request(simdjson::dom::object request, const SchemaOptions& options) {
  std::vector<FieldIssue> issues;
  Checker c{issues};
  bool has_model = false, has_prompt = false, binary = false, has_variants = false;
  for (auto [key, v] : request) {
    if (key == "model") {
      has_model = true;
      c.text(key, v, 1, 256, true);
    } else if (key == "prompt") {
      has_prompt = true;
      c.text(key, v, 1, 7500, true);
    } else if (key == "negative_prompt") {
      c.text(key, v, 0, 7500, false);
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
      c.integer(key, v, -999'999'999, 999'999'999);
    } else if (key == "steps") {
      c.integer(key, v, 1, 2147483647);  // the real cap is per model (constraints.steps.max)
    } else if (key == "cfg_scale") {
      c.number(key, v, 0, false, 20, "greater than 0 and at most 20");
    } else if (key == "style_preset") {
      c.text(key, v, 1, 256, true);
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
      c.add("inpaint", "custom", "inpaint was retired on 2025-05-19 and is refused");
    } else if (!options.allow_unknown_fields) {
      c.add(std::string(key), "unrecognized_keys", "unknown field '" + std::string(key) + "'");
    }
  }
  if (!has_model) c.add("model", "invalid_type", "is required");
  if (!has_prompt) c.add("prompt", "invalid_type", "is required");
  if (binary && has_variants)
    c.add("variants", "custom", "cannot be combined with return_binary: true (one image per binary response)");
  return issues;
}

}  // namespace venice_batch
