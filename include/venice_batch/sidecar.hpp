// Sidecars (`--sidecars txt,json`): <id>_<k>.txt, the prompt (what LoRA trainers read), and
// <id>_<k>.json, the request and what the answer said, written next to each image with the same
// atomic write, before the job is recorded ok. Formatting only; the sink writes them.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace venice_batch {

struct FileRecord;

struct SidecarKinds {
  bool txt = false, json = false;
  bool any() const { return txt || json; }
  bool operator==(const SidecarKinds&) const = default;
};

/// "txt", "json", "txt,json" (any order, spaces allowed) or "none"/""; nullopt for anything else.
std::optional<SidecarKinds> parse_sidecar_kinds(std::string_view list);

/// What a job's sidecars say besides what the answer brings. Views into the job's JobSpec.
struct SidecarSource {
  SidecarKinds kinds;
  std::string_view id, prompt, model;
  std::string_view request_body;  ///< the request JSON as sent (JobSpec::body)
  std::string_view metadata;      ///< the line's metadata object (JSON), or empty
  std::optional<double> price_usd;  ///< the catalog's price of the whole request
  /// webdataset: the sample key's stem (the id mapped to hold no '.'); the .json records the mapping.
  std::string_view key_stem = {};
  /// The attempt's client times in ms (connect, tls, write, ttfb, download, total), when known.
  std::optional<std::array<double, 6>> timings_ms = std::nullopt;
};

/// The .json sidecar of variant `k`: {"id", "variant", "file", "format", "width", "height",
/// "model", "prompt", "request", "server_id", "estimated_price_usd", "metadata"} (absent values
/// left out). Valid JSON and UTF-8 whatever the inputs.
std::string sidecar_json(const SidecarSource& source, unsigned k, const FileRecord& file, std::string_view server_id);

}  // namespace venice_batch
