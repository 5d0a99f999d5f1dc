// The catalog's four bodies parsed (simdjson DOM), tolerant of the shapes VENICE_API.md
// lists, and model lookup by id, alias or trait. Saving and loading: catalog_file.cpp.
#include "venice_batch/catalog.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <tuple>

#include <fmt/format.h>
#include <simdjson.h>

namespace venice_batch {
namespace {
using simdjson::dom::element;
using Field = std::optional<element>;
using Warnings = std::vector<std::string>;

// `parent[key]`, absent when `parent` is absent, not an object, lacks `key` or holds null there.
Field at(Field parent, std::string_view key) {
  element e;
  if (!parent || !parent->is_object() || (*parent)[key].get(e) || e.is_null()) return std::nullopt;
  return e;
}
Field either(Field a, Field b) { return a ? a : b; }

// A number, integer or not (the API has sent both for the same field).
std::optional<double> number(Field e) {
  double x = 0;
  if (!e || !e->is_number() || e->get_double().get(x) || !std::isfinite(x)) return std::nullopt;
  return x;
}
// A whole, non-negative number that fits `T` (1500 and 1500.0 alike); else absent.
template <typename T>
std::optional<T> whole(Field e) {
  const auto x = number(e);
  if (!x || *x < 0 || *x != std::floor(*x) || *x > static_cast<double>(std::numeric_limits<T>::max())) return std::nullopt;
  return static_cast<T>(*x);
}
std::optional<std::string> text(Field e) {
  std::string_view s;
  if (!e || e->get_string().get(s)) return std::nullopt;
  return std::string(s);
}
std::optional<bool> flag(Field e) {
  bool b = false;
  if (!e || e->get_bool().get(b)) return std::nullopt;
  return b;
}
// The members of an array; empty when `e` is not an array.
std::vector<element> elements(Field e) {
  std::vector<element> out;
  simdjson::dom::array a;
  if (!e || e->get_array().get(a)) return out;
  for (element x : a) out.push_back(x);
  return out;
}
// The strings of an array (other members skipped).
std::vector<std::string> strings(Field e) {
  std::vector<std::string> out;
  for (element x : elements(e))
    if (auto s = text(x)) out.push_back(std::move(*s));
  return out;
}
// The members of an object, as (key, value); empty when `e` is not an object.
std::vector<std::pair<std::string, element>> members(Field e) {
  std::vector<std::pair<std::string, element>> out;
  simdjson::dom::object o;
  if (!e || e->get_object().get(o)) return out;
  for (auto [k, v] : o) out.emplace_back(std::string(k), v);
  return out;
}

// A price is an amount a request can cost: not negative, and below a bound no image approaches
// ($10,000), so sums stay exact in micro-dollars. Anything else is no price: the job is unpriced
// (refused under --max-spend) rather than priced at a number that would defeat the cap.
constexpr double kMaxPlausiblePrice = 10000;
std::optional<double> amount(Field e) {
  auto v = number(e);
  if (!v || !(*v >= 0 && *v <= kMaxPlausiblePrice)) return std::nullopt;
  return v;
}

std::optional<Price> price(Field e) {
  auto usd = amount(at(e, "usd"));
  if (!usd) return std::nullopt;
  return Price{*usd, amount(at(e, "diem"))};
}

ModelConstraints constraints_of(Field c) {
  ModelConstraints k;
  k.prompt_character_limit = whole<std::uint32_t>(at(c, "promptCharacterLimit"));
  k.steps_default = whole<std::uint32_t>(at(at(c, "steps"), "default"));
  k.steps_max = whole<std::uint32_t>(at(at(c, "steps"), "max"));
  k.width_height_divisor = whole<std::uint32_t>(at(c, "widthHeightDivisor"));
  if (k.width_height_divisor == 0u) k.width_height_divisor.reset();  // 0 divides nothing: not a limit
  k.aspect_ratios = strings(at(c, "aspectRatios"));
  k.default_aspect_ratio = text(at(c, "defaultAspectRatio"));
  k.resolutions = strings(at(c, "resolutions"));
  k.default_resolution = text(at(c, "defaultResolution"));
  k.qualities = strings(at(c, "qualities"));
  k.default_quality = text(at(c, "defaultQuality"));
  k.max_style_references = whole<std::uint32_t>(at(c, "maxStyleReferences"));
  return k;
}

ModelPricing pricing_of(Field p) {
  ModelPricing out;
  out.per_image = price(at(p, "generation"));
  for (auto& [res, v] : members(at(p, "resolutions")))
    if (auto x = price(v)) out.by_resolution.emplace(res, *x);
  for (auto& [res, by_quality] : members(at(p, "quality"))) {
    std::map<std::string, Price> row;
    for (auto& [q, v] : members(by_quality))
      if (auto x = price(v)) row.emplace(q, *x);
    if (!row.empty()) out.by_resolution_quality.emplace(res, std::move(row));
  }
  return out;
}

// A deprecation object that says something (a date, a replacement or autoRemap); else none.
std::optional<ModelDeprecation> deprecation_of(Field d) {
  ModelDeprecation x;
  x.auto_remap = flag(at(d, "autoRemap")).value_or(false);
  x.date = text(at(d, "date")).value_or("");
  x.starts_at = text(at(d, "startsAt")).value_or("");
  x.removes_at = text(at(d, "removesAt")).value_or("");
  x.replacement_model_id = text(at(d, "replacementModelId")).value_or("");
  if (!x.auto_remap && x.date.empty() && x.starts_at.empty() && x.removes_at.empty() && x.replacement_model_id.empty())
    return std::nullopt;
  return x;
}

// One entry of the model list. Fields documented under model_spec are also accepted at the top.
std::optional<ModelInfo> model_of(element entry) {
  ModelInfo m;
  auto id = text(at(entry, "id"));
  if (!id || id->empty()) return std::nullopt;
  m.id = std::move(*id);
  const Field spec = at(entry, "model_spec");
  const Field caps = either(at(spec, "capabilities"), at(entry, "capabilities"));
  auto read = [&](std::string_view key) { return either(at(spec, key), at(entry, key)); };
  m.constraints = constraints_of(read("constraints"));
  m.pricing = pricing_of(read("pricing"));
  m.offline = flag(read("offline")).value_or(false);
  m.deprecation = deprecation_of(read("deprecation"));
  m.traits = strings(read("traits"));
  m.supports_style_references = flag(either(read("supportsStyleReferences"), at(caps, "supportsStyleReferences"))).value_or(false);
  m.supports_web_search = flag(either(at(caps, "supportsWebSearch"), read("supportsWebSearch"))).value_or(false);
  return m;
}

// The parsed root of an optional body, or nullopt with a warning saying what is lost.
Field optional_root(simdjson::dom::parser& parser, std::string_view body, std::string_view what,
                    std::string_view lost, Warnings& warnings) {
  if (body.empty()) {
    warnings.push_back(fmt::format("catalog: the {} could not be had; {}", what, lost));
    return std::nullopt;
  }
  element root;
  if (auto err = parser.parse(body.data(), body.size(), true).get(root)) {
    warnings.push_back(fmt::format("catalog: the {} is not JSON ({}); {}", what, simdjson::error_message(err), lost));
    return std::nullopt;
  }
  return root;
}

// `{"data": [...]}` or a bare array (the docs show both).
Field listed(Field root) {
  if (root && root->is_array()) return root;
  auto data = at(root, "data");
  return data && data->is_array() ? data : std::nullopt;
}

boost::system::result<std::vector<ModelInfo>, std::string> read_models(std::string_view body, Warnings& warnings) {
  if (body.empty()) return std::string("the model list (GET /models?type=image) could not be had");
  simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(body.data(), body.size(), true).get(root))
    return fmt::format("the model list is not JSON ({})", simdjson::error_message(err));
  const Field list = listed(root);
  if (!list) return std::string(R"(the model list is not the documented shape ({"data": [...]}))");
  std::vector<ModelInfo> models;
  std::size_t index = 0;
  for (element entry : elements(list)) {
    auto m = model_of(entry);
    if (!m) warnings.push_back(fmt::format("catalog: model list entry {} has no id; skipped", index));
    else if (std::none_of(models.begin(), models.end(), [&](const ModelInfo& x) { return x.id == m->id; }))
      models.push_back(std::move(*m));
    ++index;
  }
  if (models.empty()) return std::string("the model list names no model");
  return models;
}

bool known(const Catalog& c, const std::string& id) {
  return std::any_of(c.models.begin(), c.models.end(), [&](const ModelInfo& m) { return m.id == id; });
}

// Traits first, then the mapping (the endpoint's word wins); aliases of models not listed are dropped.
void read_aliases(simdjson::dom::parser& parser, std::string_view body, Catalog& c, Warnings& warnings) {
  for (const auto& m : c.models)
    for (const auto& t : m.traits) c.aliases.emplace(t, m.id);
  const std::string_view lost = "model aliases other than traits are not accepted";
  const Field root = optional_root(parser, body, "compatibility mapping", lost, warnings);
  if (!root) return;
  Field map = at(root, "data");
  if (!map || !map->is_object()) map = root->is_object() ? root : std::nullopt;
  if (!map) {
    warnings.push_back(fmt::format(R"(catalog: the compatibility mapping is not the documented shape ({{"data": {{alias: id}}}}); {})", lost));
    return;
  }
  for (auto& [alias, target] : members(map)) {
    auto id = text(target);
    if (id && known(c, *id) && !known(c, alias)) c.aliases.insert_or_assign(alias, *id);
  }
}

void read_styles(simdjson::dom::parser& parser, std::string_view body, Catalog& c, Warnings& warnings) {
  const std::string_view lost = "style_preset is not checked";
  const Field root = optional_root(parser, body, "style list", lost, warnings);
  if (!root) return;
  const Field list = listed(root);
  if (!list) {
    warnings.push_back(fmt::format(R"(catalog: the style list is not the documented shape ({{"data": [...]}}); {})", lost));
    return;
  }
  c.styles = strings(list);
}

void read_rate_limits(simdjson::dom::parser& parser, std::string_view body, Catalog& c, Warnings& warnings) {
  const std::string_view lost = "per-model limits come from the response headers only";
  const Field root = optional_root(parser, body, "rate limits", lost, warnings);
  if (!root) return;
  const Field data = either(at(root, "data"), root);
  const Field limits = at(data, "rateLimits");
  if (!limits || !limits->is_array()) {
    warnings.push_back(fmt::format(R"(catalog: the rate limits are not the documented shape ({{"data": {{"rateLimits": [...]}}}}); {})", lost));
    return;
  }
  for (element entry : elements(limits)) {
    auto id = text(at(entry, "apiModelId"));
    if (!id) continue;
    ModelRateLimit limit;
    for (element l : elements(at(entry, "rateLimits"))) {
      const auto type = text(at(l, "type"));
      const auto amount = whole<std::uint64_t>(at(l, "amount"));
      if (!amount) continue;
      if (type == "RPM") limit.rpm = amount;
      else if (type == "RPD") limit.rpd = amount;  // TPM: tokens, not images
    }
    c.rate_limits.insert_or_assign(*id, limit);
  }
  const Field balances = at(data, "balances");
  c.balance_usd = number(either(at(balances, "USD"), at(balances, "usd")));
  c.balance_diem = number(either(at(balances, "DIEM"), at(balances, "diem")));
}
}  // namespace

