// Every knob of a run, with its source order: command line > environment >
// --config FILE > built-in (config/default.json, embedded at build time).
// Loading is strict: an unknown key or a value of the wrong type is a
// ConfigError naming where it came from, so a typo never silently runs.
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace venice_batch {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct RetryPolicy {
  unsigned max_attempts = 6;                ///< first try included
  std::chrono::milliseconds base_delay{1000};
  std::chrono::milliseconds max_delay{60000};
};

struct FailureBudget {
  std::chrono::seconds window{30};
  unsigned max_failures = 15;               ///< pause before our own count reaches this
};

struct Config {
  std::string base_url = "https://api.venice.ai/api/v1";
  unsigned concurrency = 4;
  double requests_per_minute = 0;           ///< 0: learn from headers
  unsigned burst = 1;
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds tls_timeout{10000};
  std::chrono::milliseconds request_timeout{180000};
  std::uint64_t max_response_bytes = 128ull << 20;
  RetryPolicy retry;
  FailureBudget failure_budget;
  std::chrono::milliseconds grace_period{30000};
  bool durable_writes = true;
  bool allow_unknown_fields = false;
  std::chrono::milliseconds progress_interval{10000};
  std::chrono::milliseconds metrics_interval{2000};
  std::string defaults_json = "{}";         ///< the `defaults` object, as JSON text
  std::string ca_file;                      ///< extra trusted CA (PEM); empty: system store only
};

/// The configuration compiled into the binary (config/default.json).
std::string_view embedded_default_config();

/// Overlays the keys of `json` (an object in config/default.json's shape) onto `config`.
/// `source` names the origin in error messages. Throws ConfigError.
void apply_config_json(Config& config, std::string_view json, std::string_view source);

/// Overlays VENICE_BASE_URL, VENICE_CONCURRENCY, VENICE_RPM, VENICE_CA_FILE, VENICE_TIMEOUT
/// where set. Throws ConfigError for a malformed value.
void apply_config_env(Config& config);

/// Checks cross-field invariants (https URL, concurrency >= 1, ...). Throws ConfigError.
void validate_config(const Config& config);

/// Built-in defaults overlaid with the file at `path` (if non-empty) and the environment.
Config load_config(const std::string& path);

}  // namespace venice_batch
