// End to end: the real venice-batch executable against the real emulator over
// TLS on loopback (the emulator runs in this process so its counters can be read).
#include <gtest/gtest.h>

#include <cctype>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <simdjson.h>

#include "test_support.hpp"
#include "venice_batch/image_format.hpp"
#include "venice_batch/mock_server.hpp"

using namespace venice_batch;
using test_support::TempDir;

namespace {

constexpr const char* kKey = "test-key-5f2e9c";

struct Emulator {
  explicit Emulator(MockOptions o = {}) : server([&] {
      if (o.api_key == "mock-key") o.api_key = kKey;
      o.cert_dir = dir.path();
      return o;
    }()) {
    server.start();
  }
  std::string base_url() const { return "https://127.0.0.1:" + std::to_string(server.port()) + "/api/v1"; }
  TempDir dir;
  MockServer server;
};

test_support::ProcessResult run_client(const Emulator& mock, const std::filesystem::path& manifest,
                                       const std::filesystem::path& out, std::vector<std::string> extra = {},
                                       std::string key = kKey) {
  std::vector<std::string> argv = {VENICE_BATCH_EXE, "run", "--manifest", manifest.string(), "--out", out.string(),
                                   "--base-url", mock.base_url(), "--ca-file", mock.server.ca_file().string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return test_support::run_process(argv, {{"VENICE_API_KEY", key}});
}

std::vector<std::uint8_t> read_bytes(const std::filesystem::path& p) {
  auto s = test_support::read_file(p);
  return {s.begin(), s.end()};
}

}  // namespace

TEST(EndToEndTest, ManifestOf200JobsProducesEveryImageAndOneResultLineEach) {
  Emulator mock;
  TempDir work;
  const char* formats[] = {"webp", "png", "jpeg"};
  const int sizes[][2] = {{256, 256}, {320, 192}, {128, 384}};
  std::string manifest;
  for (int i = 0; i < 200; ++i) {
    const int variants = 1 + i % 4;
    const auto* f = formats[i % 3];
    const auto* sz = sizes[(i / 3) % 3];
    manifest += "{\"id\":\"job-" + std::to_string(i) + "\",\"prompt\":\"prompt number " + std::to_string(i) +
                " ✓\",\"format\":\"" + f + "\",\"variants\":" + std::to_string(variants) +
                ",\"width\":" + std::to_string(sz[0]) + ",\"height\":" + std::to_string(sz[1]) + "}\n";
  }
  test_support::write_file(work / "m.jsonl", manifest);
  auto r = run_client(mock, work / "m.jsonl", work / "out", {"--concurrency", "16"});
  ASSERT_EQ(r.exit_status, 0) << r.err;

  auto lines = test_support::read_lines(work / "out/results.jsonl");
  ASSERT_EQ(lines.size(), 200u);
  simdjson::dom::parser parser;
  std::set<std::string> ids, files_seen;
  for (const auto& line : lines) {
    simdjson::dom::element doc = parser.parse(line);
    std::string id{std::string_view(doc["id"])};
    EXPECT_TRUE(ids.insert(id).second) << "duplicate " << id;
    EXPECT_EQ(std::string_view(doc["status"]), "ok") << line;
    const int i = std::stoi(id.substr(4));
    simdjson::dom::array files = doc["files"];
    EXPECT_EQ(files.size(), static_cast<std::size_t>(1 + i % 4)) << line;
    for (auto f : files) {
      std::string rel{std::string_view(f["path"])};
      files_seen.insert(rel);
      auto bytes = read_bytes(work.path() / "out" / rel);
      EXPECT_EQ(bytes.size(), uint64_t(f["bytes"]));
      auto fmt = sniff_image_format(bytes);
      ASSERT_TRUE(fmt) << rel;
      EXPECT_EQ(to_string(*fmt), formats[i % 3]) << rel;
      auto size = probe_image_size(bytes);
      ASSERT_TRUE(size) << rel;
      EXPECT_EQ(static_cast<int>(size->width), sizes[(i / 3) % 3][0]) << rel;
      EXPECT_EQ(static_cast<int>(size->height), sizes[(i / 3) % 3][1]) << rel;
    }
    EXPECT_GT(double(doc["timing"]["total_ms"]), 0.0);
    EXPECT_TRUE(doc["server_timing"].is_object());
  }
  // Nothing else: only the documented outputs, no temp files.
  std::set<std::string> top;
  for (auto& e : std::filesystem::directory_iterator(work.path() / "out")) top.insert(e.path().filename().string());
  EXPECT_EQ(top, (std::set<std::string>{".venice-batch.lock", "catalog.json", "daily_usage.json", "images", "layout.json",
                                        "results.jsonl", "metrics.json", "metrics.prom", "timeline.jsonl"}));
  std::size_t image_files = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(work.path() / "out/images")) {  // fan-out folders
    if (e.is_directory()) continue;
    ++image_files;
    EXPECT_TRUE(files_seen.count(std::filesystem::relative(e.path(), work.path() / "out").string())) << e.path();
  }
  EXPECT_EQ(image_files, files_seen.size());
  // Keep-alive: far fewer connections than requests.
  EXPECT_LE(mock.server.stats().connections, 32u);
  EXPECT_EQ(mock.server.stats().requests, 200u);
}

