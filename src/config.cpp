#include "venice_batch/config.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <simdjson.h>

#include "venice_batch/endpoint.hpp"
#include "venice_batch/request_schema.hpp"

namespace venice_batch {
namespace {

using simdjson::dom::element;

[[noreturn]] void fail(std::string_view source, std::string_view key, std::string_view what) {
  throw ConfigError(fmt::format("{}: '{}' {}", source, key, what));
}

double number(element v, std::string_view source, std::string_view key) {
  double d;
  if (v.get_double().get(d) == simdjson::SUCCESS) return d;
  int64_t i;
  if (v.get_int64().get(i) == simdjson::SUCCESS) return static_cast<double>(i);
  uint64_t u;
  if (v.get_uint64().get(u) == simdjson::SUCCESS) return static_cast<double>(u);
  fail(source, key, "must be a number");
}

double non_negative(element v, std::string_view source, std::string_view key) {
  double d = number(v, source, key);
  if (d < 0) fail(source, key, "must not be negative");
  return d;
}

unsigned whole(element v, std::string_view source, std::string_view key) {
  uint64_t u;
  if (v.get_uint64().get(u) != simdjson::SUCCESS || u > 1'000'000'000) fail(source, key, "must be a whole number");
  return static_cast<unsigned>(u);
}

bool boolean(element v, std::string_view source, std::string_view key) {
  bool b;
  if (v.get_bool().get(b) != simdjson::SUCCESS) fail(source, key, "must be true or false");
  return b;
}

std::string string(element v, std::string_view source, std::string_view key) {
  std::string_view s;
  if (v.get_string().get(s) != simdjson::SUCCESS) fail(source, key, "must be a string");
  return std::string(s);
}

// "txt,json" or ["txt", "json"].
SidecarKinds sidecar_kinds(element v, std::string_view source, std::string_view key) {
  std::string list;
  if (simdjson::dom::array items; v.get_array().get(items) == simdjson::SUCCESS) {
    for (auto item : items) list += string(item, source, key) + ",";
  } else {
    list = string(v, source, key);
  }
  auto kinds = parse_sidecar_kinds(list);
  if (!kinds) fail(source, key, "must list txt and/or json (\"txt,json\")");
  return *kinds;
}

LayoutKind layout_kind(element v, std::string_view source, std::string_view key) {
  auto kind = parse_layout_kind(string(v, source, key));
  if (!kind) fail(source, key, "must be \"files\", \"webdataset\" or \"imagefolder\"");
  return *kind;
}

std::uint64_t positive_whole(element v, std::string_view source, std::string_view key) {
  const auto n = whole(v, source, key);
  if (n < 1) fail(source, key, "must be at least 1");
  return n;
}

bool flagged_images(element v, std::string_view source, std::string_view key) {
  const std::string what = string(v, source, key);  // owned: string() returns a temporary
  if (what == "keep") return true;
  if (what == "discard") return false;
  fail(source, key, "must be \"keep\" or \"discard\"");
  return false;
}

std::chrono::milliseconds seconds(element v, std::string_view source, std::string_view key) {
  return std::chrono::milliseconds(static_cast<int64_t>(non_negative(v, source, key) * 1000.0));
}

std::chrono::milliseconds millis(element v, std::string_view source, std::string_view key) {
  return std::chrono::milliseconds(whole(v, source, key));
}

simdjson::dom::object object(element v, std::string_view source, std::string_view key) {
  simdjson::dom::object o;
  if (v.get_object().get(o) != simdjson::SUCCESS) fail(source, key, "must be an object");
  return o;
}

bool is_comment(std::string_view key) { return !key.empty() && key[0] == '_'; }

// One nested group ("timeouts", "retry", "failure_budget"): `set` returns false for an unknown key.
template <class SetKey>
void apply_group(element group, std::string_view source, std::string_view name, SetKey set) {
  for (auto [k, v] : object(group, source, name)) {
    if (is_comment(k)) continue;
    if (!set(k, v)) fail(source, fmt::format("{}.{}", name, k), "is not a known setting");
  }
}

void apply_timeouts(Config& c, element group, std::string_view source) {
  apply_group(group, source, "timeouts", [&](std::string_view k, element v) {
    if (k == "connect_s") c.connect_timeout = seconds(v, source, k);
    else if (k == "tls_handshake_s") c.tls_timeout = seconds(v, source, k);
    else if (k == "request_s") c.request_timeout = seconds(v, source, k);
    else return false;
    return true;
  });
}

void apply_retry(Config& c, element group, std::string_view source) {
  apply_group(group, source, "retry", [&](std::string_view k, element v) {
    if (k == "max_attempts") c.retry.max_attempts = whole(v, source, k);
    else if (k == "base_delay_ms") c.retry.base_delay = millis(v, source, k);
    else if (k == "max_delay_ms") c.retry.max_delay = millis(v, source, k);
    else return false;
    return true;
  });
}

void apply_failure_budget(Config& c, element group, std::string_view source) {
  apply_group(group, source, "failure_budget", [&](std::string_view k, element v) {
    if (k == "window_s") c.failure_budget.window = std::chrono::seconds(whole(v, source, k));
    else if (k == "max_failures") c.failure_budget.max_failures = whole(v, source, k);
    else return false;
    return true;
  });
}

/// A top-level key; false if it is not a known setting.
bool apply_key(Config& c, std::string_view key, element value, std::string_view source) {
  if (key == "base_url") c.base_url = string(value, source, key);
  else if (key == "concurrency") c.concurrency = whole(value, source, key);
  else if (key == "requests_per_minute") c.requests_per_minute = non_negative(value, source, key);
  else if (key == "burst") c.burst = whole(value, source, key);
  else if (key == "max_response_mb") c.max_response_bytes = static_cast<uint64_t>(non_negative(value, source, key) * 1048576.0);
  else if (key == "max_outage_s") c.max_outage = seconds(value, source, key);
  else if (key == "check_api_at_start") c.check_api_at_start = boolean(value, source, key);
  else if (key == "fetch_catalog") c.fetch_catalog = boolean(value, source, key);
  else if (key == "catalog_file") c.catalog_file = string(value, source, key);
  else if (key == "max_spend_usd") c.max_spend_usd = non_negative(value, source, key);
  else if (key == "min_balance_usd") c.min_balance_usd = non_negative(value, source, key);
  else if (key == "lookahead_jobs") c.lookahead_jobs = whole(value, source, key);
  else if (key == "compressed_responses") c.compressed_responses = boolean(value, source, key);
  else if (key == "sidecars") c.sidecars = sidecar_kinds(value, source, key);
  else if (key == "layout") c.layout.kind = layout_kind(value, source, key);
  else if (key == "shard_size") c.layout.shard_samples = positive_whole(value, source, key);
  else if (key == "shard_max_mb") c.layout.shard_bytes = static_cast<uint64_t>(std::min(non_negative(value, source, key), 2e9) * 1048576.0);
  else if (key == "embed_metadata") c.embed_metadata = boolean(value, source, key);
  else if (key == "regenerate_flagged") c.regenerate_flagged = whole(value, source, key);
  else if (key == "flagged_images") c.keep_flagged_images = flagged_images(value, source, key);
  else if (key == "grace_period_s") c.grace_period = seconds(value, source, key);
  else if (key == "durable_writes") c.durable_writes = boolean(value, source, key);
  else if (key == "allow_unknown_fields") c.allow_unknown_fields = boolean(value, source, key);
  else if (key == "progress_interval_s") c.progress_interval = seconds(value, source, key);
  else if (key == "metrics_interval_s") c.metrics_interval = seconds(value, source, key);
  else if (key == "ca_file") c.ca_file = string(value, source, key);
  // Replaced whole, never merged: an out dir's finished jobs are known by the requests they sent,
  // and a config that meant "these fields and no others" must keep meaning it.
  else if (key == "defaults") c.defaults_json = simdjson::minify(object(value, source, key));
  else if (key == "timeouts") apply_timeouts(c, value, source);
  else if (key == "retry") apply_retry(c, value, source);
  else if (key == "failure_budget") apply_failure_budget(c, value, source);
  else return false;
  return true;
}

}  // namespace

void apply_config_json(Config& c, std::string_view json, std::string_view source) {
  simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(json.data(), json.size(), true).get(root))
    throw ConfigError(fmt::format("{}: not valid JSON ({})", source, simdjson::error_message(err)));
  simdjson::dom::object top;
  if (root.get_object().get(top) != simdjson::SUCCESS) throw ConfigError(fmt::format("{}: must be a JSON object", source));
  for (auto [key, value] : top) {
    if (is_comment(key)) continue;
    if (!apply_key(c, key, value, source)) fail(source, key, "is not a known setting");
  }
}

namespace {
const char* env(const char* name) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : nullptr;
}
// A plain decimal: strtod alone also reads " 8", "0x10", "inf" and "nan" (VENICE_RPM=inf wrote
// metrics.json with a value missing, nan turned pacing off).
double env_number(const char* name, const char* v) {
  const std::string_view text(v);
  char* end = nullptr;
  const double d = std::strtod(v, &end);
  if (text.find_first_not_of("0123456789.eE+-") != std::string_view::npos || (text[0] < '0' || text[0] > '9') ||
      *end != '\0' || !std::isfinite(d))
    throw ConfigError(fmt::format("{}: '{}' is not a non-negative number", name, v));
  return d;
}
unsigned env_concurrency(const char* v) {
  unsigned n = 0;
  const char* end = v + std::strlen(v);
  const auto [at, ec] = std::from_chars(v, end, n);
  if (ec != std::errc() || at != end || n < 1 || n > 4096)
    throw ConfigError(fmt::format("VENICE_CONCURRENCY: '{}' is not a whole number from 1 to 4096", v));
  return n;
}
}  // namespace

