#include "venice_batch/sidecar.hpp"

#include <cmath>

#include <fmt/format.h>
#include <simdjson.h>

#include "json_fields.hpp"
#include "venice_batch/image_format.hpp"
#include "venice_batch/sink.hpp"
#include "venice_batch/text.hpp"

namespace venice_batch {
namespace {

using json::put;
using json::put_if_any;
using Writer = json::Writer;

// A JSON object embedded as it is when it parses as one; else kept as text under `<key>_text`.
void object(Writer& w, const char* key, std::string_view json) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element e;
  if (!parser.parse(json.data(), json.size(), true).get(e) && e.is_object()) {
    w.Key(key);
    w.RawValue(json.data(), json.size(), rapidjson::kObjectType);
  } else {
    put(w, (std::string(key) + "_text").c_str(), json);
  }
}

}  // namespace

std::optional<SidecarKinds> parse_sidecar_kinds(std::string_view list) {
  SidecarKinds kinds;
  while (!list.empty()) {
    const auto comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item == "txt") kinds.txt = true;
    else if (item == "json") kinds.json = true;
    else if (item != "none" && !item.empty()) return std::nullopt;
  }
  return kinds;
}

std::string sidecar_json(const SidecarSource& s, unsigned k, const FileRecord& file, std::string_view server_id) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  put(w, "id", s.id);
  w.Key("variant");
  w.Uint(k);
  if (!s.key_stem.empty()) {
    // In a shard the member's name is the key's: the id read back from it needs this record.
    put(w, "key", fmt::format("{}_{}", s.key_stem, k));
    put(w, "file", fmt::format("{}_{}.{}", s.key_stem, k, file_extension(file.format)));
  } else {
    put(w, "file", file.path);
  }
  put(w, "format", to_string(file.format));
  if (file.size.width && file.size.height) {
    w.Key("width");
    w.Uint(file.size.width);
    w.Key("height");
    w.Uint(file.size.height);
  }
  if (file.requested_size) {
    w.Key("requested_width");
    w.Uint(file.requested_size->width);
    w.Key("requested_height");
    w.Uint(file.requested_size->height);
  }
  put_if_any(w, "model", s.model);
  put(w, "prompt", s.prompt);
  if (!s.request_body.empty()) object(w, "request", s.request_body);
  put_if_any(w, "server_id", server_id);
  if (s.price_usd) {
    w.Key("estimated_price_usd");
    w.Double(*s.price_usd);
  }
  if (!s.metadata.empty()) object(w, "metadata", s.metadata);
  if (s.timings_ms) {
    static constexpr const char* kNames[] = {"connect_ms", "tls_ms", "write_ms", "ttfb_ms", "download_ms", "total_ms"};
    w.Key("timings");
    w.StartObject();
    for (std::size_t i = 0; i < 6; ++i) {
      w.Key(kNames[i]);
      w.Double(std::round((*s.timings_ms)[i] * 1000.0) / 1000.0);
    }
    w.EndObject();
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace venice_batch
