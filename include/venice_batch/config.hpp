// Every knob of a run, with its source order: command line > environment >
// --config FILE > built-in (config/default.json, embedded at build time).
// config/default.json is the only place a default value is written: a
// value-initialised Config holds zeros; default_config() holds the defaults.
// Loading is strict: an unknown key or a value of the wrong type is a
// ConfigError naming where it came from, so a typo never silently runs.
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "venice_batch/layout.hpp"
#include "venice_batch/sidecar.hpp"

namespace venice_batch {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// `retry` in default.json.
struct RetryPolicy {
  unsigned max_attempts{};                  ///< first try included
  std::chrono::milliseconds base_delay{};
  std::chrono::milliseconds max_delay{};
};

/// `failure_budget` in default.json.
struct FailureBudget {
  std::chrono::seconds window{};
  unsigned max_failures{};                  ///< pause before our own count reaches this
};

/// The meaning of each field is documented once, in config/default.json's `_doc`.
struct Config {
  std::string base_url;
  unsigned concurrency{};
  double requests_per_minute{};             ///< 0: learn from headers
  unsigned burst{};
  std::chrono::milliseconds connect_timeout{};
  std::chrono::milliseconds tls_timeout{};
  std::chrono::milliseconds request_timeout{};
  std::uint64_t max_response_bytes{};
  RetryPolicy retry;
  FailureBudget failure_budget;
  std::chrono::milliseconds max_outage{};   ///< `max_outage_s`: unreachable longer than this ends the run (exit 3)
  bool check_api_at_start{};                ///< one cheap request at start checks the URL and the key
  bool fetch_catalog{};                     ///< GET the model catalog once per run (preflight, prices, limits)
  std::string catalog_file;                 ///< a saved catalog.json to use instead of fetching one
  double max_spend_usd{};                   ///< 0: no cap; else no request may take the spend over it (exit 4)
  double min_balance_usd{};                 ///< 0: none; else stop before x-venice-balance-usd falls below it (exit 4)
  unsigned lookahead_jobs{};                ///< jobs read ahead so a waiting model never holds back another
  bool compressed_responses{};              ///< send Accept-Encoding: gzip, br (JSON answers only)
  SidecarKinds sidecars;                    ///< `sidecars`: "txt,json", written next to each image
  LayoutSettings layout;                    ///< `layout`, `shard_size`, `shard_max_mb` (layout.hpp)
  bool embed_metadata{};                    ///< prompt, model, seed... inside each image file
  unsigned regenerate_flagged{};            ///< new-seed tries for a blurred or content-violation answer
  bool keep_flagged_images{};               ///< `flagged_images`: "keep" (in flagged/) or "discard"
  std::chrono::milliseconds grace_period{};
  bool durable_writes{};
  bool allow_unknown_fields{};
  std::chrono::milliseconds progress_interval{};
  std::chrono::milliseconds metrics_interval{};
  std::string defaults_json = "{}";         ///< the `defaults` object, as JSON text
  std::string ca_file;                      ///< extra trusted CA (PEM); empty: system store only
};

/// The configuration compiled into the binary (config/default.json).
std::string_view embedded_default_config();

/// The built-in defaults: the embedded config/default.json, without environment or file.
Config default_config();

/// Overlays the keys of `json` (an object in config/default.json's shape) onto `config`.
/// `source` names the origin in error messages. Throws ConfigError.
void apply_config_json(Config& config, std::string_view json, std::string_view source);

/// Overlays VENICE_BASE_URL, VENICE_CONCURRENCY, VENICE_RPM, VENICE_CA_FILE, VENICE_TIMEOUT
/// where set. Throws ConfigError for a malformed value.
void apply_config_env(Config& config);

/// Checks cross-field invariants (https URL, concurrency >= 1, ...). Throws ConfigError.
void validate_config(const Config& config);

/// default_config() overlaid with the file at `path` (if non-empty) and the environment.
Config load_config(const std::string& path);

/// Refuses an empty API key, or one holding a control character or a space (it would inject a
/// header or make every request malformed), naming the character and its position, never the
/// key. Throws ConfigError.
void check_api_key(const std::string& key);

}  // namespace venice_batch
