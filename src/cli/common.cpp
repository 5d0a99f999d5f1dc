// What the subcommands share: the exit-status footer, the connection options, the parsers of
// durations and rates.
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <stdexcept>

#include "commands.hpp"

namespace venice_batch::cli {

const char* const kExitStatuses =
    "Exit status:\n"
    "  0    every job succeeded (or was already done in an earlier run)\n"
    "  1    some jobs failed, were invalid or hit the content policy (see results.jsonl);\n"
    "       plan: some lines are invalid or the images would not fit on the disk\n"
    "  2    usage or configuration error (no key, unreadable manifest, unwritable out dir, another run\n"
    "       on the same out dir, wrong host, certificate or base path found by the start-up check,\n"
    "       plan without a catalog); nothing sent\n"
    "  3    run stopped early: key refused (401), balance exhausted (402), certificate refused mid-run,\n"
    "       the API unreachable for longer than max_outage_s, the out dir became unwritable\n"
    "       (disk full), or an internal error; run the same command again to resume\n"
    "  4    stopped at a limit the user set (--max-spend, --min-balance, a model's daily request cap):\n"
    "       run again to resume (--max-spend counts each run's spend from 0)\n"
    "  130  interrupted by SIGINT;  143  terminated by SIGTERM (resumable)\n";

namespace {
// The whole text as a finite number, or nothing ("0.02abc", "nan" and "inf" are not).
std::optional<double> finite_number(const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}
}  // namespace

const CLI::Validator kFiniteNumber(
    [](std::string& text) -> std::string { return finite_number(text) ? "" : "must be a finite number: " + text; }, "",
    "FINITE");
const CLI::Validator kPositiveNumber(
    [](std::string& text) -> std::string {
      const auto v = finite_number(text);
      return v && *v > 0 ? "" : "must be a number above 0: " + text;
    },
    "", "POSITIVE");
const CLI::Validator kNonNegativeNumber(
    [](std::string& text) -> std::string {
      const auto v = finite_number(text);
      return v && *v >= 0 ? "" : "must be a number of 0 or more: " + text;
    },
    "", "NONNEGATIVE");

const CLI::Validator kWholeNumber(
    [](std::string& text) -> std::string {
      std::uint64_t v = 0;
      const char* end = text.data() + text.size();
      const auto [at, ec] = std::from_chars(text.data(), end, v);
      if (text.empty() || ec != std::errc() || at != end)
        return "must be a whole number from 0 to 18446744073709551615: " + text;
      text = std::to_string(v);  // CLI11 reads a leading 0 as octal: "010" would be 8
      return {};
    },
    "", "WHOLE");

void ConnectionOptions::add_to(CLI::App* command) {
  command->add_option("--config", config_file, "JSON config overlaid on the built-in config/default.json")
      ->check(CLI::ExistingFile);
  command->add_option("--base-url", base_url, "API root, https (env VENICE_BASE_URL; default: config base_url)");
  command->add_option("--ca-file", ca_file, "Extra trusted CA certificate (PEM), e.g. the emulator's (env VENICE_CA_FILE)")
      ->check(CLI::ExistingFile);
  command->add_option("--timeout", timeout_s, "Whole-request timeout in seconds (env VENICE_TIMEOUT)")
      ->check(kPositiveNumber);
}

Config ConnectionOptions::load(const CLI::App* command) const {
  Config config = load_config(config_file);
  if (command->count("--base-url")) config.base_url = base_url;
  if (command->count("--ca-file")) config.ca_file = ca_file;
  if (command->count("--timeout"))
    config.request_timeout = std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000));
  return config;
}

std::chrono::milliseconds parse_duration(const std::string& text) {
  std::size_t used = 0;
  double v = std::stod(text, &used);
  std::string unit = text.substr(used);
  double ms;
  if (unit.empty() || unit == "s") ms = v * 1000;
  else if (unit == "ms") ms = v;
  else if (unit == "m") ms = v * 60000;
  else if (unit == "h") ms = v * 3600000;
  else throw std::invalid_argument("unknown unit '" + unit + "' (use ms, s, m or h)");
  if (!(ms >= 0)) throw std::invalid_argument("negative duration");
  return std::chrono::milliseconds(static_cast<long long>(ms));
}

double parse_rate(const std::string& text) {
  std::size_t used = 0;
  double v = std::stod(text, &used);
  std::string unit = text.substr(used);
  if (unit.empty() || unit == "/s") return v;
  if (unit == "/m" || unit == "/min") return v / 60.0;
  throw std::invalid_argument("unknown rate unit '" + unit + "' (use /s or /m)");
}

std::string api_key_from_env() {
  const char* key = std::getenv("VENICE_API_KEY");
  return key ? key : "";
}

}  // namespace venice_batch::cli