SizeFamily ModelInfo::family() const {
  const auto& c = constraints;
  return c.aspect_ratios.empty() && c.resolutions.empty() && c.qualities.empty() ? SizeFamily::pixels
                                                                                  : SizeFamily::aspect_ratio;
}

const ModelInfo* Catalog::find(std::string_view name) const {
  auto by_id = [&](std::string_view id) -> const ModelInfo* {
    for (const auto& m : models)
      if (m.id == id) return &m;
    return nullptr;
  };
  if (const auto* m = by_id(name)) return m;
  auto alias = aliases.find(std::string(name));
  return alias == aliases.end() ? nullptr : by_id(alias->second);
}

namespace {
char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

// Levenshtein distance ignoring case, or `bound + 1` once it is sure to exceed `bound`.
std::size_t edit_distance(std::string_view a, std::string_view b, std::size_t bound) {
  if ((a.size() > b.size() ? a.size() - b.size() : b.size() - a.size()) > bound) return bound + 1;
  std::vector<std::size_t> row(b.size() + 1), next(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    next[0] = i;
    std::size_t best = next[0];
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t swap = row[j - 1] + (lower(a[i - 1]) != lower(b[j - 1]));
      next[j] = std::min({row[j] + 1, next[j - 1] + 1, swap});
      best = std::min(best, next[j]);
    }
    if (best > bound) return bound + 1;
    row.swap(next);
  }
  return std::min(row[b.size()], bound + 1);
}