TEST(EndToEndTest, CertificateForAnotherHostIsRefused) {
  MockOptions o;
  o.cert_hosts = {"other.example"};
  Emulator mock(o);
  TempDir work;
  test_support::write_file(work / "m.jsonl", "{\"prompt\":\"a\"}\n{\"prompt\":\"b\"}\n");
  auto r = run_client(mock, work / "m.jsonl", work / "out");
  EXPECT_EQ(r.exit_status, 2) << "refused by the start-up check, before any job: " << r.err;
  EXPECT_NE(r.err.find("certificate"), std::string::npos) << r.err;
  // Which check failed, not only "certificate verify failed" (a hostile test's note).
  EXPECT_NE(r.err.find("address mismatch"), std::string::npos) << r.err;
  EXPECT_EQ(mock.server.stats().requests, 0u);
  EXPECT_TRUE(std::filesystem::is_empty(work.path() / "out/images"));
}

TEST(EndToEndTest, WrongKeyStopsTheRunAtStartAndNeverLeaksTheKey) {
  Emulator mock;
  TempDir work;
  std::string manifest;
  for (int i = 0; i < 30; ++i) manifest += "{\"prompt\":\"p" + std::to_string(i) + "\"}\n";
  test_support::write_file(work / "m.jsonl", manifest);
  const std::string wrong = "wrong-key-SECRET-81723";
  auto r = run_client(mock, work / "m.jsonl", work / "out", {"--concurrency", "2"}, wrong);
  EXPECT_EQ(r.exit_status, 3) << r.err;
  EXPECT_NE(r.err.find("401"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("key"), std::string::npos) << "the message does not say the key was refused:\n" << r.err;
  // Found by the one check at start: no generate request was spent, no job recorded.
  EXPECT_GE(mock.server.stats().key_checks, 1u);
  EXPECT_EQ(mock.server.stats().requests, 0u);
  EXPECT_TRUE(test_support::read_lines(work / "out/results.jsonl").empty())
      << test_support::read_file(work / "out/results.jsonl");
  EXPECT_EQ(r.out.find(wrong), std::string::npos);
  EXPECT_EQ(r.err.find(wrong), std::string::npos);
  if (std::filesystem::exists(work.path() / "out")) {
    for (auto& e : std::filesystem::recursive_directory_iterator(work.path() / "out")) {
      if (e.is_regular_file()) {
        EXPECT_EQ(test_support::read_file(e.path()).find(wrong), std::string::npos) << e.path();
      }
    }
  }
}

TEST(EndToEndTest, InvalidLinesAreRecordedAndNothingIsSentForThem) {
  Emulator mock;
  TempDir work;
  test_support::write_file(work / "m.jsonl",
                           "{\"id\":\"good\",\"prompt\":\"fine\"}\n"
                           "not json\n"
                           "\n"
                           "{\"id\":\"../escape\",\"prompt\":\"x\"}\n"
                           "{\"id\":\"wide\",\"prompt\":\"x\",\"width\":5000}\n");
  auto r = run_client(mock, work / "m.jsonl", work / "out");
  EXPECT_EQ(r.exit_status, 1) << r.err;
  auto lines = test_support::read_lines(work / "out/results.jsonl");
  EXPECT_EQ(lines.size(), 4u);
  EXPECT_EQ(mock.server.stats().requests, 1u);
  auto all = test_support::read_file(work / "out/results.jsonl");
  EXPECT_NE(all.find("\"line\":2"), std::string::npos);
  EXPECT_NE(all.find("\"status\":\"invalid\""), std::string::npos);
}

TEST(EndToEndTest, UsageErrorsExitWith2AndSendNothing) {
  Emulator mock;
  TempDir work;
  test_support::write_file(work / "m.jsonl", "{\"prompt\":\"a\"}\n");
  auto no_key = test_support::run_process({VENICE_BATCH_EXE, "run", "--manifest", (work / "m.jsonl").string(), "--out",
                                           (work / "out").string(), "--base-url", mock.base_url()},
                                          {{"VENICE_API_KEY", "\x01unset"}});
  EXPECT_EQ(no_key.exit_status, 2) << no_key.err;
  EXPECT_NE(no_key.err.find("VENICE_API_KEY"), std::string::npos);
  auto no_manifest = run_client(mock, work / "missing.jsonl", work / "out");
  EXPECT_EQ(no_manifest.exit_status, 2);
  test_support::write_file(work / "file", "x");
  auto bad_out = run_client(mock, work / "m.jsonl", work / "file/out");
  EXPECT_EQ(bad_out.exit_status, 2) << bad_out.err;
  EXPECT_EQ(mock.server.stats().requests, 0u);
}

TEST(EndToEndTest, RerunSkipsJobsAlreadyDone) {
  Emulator mock;
  TempDir work;
  test_support::write_file(work / "m.jsonl", "{\"id\":\"a\",\"prompt\":\"a\"}\n{\"id\":\"b\",\"prompt\":\"b\"}\n");
  ASSERT_EQ(run_client(mock, work / "m.jsonl", work / "out").exit_status, 0);
  EXPECT_EQ(mock.server.stats().requests, 2u);
  auto again = run_client(mock, work / "m.jsonl", work / "out");
  EXPECT_EQ(again.exit_status, 0) << again.err;
  EXPECT_EQ(mock.server.stats().requests, 2u) << "a job recorded ok was requested again";
  // A changed line is done again.
  test_support::write_file(work / "m.jsonl", "{\"id\":\"a\",\"prompt\":\"a changed\"}\n{\"id\":\"b\",\"prompt\":\"b\"}\n");
  auto changed = run_client(mock, work / "m.jsonl", work / "out");
  EXPECT_EQ(changed.exit_status, 0) << changed.err;
  EXPECT_EQ(mock.server.stats().requests, 3u);
  EXPECT_NE(changed.err.find("changed"), std::string::npos) << changed.err;
}

namespace {

// The long options an --help text lists (CLI11's option column: "  -q,--quiet  ...").
std::set<std::string> options_in_help(const std::string& help) {
  std::set<std::string> found;
  std::istringstream lines(help);
  for (std::string line; std::getline(lines, line);) {
    const auto first = line.find_first_not_of(' ');
    if (first == std::string::npos || first == 0 || line[first] != '-') continue;
    static const std::regex long_option(R"(^--[a-z][a-z0-9-]*)");
    std::istringstream names(line.substr(first));
    std::string token;
    names >> token;  // "-q,--quiet" or "--manifest"
    for (std::size_t at = 0; (at = token.find("--", at)) != std::string::npos;) {
      std::smatch m;
      const std::string rest = token.substr(at);
      if (std::regex_search(rest, m, long_option)) found.insert(m.str());
      at += 2;
    }
  }
  return found;
}

// `option` appears in `text` as a whole option name ("--out" is not found in "--output").
bool mentions_option(const std::string& text, const std::string& option) {
  for (auto at = text.find(option); at != std::string::npos; at = text.find(option, at + 1)) {
    const auto end = at + option.size();
    if (end == text.size() || !(std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '-')) return true;
  }
  return false;
}

}  // namespace

TEST(EndToEndTest, HelpAndVersionDocumentEveryOption) {
  const auto readme = test_support::read_file(std::filesystem::path(VENICE_SOURCE_DIR) / "README.md");
  ASSERT_FALSE(readme.empty());
  std::map<std::string, std::set<std::string>> by_command;
  for (const char* command : {"run", "bench", "report"}) {
    auto help = test_support::run_process({VENICE_BATCH_EXE, command, "--help"});
    EXPECT_EQ(help.exit_status, 0) << command;
    by_command[command] = options_in_help(help.out);
    for (const auto& option : by_command[command]) {
      if (option == "--help") continue;
      EXPECT_TRUE(mentions_option(readme, option)) << command << " " << option << " is not in README.md";
    }
  }
  // The list read from --help is not vacuous: every option the commands are known to take is in it.
  for (const char* opt : {"--manifest", "--out", "--config", "--base-url", "--concurrency", "--ca-file", "--timeout",
                          "--quiet", "--rpm", "--burst", "--max-attempts", "--grace", "--retry-failed", "--report"})
    EXPECT_TRUE(by_command["run"].count(opt)) << "run --help lacks " << opt;
  for (const char* opt : {"--manifest", "--duration", "--requests", "--concurrency", "--rate", "--warmup",
                          "--discard-images", "--out", "--json", "--config", "--base-url", "--ca-file", "--timeout"})
    EXPECT_TRUE(by_command["bench"].count(opt)) << "bench --help lacks " << opt;
  EXPECT_TRUE(by_command["report"].count("--help"));
  const auto run_help = test_support::run_process({VENICE_BATCH_EXE, "run", "--help"});
  EXPECT_NE(run_help.out.find("Exit status"), std::string::npos) << "run --help lists no exit statuses";
  auto version = test_support::run_process({VENICE_BATCH_EXE, "--version"});
  EXPECT_EQ(version.exit_status, 0);
  EXPECT_NE(version.out.find("venice-batch"), std::string::npos);
}
