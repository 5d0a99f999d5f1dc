// What a job costs, from the catalog's prices (VENICE_API.md, Other endpoints):
// a flat per-image price, per resolution, or per resolution x quality, times the
// variants (each variant is billed as one image). No I/O.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "venice_batch/catalog.hpp"
#include "venice_batch/model_preflight.hpp"

namespace venice_batch {

struct JobPrice {
  unsigned images = 1;              ///< variants
  std::optional<Price> per_image;   ///< nullopt: the catalog lists no price for this request
  std::optional<Price> total;       ///< per_image x images (DIEM only if every part has one)
  /// Options that cost extra without a listed price ("enhance_prompt", "enable_web_search").
  std::vector<std::string> unpriced_extras;
  /// Why there is no price ("model lists no price", "no price for resolution 8K quality ultra").
  std::string unpriced_reason;
};

/// The price of `request` on `model`: the resolution and quality default to the model's
/// defaults when the request leaves them out; a quality price wins over a resolution price.
JobPrice price_job(const ModelInfo& model, const RequestView& request);

}  // namespace venice_batch
