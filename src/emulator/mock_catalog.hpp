// The emulator's model catalog: the bodies of GET /models?type=image, /models/traits,
// /models/compatibility_mapping and /image/styles, and what generate reads from them (each
// model's constraints, prices, offline and deprecation). The emulator's own reading of the
// documented shape (VENICE_API.md, Other endpoints), independent of the client's catalog unit.
// Built once at start-up, then read-only: safe to share between io threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "venice_batch/mock_policy.hpp"
#include "venice_batch/request_schema.hpp"

namespace venice_batch::mock {

/// The three catalog documents, as JSON text.
struct MockCatalogSources {
  std::string models;                 ///< {"object":"list","data":[{"id","model_spec"},…]}
  std::string compatibility_mapping;  ///< {"data":{alias: id}}
  std::string styles;                 ///< {"object":"list","data":[name,…]}
};

/// The built-in catalog (mock_catalog_data.cpp).
MockCatalogSources builtin_catalog_sources();

/// One model, as generate checks and prices its requests.
struct MockModel {
  std::string id;
  bool offline = false;
  std::optional<std::uint64_t> prompt_limit, steps_max, divisor, max_style_references;
  std::vector<std::string> aspect_ratios, resolutions, qualities;
  std::string default_aspect_ratio, default_resolution, default_quality;
  std::optional<Micros> flat_price;                                  ///< pricing.generation.usd
  std::map<std::string, Micros> resolution_price;                    ///< pricing.resolutions[res].usd
  std::map<std::string, std::map<std::string, Micros>> quality_price;  ///< pricing.quality[res][q].usd
  bool style_references = false;
  struct Deprecation {
    bool auto_remap = false;
    std::string date, replacement;
  };
  std::optional<Deprecation> deprecation;

  /// Sized by aspect_ratio (+ resolution, + quality), not width/height.
  bool aspect_family() const { return !aspect_ratios.empty() || !resolutions.empty() || !qualities.empty(); }
  /// The USD price of one image at `resolution` and `quality` (empty: the model's defaults);
  /// a quality price wins over a resolution price. 0 when the model lists no price.
  Micros price(std::string_view resolution, std::string_view quality) const;
};

class MockCatalog {
 public:
  /// Parses the documents. Throws std::runtime_error naming what is malformed (a start-up error).
  explicit MockCatalog(MockCatalogSources sources);
  /// Reads a catalog file: a /models body, or a saved catalog ({"models": <body>,
  /// "compatibility_mapping": <body>, "styles": <body>}, absent parts built in). Throws.
  static MockCatalog from_file(const std::filesystem::path& path);

  /// The model `name` names: an id, else an alias from the compatibility mapping or a trait.
  const MockModel* find(std::string_view name) const;
  const std::vector<MockModel>& models() const { return models_; }

  /// The answers, minified.
  const std::string& models_body() const { return models_body_; }
  const std::string& traits_body() const { return traits_body_; }
  const std::string& compatibility_body() const { return compatibility_body_; }
  const std::string& styles_body() const { return styles_body_; }

  /// What `model` refuses in `request` (already valid against the generic schema): prompt and
  /// negative_prompt over promptCharacterLimit (code points), steps over steps.max where the
  /// model uses steps, width/height not multiples of widthHeightDivisor on a pixel model,
  /// aspect_ratio / resolution / quality not in the model's lists, a style_preset not in the
  /// styles, style_references the model does not take or too many. Fields of the other size
  /// family, and steps on a model without them, are ignored as the API does.
  std::vector<FieldIssue> check(const MockModel& model, simdjson::dom::object request) const;

 private:
  std::vector<MockModel> models_;
  std::map<std::string, std::string, std::less<>> aliases_;  ///< alias or trait -> id
  std::vector<std::string> styles_;
  std::string models_body_, traits_body_, compatibility_body_, styles_body_;
};

}  // namespace venice_batch::mock
