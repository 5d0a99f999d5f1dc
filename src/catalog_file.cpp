// catalog.json: the four catalog bodies saved in the out dir (RapidJSON, each body embedded as
// JSON when it is an object or array, else as text) and read back (simdjson) for `--catalog FILE`.
#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

#include "venice_batch/catalog.hpp"
#include "venice_batch/sink.hpp"
#include "venice_batch/text.hpp"

namespace venice_batch {
namespace {
using simdjson::dom::element;
using SourcesResult = boost::system::result<CatalogSources, std::string>;

// CatalogSources can be built from a string too: say which side is meant.
SourcesResult failure(std::string message) { return SourcesResult(boost::system::in_place_error, std::move(message)); }

constexpr std::pair<const char*, std::string CatalogSources::*> kBodies[] = {
    {"models", &CatalogSources::models},
    {"compatibility_mapping", &CatalogSources::compatibility_mapping},
    {"styles", &CatalogSources::styles},
    {"rate_limits", &CatalogSources::rate_limits},
};
}  // namespace

std::string catalog_sources_to_json(const CatalogSources& sources) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  simdjson::dom::parser parser;
  w.StartObject();
  w.Key("fetched_at_ms");
  w.Int64(sources.fetched_at_ms);
  for (const auto& [key, member] : kBodies) {
    const std::string& body = sources.*member;
    w.Key(key);
    element root;
    if (body.empty()) {
      w.Null();
    } else if (!parser.parse(body.data(), body.size(), true).get(root) && (root.is_object() || root.is_array())) {
      const std::string json = simdjson::minify(root);
      w.RawValue(json.data(), json.size(), root.is_object() ? rapidjson::kObjectType : rapidjson::kArrayType);
    } else {  // not a JSON object or array (an HTML error page, ...): kept as text, valid UTF-8
      const std::string clean = sanitize_utf8(body);
      w.String(clean.data(), static_cast<rapidjson::SizeType>(clean.size()));
    }
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

SourcesResult catalog_sources_from_json(std::string_view json) {
  simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(json.data(), json.size(), true).get(root))
    return failure(fmt::format("not JSON ({})", simdjson::error_message(err)));
  CatalogSources s;
  element models, data;
  const bool saved = root.is_object() && !root["models"].get(models);
  if (!saved && (root.is_array() || (!root["data"].get(data) && data.is_array()))) {
    s.models = simdjson::minify(root);  // a bare GET /models body is read as the model list
    return s;
  }
  if (!saved) return failure("not a saved catalog (a JSON object with \"models\", as venice-batch writes catalog.json)");
  element t;
  if (!root["fetched_at_ms"].get(t) && !t.is_null() && t.get_int64().get(s.fetched_at_ms))
    return failure("\"fetched_at_ms\" must be an integer (Unix milliseconds)");
  for (const auto& [key, member] : kBodies) {
    element body;
    if (root[key].get(body) || body.is_null()) continue;
    if (body.is_string()) s.*member = std::string(body.get_string().value_unsafe());
    else if (body.is_object() || body.is_array()) s.*member = simdjson::minify(body);
    else return failure(fmt::format("\"{}\" must be a JSON object, array, string or null", key));
  }
  return s;
}

SourcesResult load_catalog_sources(const std::filesystem::path& path) {
  std::string text;
  if (const int err = read_whole_file(path, text); err != 0)
    return failure(fmt::format("catalog {}: cannot be read ({})", path.string(), std::strerror(err)));
  auto sources = catalog_sources_from_json(text);
  if (!sources) return failure(fmt::format("catalog {}: {}", path.string(), sources.error()));
  return sources;
}

}  // namespace venice_batch
