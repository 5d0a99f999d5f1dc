// One JSON field at a time: writing "key": value with RapidJSON and reading a request body's
// fields with simdjson, the same way in every file that does it (the plan, sidecars, embedded
// metadata, preflight). Internal to src/: RapidJSON stays out of the public headers.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

#include "venice_batch/text.hpp"

namespace venice_batch::json {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// ---- writing -------------------------------------------------------------------------------

/// "key": text, made valid UTF-8 first (a path or a manifest's model name may not be).
inline void put(Writer& w, const char* key, std::string_view text) {
  const std::string valid = sanitize_utf8(text);
  w.Key(key);
  w.String(valid.data(), static_cast<rapidjson::SizeType>(valid.size()));
}

inline void put(Writer& w, const char* key, std::uint64_t v) {
  w.Key(key);
  w.Uint64(v);
}

inline void put(Writer& w, const char* key, double v) {
  w.Key(key);
  w.Double(v);
}

/// "key": v, or null when there is none.
inline void put(Writer& w, const char* key, const std::optional<std::uint64_t>& v) {
  w.Key(key);
  if (v) w.Uint64(*v);
  else w.Null();
}

/// "key": text (made valid UTF-8), left out when the text is empty.
inline void put_if_any(Writer& w, const char* key, std::string_view text) {
  if (!text.empty()) put(w, key, text);
}

/// "key": v, left out when there is none.
inline void put_if_any(Writer& w, const char* key, const std::optional<std::int64_t>& v) {
  if (!v) return;
  w.Key(key);
  w.Int64(*v);
}

// ---- reading a request body ----------------------------------------------------------------

/// The fields of `body` when it is a JSON object, else nullopt. Parsed by one parser per thread:
/// the object is valid until the next call on the same thread.
inline std::optional<simdjson::dom::object> object_fields(std::string_view body) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::dom::object fields;
  if (parser.parse(body.data(), body.size(), true).get(root) || root.get_object().get(fields)) return std::nullopt;
  return fields;
}

/// A whole number: a JSON integer, or a number with no fraction (20.0) within int64's range.
inline std::optional<std::int64_t> integer(simdjson::dom::element v) {
  std::int64_t i = 0;
  if (!v.get_int64().get(i)) return i;
  double d = 0;
  if (v.is_double() && !v.get_double().get(d) && d == std::floor(d) && std::abs(d) < 9e18) return static_cast<std::int64_t>(d);
  return std::nullopt;
}

/// A JSON string's text; nullopt for any other type.
inline std::optional<std::string> text(simdjson::dom::element v) {
  std::string_view s;
  if (v.get_string().get(s)) return std::nullopt;
  return std::string(s);
}

}  // namespace venice_batch::json
