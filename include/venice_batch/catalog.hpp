// The image-model catalog: what GET /models?type=image, /models/compatibility_mapping,
// /image/styles and /api_keys/rate_limits say, parsed into one value that the
// preflight (model_preflight.hpp), the pricing (pricing.hpp) and the pacers read.
// No network here: the run fetches the four bodies, this unit parses, saves and loads them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

namespace venice_batch {

/// One price, as the catalog lists it (per image). DIEM is absent on some models.
struct Price {
  double usd = 0;
  std::optional<double> diem;
  bool operator==(const Price&) const = default;
};

/// `model_spec.constraints`. Absent fields are absent, not zero.
struct ModelConstraints {
  std::optional<std::uint32_t> prompt_character_limit;
  std::optional<std::uint32_t> steps_default, steps_max;  ///< the model uses `steps` when steps_max is set
  std::optional<std::uint32_t> width_height_divisor;
  std::vector<std::string> aspect_ratios;
  std::optional<std::string> default_aspect_ratio;
  std::vector<std::string> resolutions;
  std::optional<std::string> default_resolution;
  std::vector<std::string> qualities;
  std::optional<std::string> default_quality;
  std::optional<std::uint32_t> max_style_references;
  bool operator==(const ModelConstraints&) const = default;
};

/// `model_spec.pricing`, in whichever of the three shapes the model has (VENICE_API.md):
/// a flat per-image price, a price per resolution, or per resolution x quality (which wins
/// over `resolutions`, kept by the API only for backward compatibility).
struct ModelPricing {
  std::optional<Price> per_image;                                            ///< `generation`
  std::map<std::string, Price> by_resolution;                                ///< `resolutions`
  std::map<std::string, std::map<std::string, Price>> by_resolution_quality;  ///< `quality[res][q]`
  bool empty() const { return !per_image && by_resolution.empty() && by_resolution_quality.empty(); }
  bool operator==(const ModelPricing&) const = default;
};

struct ModelDeprecation {
  bool auto_remap = false;  ///< the API may silently serve the replacement
  std::string date, starts_at, removes_at, replacement_model_id;
  bool operator==(const ModelDeprecation&) const = default;
};

/// Which size fields a model reads: width/height, or aspect_ratio (+ resolution, + quality).
enum class SizeFamily { pixels, aspect_ratio };

struct ModelInfo {
  std::string id;
  ModelConstraints constraints;
  ModelPricing pricing;  ///< empty: no price listed (free or internal model)
  bool offline = false;
  std::optional<ModelDeprecation> deprecation;
  std::vector<std::string> traits;
  bool supports_style_references = false;
  bool supports_web_search = false;
  /// aspect_ratio when the constraints list aspectRatios, resolutions or qualities; else pixels.
  SizeFamily family() const;
  bool operator==(const ModelInfo&) const = default;
};

/// One model's limits from /api_keys/rate_limits (absent: not stated).
struct ModelRateLimit {
  std::optional<std::uint64_t> rpm;
  std::optional<std::uint64_t> rpd;
  bool operator==(const ModelRateLimit&) const = default;
};

/// The four response bodies as fetched, and when. This is what is saved in the out dir
/// (catalog.json) and what `--catalog FILE` loads: the raw bodies, so a saved catalog is
/// read exactly as a fetched one. An empty body means that endpoint could not be had.
struct CatalogSources {
  std::string models;                 ///< GET /models?type=image
  std::string compatibility_mapping;  ///< GET /models/compatibility_mapping
  std::string styles;                 ///< GET /image/styles
  std::string rate_limits;            ///< GET /api_keys/rate_limits
  std::int64_t fetched_at_ms = 0;     ///< Unix milliseconds
};

struct Catalog {
  std::vector<ModelInfo> models;
  std::map<std::string, std::string> aliases;  ///< compatibility mapping and traits: name -> model id
  std::vector<std::string> styles;             ///< empty: styles unknown (not checked)
  std::map<std::string, ModelRateLimit> rate_limits;  ///< by model id
  std::optional<double> balance_usd, balance_diem;    ///< from rate_limits' `balances`
  std::int64_t fetched_at_ms = 0;

  /// The model named by `name`: an id, else an alias or a trait. nullptr if unknown.
  const ModelInfo* find(std::string_view name) const;
  /// Up to `n` ids closest to `name` (edit distance, then shared prefix), for "did you mean".
  std::vector<std::string> closest_ids(std::string_view name, std::size_t n = 3) const;
  bool operator==(const Catalog&) const = default;
};

/// Builds the catalog from the fetched bodies. Fails only if `models` is missing or not the
/// documented shape (the catalog is then unusable); a bad styles / mapping / rate-limits body
/// is tolerated (that part is left empty) and named in `warnings`. Tolerated shapes: lists as
/// `{"data": [...]}` or a bare array; numbers as ints or doubles; model_spec fields also at the
/// top of an entry; unknown fields ignored. Aliases: each model's traits, then the mapping
/// (which wins); aliases of models that are not in the image list are dropped.
boost::system::result<Catalog, std::string> build_catalog(const CatalogSources& sources,
                                                          std::vector<std::string>* warnings = nullptr);

/// The account's part alone: per-model limits and balances from an /api_keys/rate_limits body
/// (models, aliases and styles empty). A run without a model list (--no-catalog, or a catalog that
/// could not be had) paces by them and holds --min-balance from its first request all the same.
Catalog account_state_from(std::string_view rate_limits_body, std::vector<std::string>* warnings = nullptr);

/// catalog.json: {"fetched_at_ms": N, "models": <body>, "compatibility_mapping": <body>, ...}
/// with each body that is a JSON object or array embedded as JSON (minified), any other body
/// stored as a string, and an empty one (not had) as null: loading gives the same catalog back.
std::string catalog_sources_to_json(const CatalogSources& sources);
/// Also accepts a bare GET /models body (e.g. saved with curl) as the model list alone.
boost::system::result<CatalogSources, std::string> catalog_sources_from_json(std::string_view json);

/// Reads a saved catalog.json; the message names the file and what is wrong.
boost::system::result<CatalogSources, std::string> load_catalog_sources(const std::filesystem::path& path);

}  // namespace venice_batch
