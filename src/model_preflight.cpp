// Preflight of one job against its model's catalog entry: each rule is a small function that
// adds a refusal or a warning whose text names the field, the model and the limit.
#include "venice_batch/model_preflight.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <simdjson.h>

#include "json_fields.hpp"

namespace venice_batch {
namespace {
using json::integer;
using json::text;
using simdjson::dom::element;

std::size_t code_points(std::string_view s) {
  // Counts every byte that does not continue a UTF-8 sequence (the manifest checked validity).
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// One field of the body into the view; fields preflight and pricing do not read are skipped.
void read_field(RequestView& r, std::string_view key, element v) {
  std::string_view s;
  bool b = false;
  if (key == "model") r.model = text(v).value_or("");
  else if (key == "prompt" && !v.get_string().get(s)) r.prompt_code_points = code_points(s);
  else if (key == "negative_prompt" && !v.get_string().get(s)) r.negative_prompt_code_points = code_points(s);
  else if (key == "width") r.width = integer(v);
  else if (key == "height") r.height = integer(v);
  else if (key == "steps") r.steps = integer(v);
  else if (key == "aspect_ratio") r.aspect_ratio = text(v);
  else if (key == "resolution") r.resolution = text(v);
  else if (key == "quality") r.quality = text(v);
  else if (key == "style_preset") r.style_preset = text(v);
  else if (key == "style_references" && v.is_array()) r.style_references = v.get_array().value_unsafe().size();
  else if (key == "enable_web_search" && !v.get_bool().get(b)) r.enable_web_search = b;
  else if (key == "enhance_prompt" && !v.get_bool().get(b)) r.enhance_prompt = b;
  else if (key == "variants") {
    const auto n = integer(v);
    if (n && *n >= 1 && *n <= 1000) r.variants = static_cast<unsigned>(*n);
  }
}
}  // namespace

boost::system::result<RequestView, std::string> view_request(std::string_view body) {
  const auto fields = json::object_fields(body);
  if (!fields) return {boost::system::in_place_error, "the request body is not a JSON object"};
  RequestView r;
  for (auto [key, value] : *fields) read_field(r, key, value);
  return r;
}

namespace {
// The checks of one job on one model: refusals make the line invalid, warnings do not.
struct Check {
  const Catalog& catalog;
  const ModelInfo& model;
  const RequestView& request;
  std::vector<std::string> refusals;
  std::vector<std::string> warnings;

  void prompt_lengths() {
    const auto& limit = model.constraints.prompt_character_limit;
    const std::size_t cap = limit ? *limit : kGenericPromptLimit;
    const std::string why = limit ? fmt::format("{}'s promptCharacterLimit", model.id)
                                  : fmt::format("the generic limit ({} lists no promptCharacterLimit)", model.id);
    auto check = [&](std::string_view field, std::size_t n) {
      if (n > cap) refusals.push_back(fmt::format("{}: {} characters, over {} of {}", field, n, why, cap));
    };
    check("prompt", request.prompt_code_points);
    check("negative_prompt", request.negative_prompt_code_points);
  }

  void steps() {
    if (!request.steps) return;
    const auto& max = model.constraints.steps_max;
    if (!max) warnings.push_back(fmt::format("steps is ignored by {} (it does not use steps)", model.id));
    else if (*request.steps > static_cast<std::int64_t>(*max))
      refusals.push_back(fmt::format("steps: {} is over {}'s maximum of {}", *request.steps, model.id, *max));
  }

  void pixel_size() {
    const auto& divisor = model.constraints.width_height_divisor;
    if (!divisor) return;
    auto check = [&](std::string_view field, const std::optional<std::int64_t>& v) {
      if (!v || *v % *divisor == 0) return;
      const std::int64_t d = *divisor, below = *v / d * d;
      const std::string nearest = below > 0 ? fmt::format("{} or {}", below, below + d) : fmt::format("{}", d);
      refusals.push_back(fmt::format("{}: {} is not a multiple of {} ({} needs width and height divisible by {}; try {})",
                                     field, *v, d, model.id, d, nearest));
    };
    check("width", request.width);
    check("height", request.height);
  }

  // A listed value (aspect_ratio, resolution, quality) on an aspect-ratio model.
  void listed(std::string_view field, const std::optional<std::string>& value, const std::vector<std::string>& allowed,
              std::string_view plural) {
    if (!value) return;
    if (allowed.empty())
      warnings.push_back(fmt::format("{} is ignored by {} (it lists no {})", field, model.id, plural));
    else if (std::find(allowed.begin(), allowed.end(), *value) == allowed.end())
      refusals.push_back(fmt::format("{}: '{}' is not one of {}'s {}: {}", field, *value, model.id, plural, fmt::join(allowed, ", ")));
  }