std::size_t shared_prefix(std::string_view a, std::string_view b) {
  std::size_t n = 0;
  while (n < a.size() && n < b.size() && lower(a[n]) == lower(b[n])) ++n;
  return n;
}
}  // namespace

std::vector<std::string> Catalog::closest_ids(std::string_view name, std::size_t n) const {
  // A typo of a few characters, or a name that starts like a known one ("flux" -> "flux-2-dev").
  const std::size_t bound = std::max<std::size_t>(2, name.size() / 3);
  constexpr std::size_t kTellingPrefix = 4;
  struct Scored {
    std::size_t distance, prefix;
    std::string name;
  };
  std::vector<Scored> scored;
  auto consider = [&](const std::string& candidate) {
    const auto distance = edit_distance(name, candidate, bound);
    const auto prefix = shared_prefix(name, candidate);
    if (distance <= bound || prefix >= std::min(kTellingPrefix, name.size())) scored.push_back({distance, prefix, candidate});
  };
  for (const auto& m : models) consider(m.id);
  for (const auto& [alias, id] : aliases) consider(alias);
  std::sort(scored.begin(), scored.end(), [](const Scored& a, const Scored& b) {
    return std::tie(a.distance, b.prefix, a.name) < std::tie(b.distance, a.prefix, b.name);
  });
  std::vector<std::string> out;
  for (auto& x : scored) {
    if (out.size() == n) break;
    if (std::find(out.begin(), out.end(), x.name) == out.end()) out.push_back(std::move(x.name));
  }
  return out;
}

boost::system::result<Catalog, std::string> build_catalog(const CatalogSources& sources, std::vector<std::string>* warnings) {
  Warnings local;
  Warnings& w = warnings ? *warnings : local;
  auto models = read_models(sources.models, w);
  if (!models) return models.error();
  Catalog c;
  c.models = std::move(*models);
  c.fetched_at_ms = sources.fetched_at_ms;
  simdjson::dom::parser parser;
  read_aliases(parser, sources.compatibility_mapping, c, w);
  read_styles(parser, sources.styles, c, w);
  read_rate_limits(parser, sources.rate_limits, c, w);
  return c;
}

Catalog account_state_from(std::string_view rate_limits_body, std::vector<std::string>* warnings) {
  Warnings local;
  Catalog c;
  simdjson::dom::parser parser;
  read_rate_limits(parser, rate_limits_body, c, warnings ? *warnings : local);
  return c;
}

}  // namespace venice_batch
