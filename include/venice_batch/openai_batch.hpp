// The OpenAI Batch dialect: input lines {"custom_id", "method": "POST", "url", "body"} mapped to
// Venice manifest lines, and the results written back as batch_output.jsonl / batch_errors.jsonl
// (`--results-format openai-batch`). No network; the results side reads results.jsonl.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

namespace simdjson::dom {
class object;
}

namespace venice_batch {

/// What mapping an OpenAI `size` needs of a model (from the catalog): whether it reads
/// aspect_ratio (+ resolution) rather than width/height, and the values it lists.
struct ModelSizes {
  bool aspect_ratio = false;
  std::vector<std::string> aspect_ratios, resolutions;
};
/// The sizes of the model named (id, alias or trait); nullopt when it is not known (no catalog,
/// or a model the catalog lacks): `size` then maps to width/height, the generic spec.
using ModelSizesLookup = std::function<std::optional<ModelSizes>(std::string_view model)>;


/// True for a line in the dialect: it has `custom_id` or `body`.
bool is_openai_batch_line(simdjson::dom::object line);

/// The dialect line as a Venice manifest line (JSON text: `id` from custom_id, the request
/// fields, and the line's `metadata` if any), or why it cannot be mapped. `url` picks the body's
/// meaning: /api/v1/image/generate or /image/generate (a Venice request, taken as is) or
/// /v1/images/generations (an OpenAI request: model, prompt, n -> variants, size -> width/height
/// or aspect_ratio + resolution by the model's size family, output_format -> format, quality
/// low|medium|high, response_format b64_json|url; anything else is refused by name).
/// `default_model` is the config's, used when the body names none.
boost::system::result<std::string, std::string> map_openai_batch_line(simdjson::dom::object line,
                                                                      const ModelSizesLookup& sizes,
                                                                      std::string_view default_model);

/// What write_openai_batch_results wrote.
struct BatchResultCounts {
  std::uint64_t output_lines = 0;  ///< batch_output.jsonl: jobs ok (status_code 200)
  std::uint64_t error_lines = 0;   ///< batch_errors.jsonl: every other job
};

/// Writes <out>/batch_output.jsonl and <out>/batch_errors.jsonl from results.jsonl, one line per
/// job by its deciding record (as resume reads it), in journal order:
/// {"id": "batch_req_<16 hex of SHA-256(custom_id, request hash)>", "custom_id", "response":
/// {"status_code", "request_id", "body"}, "error"}. An ok job's body is {"data": [{"path", "width", "height", "format"}]}
/// (image paths relative to the out dir, never base64). A failed job's body is
/// {"error": {"message", "type", "code"}}, its status_code the last HTTP status (never 200: a
/// content violation is 400, a 200 whose images were bad or not kept 500), 400 for a line refused
/// before sending, 0 when no answer came; its `error` is {"code", "message"}. Jobs not recorded
/// (not reached: --limit, a daily cap, a stop) are in neither file. Both files are replaced atomically. The message names what failed.
boost::system::result<BatchResultCounts, std::string> write_openai_batch_results(const std::filesystem::path& out_dir);

}  // namespace venice_batch
