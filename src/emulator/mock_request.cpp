#include "mock_request.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "venice_batch/request_schema.hpp"

namespace venice_batch::mock {

namespace http = boost::beast::http;
namespace dom = simdjson::dom;

namespace {

// The size of an aspect-ratio model's image: the long side from the resolution (4K capped at
// 2048 to keep the emulator cheap), the other from the aspect ratio, a multiple of 8.
void size_from_aspect_ratio(std::string_view ratio, std::string_view resolution, std::uint32_t& width,
                            std::uint32_t& height) {
  const std::uint32_t long_side = resolution == "2K" || resolution == "4K" ? 2048 : 1024;
  const auto colon = ratio.find(':');
  double rw = 1, rh = 1;
  try {
    rw = std::stod(std::string(ratio.substr(0, colon)));
    rh = colon == std::string_view::npos ? 1 : std::stod(std::string(ratio.substr(colon + 1)));
  } catch (const std::exception&) {  // not "W:H": a square
  }
  if (!(rw > 0) || !(rh > 0)) rw = rh = 1;
  const auto short_side = [&](double a, double b) {
    return std::max<std::uint32_t>(8, static_cast<std::uint32_t>(long_side * a / b) / 8 * 8);
  };
  width = rw >= rh ? long_side : short_side(rw, rh);
  height = rw >= rh ? short_side(rh, rw) : long_side;
}

std::string_view string_field(dom::object obj, const char* field) {
  std::string_view s;
  return obj[field].get_string().get(s) ? std::string_view{} : s;
}

// The size fields of the model's family; the other family's are ignored, as the API does.
void read_size(dom::object obj, const MockModel* spec, Ask& a) {
  std::int64_t i;
  const auto ratio = string_field(obj, "aspect_ratio"), resolution = string_field(obj, "resolution");
  if (spec && spec->aspect_family()) {  // a resolution only counts on a model that lists them
    const auto res = spec->resolutions.empty() ? std::string_view{}
                     : resolution.empty()      ? std::string_view(spec->default_resolution)
                                               : resolution;
    size_from_aspect_ratio(ratio.empty() ? std::string_view(spec->default_aspect_ratio) : ratio, res, a.width, a.height);
    return;
  }
  if (obj["width"].get_int64().get(i) == simdjson::SUCCESS) a.width = static_cast<std::uint32_t>(i);
  if (obj["height"].get_int64().get(i) == simdjson::SUCCESS) a.height = static_cast<std::uint32_t>(i);
  if (!spec && !ratio.empty()) size_from_aspect_ratio(ratio, resolution, a.width, a.height);  // a model we do not know
}

// The model a valid request names: a catalog entry, an id served without one, or a refusal.
std::variant<const MockModel*, Refusal> resolve_model(std::string_view name, const RequestRules& rules) {
  if (const auto* spec = rules.catalog.find(name)) {
    if (spec->offline) return Refusal{503, error_body(fmt::format("The model {} is currently offline", spec->id)), spec->id};
    return spec;
  }
  const bool extra = std::find(rules.extra_models.begin(), rules.extra_models.end(), name) != rules.extra_models.end();
  if (extra || rules.accept_unknown_models) return static_cast<const MockModel*>(nullptr);
  return Refusal{404, error_body(fmt::format("Specified model not found: {}", name))};
}

// The generic schema's limits a catalog model replaces with its own (checked by
// MockCatalog::check): the prompt's length (up to 32,768 on some models), its lists of
// resolutions and qualities.
void drop_issues_the_model_decides(const MockModel* spec, std::vector<FieldIssue>& issues) {
  if (!spec) return;
  std::erase_if(issues, [spec](const FieldIssue& i) {
    if (i.path == "prompt" || i.path == "negative_prompt") return spec->prompt_limit && i.code == "too_big";
    if (i.path == "resolution") return !spec->resolutions.empty() && i.code == "invalid_enum_value";
    if (i.path == "quality") return !spec->qualities.empty() && i.code == "invalid_enum_value";
    return false;
  });
}

}  // namespace

std::optional<Refusal> check_key(const Request& req, const std::string& api_key) {
  const std::string_view auth = req[http::field::authorization];
  if (auth.empty()) return Refusal{402, std::string(payment_required_body())};
  if (auth != "Bearer " + api_key) return Refusal{401, error_body("Authentication failed")};
  return std::nullopt;
}

std::variant<Ask, Refusal> read_generate_request(const Request& req, dom::parser& parser, const RequestRules& rules) {
  if (auto refused = check_key(req, rules.api_key)) return *refused;
  if (!std::string_view(req[http::field::content_type]).starts_with("application/json"))
    return Refusal{415, error_body("Unsupported content type")};
  dom::element root;
  dom::object obj;
  if (parser.parse(req.body()).get(root) || root.get_object().get(obj)) return Refusal{400, error_body("Invalid JSON body")};
  const auto name = string_field(obj, "model");
  const auto* known = rules.catalog.find(name);
  const std::string model_id = known ? known->id : std::string(name);
  auto issues = validate_request(obj, {});
  drop_issues_the_model_decides(known, issues);
  if (!issues.empty()) return Refusal{400, detailed_error_body(issues), model_id};
  auto resolved = resolve_model(name, rules);
  if (auto* refused = std::get_if<Refusal>(&resolved)) return std::move(*refused);
  Ask a;
  a.model = model_id;
  a.spec = std::get<const MockModel*>(resolved);
  if (a.spec)
    if (issues = rules.catalog.check(*a.spec, obj); !issues.empty()) return Refusal{400, detailed_error_body(issues), model_id};
  std::int64_t i;
  bool b;
  a.format = parse_image_format(string_field(obj, "format")).value_or(ImageFormat::webp);
  if (obj["variants"].get_int64().get(i) == simdjson::SUCCESS) a.variants = static_cast<int>(i);
  if (obj["return_binary"].get_bool().get(b) == simdjson::SUCCESS) a.binary = b;
  a.prompt.assign(string_field(obj, "prompt"));
  read_size(obj, a.spec, a);
  if (a.spec) a.price = a.spec->price(string_field(obj, "resolution"), string_field(obj, "quality")) * a.images();
  a.request_json = simdjson::minify(obj);
  return a;
}

}  // namespace venice_batch::mock
