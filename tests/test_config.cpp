// The run's configuration: config/default.json is the one source of defaults (embedded at build
// time), every key is documented in its `_doc`, loading is strict, and the environment and a
// file override the built-in values in that order.
#include <gtest/gtest.h>
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>

#include <simdjson.h>

#include "test_support.hpp"
#include "venice_batch/config.hpp"

using namespace venice_batch;
using std::chrono::milliseconds;

namespace {

constexpr const char* kEnvVars[] = {"VENICE_BASE_URL", "VENICE_CONCURRENCY", "VENICE_RPM", "VENICE_CA_FILE", "VENICE_TIMEOUT"};

// Unsets the VENICE_* variables load_config reads for the test's duration, then restores them.
class ClearedEnvironment {
 public:
  ClearedEnvironment() {
    for (const char* name : kEnvVars) {
      if (const char* v = std::getenv(name)) saved_[name] = v;
      ::unsetenv(name);
    }
  }
  ~ClearedEnvironment() {
    for (const char* name : kEnvVars) ::unsetenv(name);
    for (const auto& [name, value] : saved_) ::setenv(name.c_str(), value.c_str(), 1);
  }

 private:
  std::map<std::string, std::string> saved_;
};

const std::string kDefaultJsonPath = std::string(VENICE_SOURCE_DIR) + "/config/default.json";

milliseconds seconds_in_ms(simdjson::dom::element v) { return milliseconds(std::llround(double(v) * 1000)); }

std::set<std::string> keys_of(simdjson::dom::object o) {
  std::set<std::string> keys;
  for (auto [k, v] : o)
    if (!k.starts_with("_")) keys.emplace(k);
  return keys;
}

std::string config_error(std::string_view json) {
  Config c;
  try {
    apply_config_json(c, json, "my.json");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

// ---- the one source of defaults ---------------------------------------------------------------

TEST(ConfigTest, LoadWithoutAFileYieldsExactlyTheValuesOfDefaultJsonOnDisk) {
  ClearedEnvironment env;
  const Config c = load_config("");
  simdjson::dom::parser parser;
  simdjson::dom::object file;
  ASSERT_EQ(parser.load(kDefaultJsonPath).get_object().get(file), simdjson::SUCCESS) << kDefaultJsonPath;
  std::set<std::string> compared;
  auto at = [&](const char* key) {
    compared.emplace(key);
    return file[key];
  };
  EXPECT_EQ(c.base_url, std::string_view(at("base_url")));
  EXPECT_EQ(c.concurrency, std::uint64_t(at("concurrency")));
  EXPECT_EQ(c.requests_per_minute, double(at("requests_per_minute")));
  EXPECT_EQ(c.burst, std::uint64_t(at("burst")));
  EXPECT_EQ(c.connect_timeout, seconds_in_ms(at("timeouts")["connect_s"]));
  EXPECT_EQ(c.tls_timeout, seconds_in_ms(file["timeouts"]["tls_handshake_s"]));
  EXPECT_EQ(c.request_timeout, seconds_in_ms(file["timeouts"]["request_s"]));
  EXPECT_EQ(c.max_response_bytes, std::uint64_t(at("max_response_mb")) << 20);
  EXPECT_EQ(c.retry.max_attempts, std::uint64_t(at("retry")["max_attempts"]));
  EXPECT_EQ(c.retry.base_delay, milliseconds(std::uint64_t(file["retry"]["base_delay_ms"])));
  EXPECT_EQ(c.retry.max_delay, milliseconds(std::uint64_t(file["retry"]["max_delay_ms"])));
  EXPECT_EQ(c.failure_budget.window, std::chrono::seconds(std::uint64_t(at("failure_budget")["window_s"])));
  EXPECT_EQ(c.failure_budget.max_failures, std::uint64_t(file["failure_budget"]["max_failures"]));
  EXPECT_EQ(c.max_outage, seconds_in_ms(at("max_outage_s")));
  EXPECT_EQ(c.check_api_at_start, bool(at("check_api_at_start")));
  EXPECT_EQ(c.fetch_catalog, bool(at("fetch_catalog")));
  EXPECT_EQ(c.catalog_file, std::string_view(at("catalog_file")));
  EXPECT_EQ(c.max_spend_usd, double(at("max_spend_usd")));
  EXPECT_EQ(c.min_balance_usd, double(at("min_balance_usd")));
  EXPECT_EQ(c.lookahead_jobs, std::uint64_t(at("lookahead_jobs")));
  EXPECT_EQ(c.compressed_responses, bool(at("compressed_responses")));
  EXPECT_EQ(c.sidecars, parse_sidecar_kinds(std::string_view(at("sidecars"))).value());
  EXPECT_EQ(layout_kind_name(c.layout.kind), std::string_view(at("layout")));
  EXPECT_EQ(c.layout.shard_samples, std::uint64_t(at("shard_size")));
  EXPECT_EQ(c.layout.shard_bytes, std::uint64_t(at("shard_max_mb")) << 20);
  EXPECT_EQ(c.embed_metadata, bool(at("embed_metadata")));
  EXPECT_EQ(c.regenerate_flagged, std::uint64_t(at("regenerate_flagged")));
  EXPECT_EQ(c.keep_flagged_images, std::string_view(at("flagged_images")) == "keep");
  EXPECT_EQ(c.grace_period, seconds_in_ms(at("grace_period_s")));
  EXPECT_EQ(c.durable_writes, bool(at("durable_writes")));
  EXPECT_EQ(c.allow_unknown_fields, bool(at("allow_unknown_fields")));
  EXPECT_EQ(c.progress_interval, seconds_in_ms(at("progress_interval_s")));
  EXPECT_EQ(c.metrics_interval, seconds_in_ms(at("metrics_interval_s")));
  EXPECT_EQ(c.ca_file, std::string_view(at("ca_file")));
  EXPECT_EQ(c.defaults_json, simdjson::minify(at("defaults")));
  EXPECT_EQ(compared, keys_of(file)) << "a key of default.json that this test does not compare";

  const Config d = default_config();
  EXPECT_EQ(d.base_url, c.base_url);
  EXPECT_EQ(d.max_outage, c.max_outage);
  EXPECT_EQ(d.defaults_json, c.defaults_json);
  EXPECT_NO_THROW(validate_config(d));
}

TEST(ConfigTest, EveryKeyOfDefaultJsonIsDocumentedAndEveryDocNamesAKey) {
  simdjson::dom::parser parser;
  simdjson::dom::object file, doc;
  ASSERT_EQ(parser.load(kDefaultJsonPath).get_object().get(file), simdjson::SUCCESS);
  ASSERT_EQ(file["_doc"].get_object().get(doc), simdjson::SUCCESS) << "default.json has no _doc object";
  const auto keys = keys_of(file);
  const auto documented = keys_of(doc);
  for (const auto& k : keys) EXPECT_TRUE(documented.count(k)) << "'" << k << "' has no _doc entry";
  for (const auto& k : documented) EXPECT_TRUE(keys.count(k)) << "_doc documents '" << k << "', which is not a key";
  // A group's doc names each of its settings.
  for (auto [k, v] : file) {
    simdjson::dom::object group;
    if (k == "defaults" || k.starts_with("_") || v.get_object().get(group)) continue;
    std::string_view text;
    ASSERT_EQ(doc[k].get_string().get(text), simdjson::SUCCESS) << k;
    for (const auto& sub : keys_of(group))
      EXPECT_NE(text.find(sub), std::string_view::npos) << "_doc." << k << " does not mention '" << sub << "'";
  }
}

TEST(ConfigTest, EmbeddedDefaultIsTheFileOnDisk) {
  EXPECT_EQ(std::string(embedded_default_config()), test_support::read_file(kDefaultJsonPath))
      << "the binary embeds a stale config/default.json";
}

TEST(ConfigTest, AValueInitialisedConfigHoldsNoDefaultsOfItsOwn) {
  EXPECT_THROW(validate_config(Config{}), ConfigError) << "defaults come from default_config(), not the struct";
}

// ---- strict loading ---------------------------------------------------------------------------

TEST(ConfigTest, FileOverridesOnlyWhatItNames) {
  Config c = default_config();
  const auto timeout = c.request_timeout;
  const auto base_delay = c.retry.base_delay;
  apply_config_json(c, R"({"concurrency": 16, "retry": {"max_attempts": 2}})", "my.json");
  EXPECT_EQ(c.concurrency, 16u);
  EXPECT_EQ(c.retry.max_attempts, 2u);
  EXPECT_EQ(c.retry.base_delay, base_delay);
  EXPECT_EQ(c.request_timeout, timeout);
}

TEST(ConfigTest, OutageLimitAndStartCheckAreSettings) {
  Config c = default_config();
  apply_config_json(c, R"({"max_outage_s": 90.5, "check_api_at_start": false})", "my.json");
  EXPECT_EQ(c.max_outage, milliseconds(90500));
  EXPECT_FALSE(c.check_api_at_start);
  EXPECT_EQ(config_error(R"({"max_outage_s": "1h"})"), "my.json: 'max_outage_s' must be a number");
  EXPECT_EQ(config_error(R"({"max_outage_s": -1})"), "my.json: 'max_outage_s' must not be negative");
  EXPECT_EQ(config_error(R"({"check_api_at_start": 1})"), "my.json: 'check_api_at_start' must be true or false");
  c.max_outage = milliseconds(0);
  EXPECT_THROW(validate_config(c), ConfigError) << "no pause may last forever";
}

TEST(ConfigTest, UnknownKeyIsAnErrorNamingTheSourceAndTheKey) {
  EXPECT_EQ(config_error(R"({"concurency": 16})"), "my.json: 'concurency' is not a known setting");
  EXPECT_EQ(config_error(R"({"timeouts": {"conect_s": 1}})"), "my.json: 'timeouts.conect_s' is not a known setting");
  EXPECT_EQ(config_error(R"({"_comment": 1, "retry": {"_why": "x"}})"), "no error") << "'_' keys are comments";
}

TEST(ConfigTest, WrongTypeIsAnError) {
  EXPECT_EQ(config_error(R"({"concurrency": "many"})"), "my.json: 'concurrency' must be a whole number");
  EXPECT_EQ(config_error(R"({"timeouts": {"request_s": -1}})"), "my.json: 'request_s' must not be negative");
  EXPECT_EQ(config_error(R"({"defaults": []})"), "my.json: 'defaults' must be an object");
  EXPECT_EQ(config_error("[1,2]"), "my.json: must be a JSON object");
  EXPECT_NE(config_error("{"), "no error");
}

TEST(ConfigTest, BaseUrlMustBeHttpsWithoutQueryOrCredentials) {
  Config c = default_config();
  for (const char* bad : {"http://api.venice.ai/api/v1", "https://api.venice.ai/api/v1?x=1",
                          "https://user:pw@api.venice.ai/api/v1", "not a url"}) {
    c.base_url = bad;
    EXPECT_THROW(validate_config(c), ConfigError) << bad;
  }
  c.base_url = "HTTPS://api.venice.ai/api/v1";
  EXPECT_NO_THROW(validate_config(c)) << "schemes are case-insensitive";
}

// ---- sources: file, environment -----------------------------------------------------------------

TEST(ConfigTest, EnvironmentOverridesFile) {
  ClearedEnvironment env;
  test_support::TempDir dir;
  test_support::write_file(dir / "c.json", R"({"concurrency": 3, "base_url": "https://file.example/v1"})");
  ::setenv("VENICE_CONCURRENCY", "9", 1);
  ::setenv("VENICE_RPM", "30", 1);
  ::setenv("VENICE_TIMEOUT", "200", 1);
  ::setenv("VENICE_CA_FILE", "/tmp/ca.pem", 1);
  ::setenv("VENICE_BASE_URL", "https://env.example/v1", 1);
  const Config c = load_config((dir / "c.json").string());
  EXPECT_EQ(c.concurrency, 9u);
  EXPECT_EQ(c.requests_per_minute, 30.0);
  EXPECT_EQ(c.request_timeout, milliseconds(200000));
  EXPECT_EQ(c.ca_file, "/tmp/ca.pem");
  EXPECT_EQ(c.base_url, "https://env.example/v1");
  EXPECT_EQ(c.max_outage, default_config().max_outage) << "what neither names keeps its default";
}

TEST(ConfigTest, MalformedEnvironmentValueIsAnErrorNamingTheVariable) {
  ClearedEnvironment env;
  ::setenv("VENICE_CONCURRENCY", "four", 1);
  try {
    load_config("");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "VENICE_CONCURRENCY: 'four' is not a whole number from 1 to 4096");
  }
}

// VENICE_RPM=inf was taken (metrics.json and timeline.jsonl were written with a value missing, no
// longer JSON), nan turned pacing off, and " 8" or "0x10" were read as numbers.
TEST(ConfigTest, AnEnvironmentNumberIsAPlainDecimal) {
  for (const char* bad : {"inf", "nan", "1e999", " 8", "0x10", "-1", "+5", "8 ", ".5"}) {
    ClearedEnvironment env;
    ::setenv("VENICE_RPM", bad, 1);
    EXPECT_THROW(load_config(""), ConfigError) << "VENICE_RPM=" << bad;
  }
  for (const char* bad : {"0", "4097", "1e3", "2.5", "99999999999", "-1"}) {
    ClearedEnvironment env;
    ::setenv("VENICE_CONCURRENCY", bad, 1);
    EXPECT_THROW(load_config(""), ConfigError) << "VENICE_CONCURRENCY=" << bad;
  }
  ClearedEnvironment env;
  ::setenv("VENICE_RPM", "7.5", 1);
  ::setenv("VENICE_CONCURRENCY", "64", 1);
  const Config c = load_config("");
  EXPECT_EQ(c.requests_per_minute, 7.5);
  EXPECT_EQ(c.concurrency, 64u);
}

// Found by a hostile test: a bad field in a config's `defaults` (unknown, out of range) made every
// line invalid (exit 1) instead of being refused at start as the config's mistake (exit 2). The
// defaults are replaced whole, not merged: a config that set them for runs already done must go on
// meaning the same requests, or every finished job would be asked (and paid) again.
TEST(ConfigTest, DefaultsReplaceTheBuiltInOnesAndAreCheckedAtStart) {
  ClearedEnvironment env;
  test_support::TempDir dir;
  test_support::write_file(dir / "png.json", R"({"defaults": {"format": "png", "width": 512}})");
  const Config png = load_config((dir / "png.json").string());
  EXPECT_EQ(png.defaults_json, R"({"format":"png","width":512})");
  EXPECT_NO_THROW(validate_config(png));
  for (const char* bad : {R"({"zzz": 1})", R"({"width": 99999})", R"({"variants": 2, "return_binary": true})",
                          R"({"model": 5})"}) {
    test_support::write_file(dir / "bad.json", fmt::format(R"({{"defaults": {}}})", bad));
    const Config c = load_config((dir / "bad.json").string());
    try {
      validate_config(c);
      ADD_FAILURE() << bad << " was not refused";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("defaults: "), std::string::npos) << e.what();
    }
  }
}

TEST(ConfigTest, MissingConfigFileIsAnError) {
  ClearedEnvironment env;
  EXPECT_THROW(load_config("/nonexistent/venice.json"), ConfigError);
}
