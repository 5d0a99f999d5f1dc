#include "mock_catalog.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace venice_batch::mock {

namespace {

namespace dom = simdjson::dom;
/// A field that may be absent (its error then says so): read without throwing.
using Field = simdjson::simdjson_result<dom::element>;
Field field(dom::element e) { return Field(std::move(e)); }

std::vector<std::string> strings_of(Field e) {
  std::vector<std::string> out;
  dom::array a;
  if (e.get_array().get(a)) return out;
  for (auto item : a) {
    std::string_view s;
    if (!item.get_string().get(s)) out.emplace_back(s);
  }
  return out;
}

std::optional<std::uint64_t> uint_of(Field e) {
  std::uint64_t v;
  if (e.get_uint64().get(v)) return std::nullopt;
  return v;
}

std::string string_of(Field e) {
  std::string_view s;
  return e.get_string().get(s) ? std::string() : std::string(s);
}

// A price object's USD amount ({"usd": 0.01, "diem": 0.01}); nullopt when it has none.
std::optional<Micros> usd_of(Field price) {
  double usd;
  if (price["usd"].get_double().get(usd)) return std::nullopt;
  return to_micros(usd);
}

void read_pricing(Field pricing, MockModel& m) {
  m.flat_price = usd_of(pricing["generation"]);
  dom::object by_resolution, by_quality;
  if (!pricing["resolutions"].get_object().get(by_resolution))
    for (auto [res, price] : by_resolution)
      if (auto usd = usd_of(field(price))) m.resolution_price[std::string(res)] = *usd;
  if (!pricing["quality"].get_object().get(by_quality))
    for (auto [res, qualities] : by_quality) {
      dom::object q;
      if (qualities.get_object().get(q)) continue;
      for (auto [quality, price] : q)
        if (auto usd = usd_of(field(price))) m.quality_price[std::string(res)][std::string(quality)] = *usd;
    }
}

MockModel read_model(dom::element entry) {
  MockModel m;
  m.id = string_of(entry["id"]);
  if (m.id.empty()) throw std::runtime_error("a model without an id");
  const Field spec = entry["model_spec"];
  const Field c = spec["constraints"];
  m.prompt_limit = uint_of(c["promptCharacterLimit"]);
  m.steps_max = uint_of(c["steps"]["max"]);
  m.divisor = uint_of(c["widthHeightDivisor"]);
  m.max_style_references = uint_of(c["maxStyleReferences"]);
  m.aspect_ratios = strings_of(c["aspectRatios"]);
  m.resolutions = strings_of(c["resolutions"]);
  m.qualities = strings_of(c["qualities"]);
  m.default_aspect_ratio = string_of(c["defaultAspectRatio"]);
  m.default_resolution = string_of(c["defaultResolution"]);
  m.default_quality = string_of(c["defaultQuality"]);
  read_pricing(spec["pricing"], m);
  bool b;
  if (!spec["offline"].get_bool().get(b)) m.offline = b;
  if (!spec["supportsStyleReferences"].get_bool().get(b)) m.style_references = b;
  dom::object deprecation;
  if (!spec["deprecation"].get_object().get(deprecation)) {
    MockModel::Deprecation d;
    if (!deprecation["autoRemap"].get_bool().get(b)) d.auto_remap = b;
    d.date = string_of(deprecation["date"]);
    d.replacement = string_of(deprecation["replacementModelId"]);
    m.deprecation = std::move(d);
  }
  return m;
}

// {"data": {name: id, ...}} as rapidjson writes it.
std::string name_map_body(const std::map<std::string, std::string, std::less<>>& names) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("data");
  w.StartObject();
  for (const auto& [name, id] : names) {
    w.Key(name.c_str(), static_cast<rapidjson::SizeType>(name.size()));
    w.String(id.c_str(), static_cast<rapidjson::SizeType>(id.size()));
  }
  w.EndObject();
  w.EndObject();
  return buf.GetString();
}

