// A job's price from its model's listed prices: resolution x quality wins over resolution,
// which wins over a flat price; missing request values fall back to the model's defaults.
#include "venice_batch/pricing.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace venice_batch {
namespace {

// The per-image price for `request` on `model`, or the reason there is none.
std::optional<Price> per_image_price(const ModelInfo& model, const RequestView& request, std::string& reason) {
  const ModelPricing& p = model.pricing;
  const ModelConstraints& c = model.constraints;
  const std::optional<std::string>& resolution = request.resolution ? request.resolution : c.default_resolution;
  const std::optional<std::string>& quality = request.quality ? request.quality : c.default_quality;
  if (!p.by_resolution_quality.empty()) {
    if (!resolution || !quality) {
      reason = fmt::format("{} is priced by resolution and quality; the request names {} and the model lists no default",
                           model.id, !resolution ? "no resolution" : "no quality");
      return std::nullopt;
    }
    const auto row = p.by_resolution_quality.find(*resolution);
    if (row != p.by_resolution_quality.end()) {
      const auto cell = row->second.find(*quality);
      if (cell != row->second.end()) return cell->second;
    }
    reason = fmt::format("{} lists no price for resolution {} quality {}", model.id, *resolution, *quality);
    return std::nullopt;
  }
  if (!p.by_resolution.empty()) {
    if (!resolution) {
      reason = fmt::format("{} is priced by resolution; the request names none and the model lists no default", model.id);
      return std::nullopt;
    }
    const auto cell = p.by_resolution.find(*resolution);
    if (cell != p.by_resolution.end()) return cell->second;
    reason = fmt::format("{} lists no price for resolution {}", model.id, *resolution);
    return std::nullopt;
  }
  if (p.per_image) return p.per_image;
  reason = fmt::format("{} lists no price", model.id);
  return std::nullopt;
}

}  // namespace

JobPrice price_job(const ModelInfo& model, const RequestView& request) {
  JobPrice out;
  out.images = std::max(1u, request.variants);
  if (request.enhance_prompt) out.unpriced_extras.emplace_back("enhance_prompt");
  if (request.enable_web_search) out.unpriced_extras.emplace_back("enable_web_search");
  out.per_image = per_image_price(model, request, out.unpriced_reason);
  if (out.per_image) {
    Price total{out.per_image->usd * out.images, std::nullopt};
    if (out.per_image->diem) total.diem = *out.per_image->diem * out.images;
    out.total = total;
  }
  return out;
}

}  // namespace venice_batch