  // The fields of the other family are dropped silently by the API: say so.
  void size_family() {
    const auto& c = model.constraints;
    if (model.family() == SizeFamily::pixels) {
      pixel_size();
      std::vector<std::string_view> given;
      if (request.aspect_ratio) given.push_back("aspect_ratio");
      if (request.resolution) given.push_back("resolution");
      if (request.quality) given.push_back("quality");
      if (!given.empty())
        warnings.push_back(fmt::format("{} {} ignored by {} (it takes width/height)", fmt::join(given, "/"),
                                       given.size() == 1 ? "is" : "are", model.id));
      return;
    }
    if (request.width || request.height) {
      std::vector<std::string_view> takes{"aspect_ratio"};
      if (!c.resolutions.empty()) takes.push_back("resolution");
      if (!c.qualities.empty()) takes.push_back("quality");
      const bool both = request.width && request.height;
      warnings.push_back(fmt::format("{} {} ignored by {} (it takes {})", both ? "width/height" : request.width ? "width" : "height",
                                     both ? "are" : "is", model.id, fmt::join(takes, "/")));
    }
    listed("aspect_ratio", request.aspect_ratio, c.aspect_ratios, "aspect ratios");
    listed("resolution", request.resolution, c.resolutions, "resolutions");
    listed("quality", request.quality, c.qualities, "qualities");
  }

  void style_preset() {
    const auto& styles = catalog.styles;
    if (!request.style_preset || styles.empty()) return;
    const std::string& name = *request.style_preset;
    if (std::find(styles.begin(), styles.end(), name) != styles.end()) return;
    auto same_letters = [&](const std::string& s) {
      return std::equal(s.begin(), s.end(), name.begin(), name.end(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
      });
    };
    const auto match = std::find_if(styles.begin(), styles.end(), same_letters);
    if (match != styles.end())
      refusals.push_back(fmt::format("style_preset: '{}' is not a style the API lists (names are case-sensitive: '{}')", name, *match));
    else
      refusals.push_back(fmt::format("style_preset: '{}' is not one of the {} styles GET /image/styles lists", name, styles.size()));
  }

  void style_references() {
    const std::size_t n = request.style_references;
    if (n == 0) return;
    const auto& max = model.constraints.max_style_references;
    // maxStyleReferences without the flag is read as support: a wrong refusal would block a good line.
    if (!model.supports_style_references && !(max && *max > 0))
      refusals.push_back(fmt::format("style_references: {} does not take style references", model.id));
    else if (max && n > *max)
      refusals.push_back(fmt::format("style_references: {} given, {} takes at most {}", n, model.id, *max));
  }

  void web_search() {
    if (request.enable_web_search && !model.supports_web_search)
      refusals.push_back(fmt::format("enable_web_search: {} has no web search (capabilities.supportsWebSearch)", model.id));
  }
};

std::string unknown_model(const Catalog& catalog, const std::string& name) {
  const auto closest = catalog.closest_ids(name);
  if (closest.empty()) return fmt::format("model: unknown model '{}' (not in the catalog's {} image models)", name, catalog.models.size());
  return fmt::format("model: unknown model '{}'; closest: {}", name, fmt::join(closest, ", "));
}

std::string deprecation_warning(const ModelInfo& m) {
  const ModelDeprecation& d = *m.deprecation;
  const std::string& date = !d.removes_at.empty() ? d.removes_at : !d.date.empty() ? d.date : d.starts_at;
  std::string out = fmt::format("model: {} is deprecated", m.id);
  if (!date.empty()) out += fmt::format(" (removed {})", date);
  if (!d.replacement_model_id.empty()) out += fmt::format("; replacement: {}", d.replacement_model_id);
  if (d.auto_remap)
    out += d.replacement_model_id.empty() ? "; the API may serve another model instead (autoRemap)"
                                          : fmt::format("; the API may serve {} instead (autoRemap)", d.replacement_model_id);
  return out;
}
}  // namespace

PreflightResult preflight_job(const Catalog& catalog, const RequestView& request) {
  PreflightResult out;
  out.model = catalog.find(request.model);
  if (!out.model) {
    out.refusal = unknown_model(catalog, request.model);
    return out;
  }
  const ModelInfo& m = *out.model;
  if (m.id != request.model) out.warnings.push_back(fmt::format("model: alias {} -> {}", request.model, m.id));
  if (m.offline) {
    out.refusal = fmt::format("model: {} is offline (the catalog lists it as unavailable); choose another model", m.id);
    return out;
  }
  if (m.deprecation) {
    out.warnings.push_back(deprecation_warning(m));
    out.auto_remap = m.deprecation->auto_remap;
  }
  Check check{catalog, m, request, {}, {}};
  check.prompt_lengths();
  check.steps();
  check.size_family();
  check.style_preset();
  check.style_references();
  check.web_search();
  out.warnings.insert(out.warnings.end(), check.warnings.begin(), check.warnings.end());
  if (!check.refusals.empty()) out.refusal = fmt::format("{}", fmt::join(check.refusals, "; "));
  return out;
}

ModelSizesLookup model_sizes_from(const Catalog& catalog) {
  return [&catalog](std::string_view name) -> std::optional<ModelSizes> {
    const ModelInfo* m = catalog.find(name);
    if (!m) return std::nullopt;
    return ModelSizes{m->family() == SizeFamily::aspect_ratio, m->constraints.aspect_ratios, m->constraints.resolutions};
  };
}

}  // namespace venice_batch