std::size_t code_points(std::string_view utf8) {
  return static_cast<std::size_t>(std::count_if(utf8.begin(), utf8.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

bool listed(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

FieldIssue not_listed(std::string path, const std::vector<std::string>& list, std::string_view value) {
  auto message = fmt::format("Invalid enum value. Expected '{}', received '{}'", fmt::join(list, "' | '"), value);
  return {std::move(path), "invalid_enum_value", std::move(message)};
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("cannot read {}", path.string()));
  std::ostringstream text;
  text << in.rdbuf();
  return std::move(text).str();
}

}  // namespace

Micros MockModel::price(std::string_view resolution, std::string_view quality) const {
  const std::string res(resolution.empty() ? std::string_view(default_resolution) : resolution);
  const std::string q(quality.empty() ? std::string_view(default_quality) : quality);
  if (auto r = quality_price.find(res); r != quality_price.end())
    if (auto p = r->second.find(q); p != r->second.end()) return p->second;
  if (auto r = resolution_price.find(res); r != resolution_price.end()) return r->second;
  return flat_price.value_or(0);
}

MockCatalog::MockCatalog(MockCatalogSources sources) {
  dom::parser parser;
  dom::element root;
  dom::array data;
  if (parser.parse(sources.models).get(root) || root["data"].get_array().get(data))
    throw std::runtime_error("the models document is not {\"data\": [...]}");
  models_body_ = simdjson::minify(root);
  for (auto entry : data) {
    models_.push_back(read_model(entry));
    for (const auto& trait : strings_of(entry["model_spec"]["traits"])) aliases_.emplace(trait, models_.back().id);
  }
  traits_body_ = name_map_body(aliases_);
  dom::object mapping;
  if (parser.parse(sources.compatibility_mapping).get(root) || root["data"].get_object().get(mapping))
    throw std::runtime_error("the compatibility mapping is not {\"data\": {...}}");
  compatibility_body_ = simdjson::minify(root);
  for (auto [alias, id] : mapping) aliases_.insert_or_assign(std::string(alias), string_of(field(id)));
  if (parser.parse(sources.styles).get(root)) throw std::runtime_error("the styles document is not JSON");
  styles_body_ = simdjson::minify(root);
  dom::element list = root;  // {"object": "list", "data": [...]}, or (as some docs show) a bare array
  if (!root.is_array() && root["data"].get(list)) throw std::runtime_error("the styles document has no data");
  styles_ = strings_of(field(list));
}

MockCatalog MockCatalog::from_file(const std::filesystem::path& path) {
  auto sources = builtin_catalog_sources();
  const std::string text = read_file(path);
  dom::parser parser;
  dom::element root;
  if (parser.parse(text).get(root)) throw std::runtime_error(fmt::format("{} is not JSON", path.string()));
  if (root["data"].error() == simdjson::SUCCESS) {
    sources.models = text;
  } else {
    const std::pair<const char*, std::string*> parts[] = {
        {"models", &sources.models}, {"compatibility_mapping", &sources.compatibility_mapping}, {"styles", &sources.styles}};
    for (const auto& [key, body] : parts)
      if (dom::element part; !root[key].get(part)) *body = simdjson::minify(part);
  }
  try {
    return MockCatalog(std::move(sources));
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(fmt::format("{}: {}", path.string(), e.what()));
  }
}

const MockModel* MockCatalog::find(std::string_view name) const {
  const auto by_id = [this](std::string_view id) -> const MockModel* {
    for (const auto& m : models_)
      if (m.id == id) return &m;
    return nullptr;
  };
  if (const auto* m = by_id(name)) return m;
  if (const auto it = aliases_.find(name); it != aliases_.end()) return by_id(it->second);
  return nullptr;
}

std::vector<FieldIssue> MockCatalog::check(const MockModel& m, dom::object request) const {
  std::vector<FieldIssue> issues;
  std::string_view s;
  std::int64_t n;
  for (const char* field : {"prompt", "negative_prompt"})
    if (!request[field].get_string().get(s) && m.prompt_limit && code_points(s) > *m.prompt_limit)
      issues.push_back({field, "too_big", fmt::format("String must contain at most {} character(s)", *m.prompt_limit)});
  if (!request["steps"].get_int64().get(n) && m.steps_max && n > static_cast<std::int64_t>(*m.steps_max))
    issues.push_back({"steps", "too_big", fmt::format("Number must be less than or equal to {}", *m.steps_max)});
  if (!m.aspect_family() && m.divisor)
    for (const char* field : {"width", "height"})
      if (!request[field].get_int64().get(n) && n % static_cast<std::int64_t>(*m.divisor) != 0)
        issues.push_back({field, "custom", fmt::format("{} must be a multiple of {} for {}", field, *m.divisor, m.id)});
  const std::pair<const char*, const std::vector<std::string>*> lists[] = {
      {"aspect_ratio", &m.aspect_ratios}, {"resolution", &m.resolutions}, {"quality", &m.qualities}};
  for (const auto& [field, list] : lists)
    if (!list->empty() && !request[field].get_string().get(s) && !listed(*list, s)) issues.push_back(not_listed(field, *list, s));
  if (!styles_.empty() && !request["style_preset"].get_string().get(s) && !listed(styles_, s))
    issues.push_back(not_listed("style_preset", styles_, s));
  if (dom::array refs; !request["style_references"].get_array().get(refs) && refs.size() > 0) {
    if (!m.style_references)
      issues.push_back({"style_references", "custom", fmt::format("{} does not support style references", m.id)});
    else if (m.max_style_references && refs.size() > *m.max_style_references)
      issues.push_back({"style_references", "too_big",
                        fmt::format("Array must contain at most {} element(s)", *m.max_style_references)});
  }
  return issues;
}

}  // namespace venice_batch::mock
