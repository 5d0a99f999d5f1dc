#include <gtest/gtest.h>

#include <cstdlib>

#include "venice_batch/config.hpp"

using namespace venice_batch;

TEST(ConfigTest, EmbeddedDefaultLoadsAndIsValid) {
  Config c;
  apply_config_json(c, embedded_default_config(), "built-in");
  EXPECT_EQ(c.base_url, "https://api.venice.ai/api/v1");
  EXPECT_GE(c.concurrency, 1u);
  EXPECT_GE(c.request_timeout.count(), 120000) << "generation takes tens of seconds";
  EXPECT_NE(c.defaults_json.find("\"format\""), std::string::npos);
  EXPECT_NO_THROW(validate_config(c));
}

TEST(ConfigTest, FileOverridesOnlyWhatItNames) {
  Config c;
  apply_config_json(c, embedded_default_config(), "built-in");
  const auto timeout = c.request_timeout;
  apply_config_json(c, R"({"concurrency": 16, "retry": {"max_attempts": 2}})", "my.json");
  EXPECT_EQ(c.concurrency, 16u);
  EXPECT_EQ(c.retry.max_attempts, 2u);
  EXPECT_EQ(c.request_timeout, timeout);
}

TEST(ConfigTest, UnknownKeyIsAnErrorNamingTheSource) {
  Config c;
  try {
    apply_config_json(c, R"({"concurency": 16})", "my.json");
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("my.json"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("concurency"), std::string::npos);
  }
}

TEST(ConfigTest, WrongTypeIsAnError) {
  Config c;
  EXPECT_THROW(apply_config_json(c, R"({"concurrency": "many"})", "x"), ConfigError);
  EXPECT_THROW(apply_config_json(c, R"({"timeouts": {"request_s": -1}})", "x"), ConfigError);
  EXPECT_THROW(apply_config_json(c, R"([1,2])", "x"), ConfigError);
}

TEST(ConfigTest, PlainHttpBaseUrlIsRefused) {
  Config c;
  c.base_url = "http://api.venice.ai/api/v1";
  EXPECT_THROW(validate_config(c), ConfigError);
}

TEST(ConfigTest, EnvironmentOverridesFile) {
  Config c;
  apply_config_json(c, R"({"concurrency": 3})", "file");
  ::setenv("VENICE_CONCURRENCY", "9", 1);
  apply_config_env(c);
  ::unsetenv("VENICE_CONCURRENCY");
  EXPECT_EQ(c.concurrency, 9u);
}