void apply_config_env(Config& c) {
  if (auto v = env("VENICE_BASE_URL")) c.base_url = v;
  if (auto v = env("VENICE_CONCURRENCY")) c.concurrency = env_concurrency(v);
  if (auto v = env("VENICE_RPM")) c.requests_per_minute = env_number("VENICE_RPM", v);
  if (auto v = env("VENICE_CA_FILE")) c.ca_file = v;
  if (auto v = env("VENICE_TIMEOUT")) {
    const double seconds = env_number("VENICE_TIMEOUT", v);
    if (seconds > 1e9) throw ConfigError(fmt::format("VENICE_TIMEOUT: '{}' seconds is more than a request can take", v));
    c.request_timeout = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  }
}

namespace {
// The defaults checked as the request fields they fill, with a placeholder prompt and model where
// they leave those out: an unknown key or a width of 99999 there is the config's mistake (exit 2
// at start), not every line's (each recorded invalid, exit 1).
void check_defaults(const Config& c) {
  simdjson::dom::parser parser;
  simdjson::dom::object given;
  if (parser.parse(c.defaults_json).get_object().get(given) != simdjson::SUCCESS)
    throw ConfigError("defaults must be a JSON object");
  std::string request = c.defaults_json;
  for (const auto& [key, placeholder] : {std::pair{"prompt", R"("prompt":"p")"}, std::pair{"model", R"("model":"m")"}}) {
    if (given.at_key(key).error() != simdjson::NO_SUCH_FIELD) continue;
    request.insert(1, request.size() > 2 ? std::string(placeholder) + "," : std::string(placeholder));
  }
  simdjson::dom::parser request_parser;
  simdjson::dom::object fields;
  if (request_parser.parse(request).get_object().get(fields) != simdjson::SUCCESS)
    throw ConfigError("defaults must be a JSON object");
  SchemaOptions options;
  options.allow_unknown_fields = c.allow_unknown_fields;
  std::vector<std::string> problems;
  for (const auto& issue : validate_request(fields, options))
    problems.push_back(issue.path.empty() ? issue.message : fmt::format("{}: {}", issue.path, issue.message));
  if (!problems.empty())
    throw ConfigError(fmt::format("defaults: {} (they fill what each manifest line leaves out)", fmt::join(problems, "; ")));
}
}  // namespace

