// Preflight against the catalog: would this job's model accept it? Each line is
// checked as it is read (no pass over the manifest first). A refusal makes the
// line `invalid` with the reason; a warning is printed and the job still goes.
// No I/O: the catalog is given (catalog.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

#include "venice_batch/catalog.hpp"
#include "venice_batch/openai_batch.hpp"

namespace venice_batch {

/// The fields of a request body that preflight and pricing read (parsed once per job).
struct RequestView {
  std::string model;
  std::size_t prompt_code_points = 0;
  std::size_t negative_prompt_code_points = 0;
  std::optional<std::int64_t> width, height, steps;
  std::optional<std::string> aspect_ratio, resolution, quality, style_preset;
  std::size_t style_references = 0;
  bool enable_web_search = false;
  bool enhance_prompt = false;
  unsigned variants = 1;
};

/// Reads the fields above from a request body (JobSpec::body). Fails on a body that is not a
/// JSON object (the manifest reader has already refused those).
boost::system::result<RequestView, std::string> view_request(std::string_view body);

struct PreflightResult {
  const ModelInfo* model = nullptr;      ///< the catalog entry (nullptr when refused as unknown)
  std::optional<std::string> refusal;    ///< set: the line is invalid, for this reason
  std::vector<std::string> warnings;     ///< wrong size family, deprecation, alias used, ...
  bool auto_remap = false;               ///< the model is deprecated with autoRemap: record it
};

/// Checks `request` against its model in `catalog`: unknown or offline model (aliases and traits
/// accepted; names the closest ids), prompt / negative prompt over promptCharacterLimit (code
/// points), steps over constraints.steps.max, width/height not multiples of widthHeightDivisor,
/// aspect_ratio / resolution / quality not in the model's lists, size fields of the wrong family
/// (a warning), style_preset not in the styles list, too many style_references (or any on a model
/// without them), web search on a model without it, deprecation (a warning naming the replacement
/// and the date). Every refusal of the line is named, joined by "; ". Warnings: an alias or trait
/// used, steps on a model without steps, fields of the other size family, a listed field the
/// model lists no values for. A model with maxStyleReferences > 0 is taken to support them.
/// Prompt length is counted in code points (the choice; the API may count UTF-16 units).
PreflightResult preflight_job(const Catalog& catalog, const RequestView& request);

/// The generic cap on a prompt without a catalog (the spec's 7,500); with one, the model's
/// promptCharacterLimit replaces it (up to 32,768).
inline constexpr std::size_t kGenericPromptLimit = 7500;
inline constexpr std::size_t kLargestPromptLimit = 32768;

/// The size fields of each model of `catalog` (ids, aliases and traits), for OpenAI Batch lines;
/// `catalog` must outlive the lookup.
ModelSizesLookup model_sizes_from(const Catalog& catalog);

}  // namespace venice_batch