void validate_config(const Config& c) {
  check_defaults(c);
  if (auto endpoint = parse_base_url(c.base_url); !endpoint) throw ConfigError(endpoint.error());
  if (c.concurrency < 1 || c.concurrency > 4096) throw ConfigError("concurrency must be from 1 to 4096");
  if (!std::isfinite(c.requests_per_minute)) throw ConfigError("requests_per_minute must be a finite number");
  if (c.burst < 1) throw ConfigError("burst must be at least 1");
  if (c.retry.max_attempts < 1) throw ConfigError("retry.max_attempts must be at least 1");
  if (c.request_timeout.count() <= 0 || c.connect_timeout.count() <= 0 || c.tls_timeout.count() <= 0)
    throw ConfigError("timeouts must be positive");
  if (c.max_outage.count() <= 0) throw ConfigError("max_outage_s must be positive: no pause may last forever");
  if (c.lookahead_jobs < 1 || c.lookahead_jobs > 100000) throw ConfigError("lookahead_jobs must be from 1 to 100000");
  if (c.max_response_bytes < 1024) throw ConfigError("max_response_mb is too small");
  if (c.layout.shard_bytes > (std::uint64_t{1} << 50)) throw ConfigError("shard_max_mb is too large");
  if (c.regenerate_flagged > 10) throw ConfigError("regenerate_flagged must be from 0 to 10 (each try is paid)");
}

Config default_config() {
  Config c;
  apply_config_json(c, embedded_default_config(), "built-in config");
  return c;
}

Config load_config(const std::string& path) {
  Config c = default_config();
  if (!path.empty()) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError(fmt::format("cannot read config file '{}'", path));
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    apply_config_json(c, text, path);
  }
  apply_config_env(c);
  return c;
}

// A key holding a control character would inject a header or make every request malformed.
// Says which character and where, never the key itself.
void check_api_key(const std::string& key) {
  if (key.empty()) throw ConfigError("no API key: set VENICE_API_KEY (it is never printed or written anywhere)");
  for (std::size_t i = 0; i < key.size(); ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c >= 0x20 && c != 0x7f && c != ' ') continue;
    const std::string what = c == '\n' ? "a line feed (\\n)" : c == '\r' ? "a carriage return (\\r)"
                             : c == ' '  ? "a space" : c == '\t' ? "a tab" : fmt::format("the control byte 0x{:02x}", c);
    throw ConfigError(fmt::format("VENICE_API_KEY holds {} at position {} of {}; remove it (the key is never printed)",
                                  what, i + 1, key.size()));
  }
}

}  // namespace venice_batch
