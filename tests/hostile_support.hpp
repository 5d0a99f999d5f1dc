// What the hostile tests (test_hostile_server.cpp, test_run_safety.cpp) share: a server we did
// not write (tests/hostile_server.py, Python's http.server over TLS) started as a child process,
// runs of the real venice-batch against it or through /bin/sh (ulimit, pipes), and readers of
// what the server logged and of the journal fields the fault fixture does not read.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "fault_fixture.hpp"

namespace hostile_test {

using fault_test::kKey;

/// `argv` as one /bin/sh command line, each word single-quoted.
inline std::string shell_words(const std::vector<std::string>& argv) {
  std::string cmd;
  for (const auto& a : argv) {
    std::string quoted = "'";
    for (char c : a) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    cmd += (cmd.empty() ? "" : " ") + quoted + "'";
  }
  return cmd;
}

/// Lowercase hex of the bytes of `s`: how the hostile server names a prompt in its answer's id.
inline std::string hex(std::string_view s) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

/// The text of a PNG's first tEXt chunk ("keyword\0text"), or nullopt.
inline std::optional<std::string> png_text(const std::string& png) {
  for (std::size_t pos = 8; pos + 12 <= png.size();) {
    const auto* p = reinterpret_cast<const unsigned char*>(png.data() + pos);
    const std::size_t len = (std::size_t{p[0]} << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
    if (pos + 12 + len > png.size()) return std::nullopt;
    if (png.compare(pos + 4, 4, "tEXt") == 0) return png.substr(pos + 8, len);
    pos += 12 + len;
  }
  return std::nullopt;
}

/// The journal fields a user checks to tell whose answer a job kept (nullopt: the line does not parse).
struct Kept {
  std::string server_id, cf_ray;
};
inline std::optional<Kept> kept_fields(simdjson::dom::parser& p, const std::string& line) {
  simdjson::dom::object d;
  if (p.parse(line).get(d) != simdjson::SUCCESS) return std::nullopt;
  Kept k;
  std::string_view s;
  if (d["server_id"].get(s) == simdjson::SUCCESS) k.server_id = s;
  if (d["cf_ray"].get(s) == simdjson::SUCCESS) k.cf_ray = s;
  return k;
}

/// tests/hostile_server.py in one --mode, on a loopback port, with the certificate of an
/// in-process emulator (which serves nothing here): runs of venice-batch go to the Python server.
class HostileServer {
 public:
  explicit HostileServer(const std::string& mode, std::vector<std::string> extra = {})
      : fx(venice_batch::MockFaults{}) {
    std::vector<std::string> argv = {"/usr/bin/python3",
                                     std::string(VENICE_SOURCE_DIR) + "/tests/hostile_server.py",
                                     "--cert",
                                     fx.ca_file().string(),
                                     "--key",
                                     (fx.dir.path() / "cert/key.pem").string(),
                                     "--mode",
                                     mode,
                                     "--log",
                                     log_file().string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process_ = std::make_unique<test_support::ChildProcess>(argv);
    const std::string line = process_->read_stdout_line();
    if (line.rfind("listening ", 0) == 0) port_ = static_cast<std::uint16_t>(std::stoi(line.substr(10)));
    EXPECT_NE(port_, 0) << "hostile_server.py did not start: '" << line << "'";
  }

  std::string base_url() const { return "https://127.0.0.1:" + std::to_string(port_) + "/api/v1"; }
  std::filesystem::path log_file() const { return fx.dir.path() / "hostile.jsonl"; }

  /// venice-batch run against the Python server (the fixture's config: fast retries).
  std::vector<std::string> args(const std::filesystem::path& manifest, std::vector<std::string> extra = {}) const {
    auto a = fx.args(manifest, std::move(extra));
    for (std::size_t i = 0; i + 1 < a.size(); ++i)
      if (a[i] == "--base-url") a[i + 1] = base_url();
    return a;
  }
  test_support::ProcessResult run(const std::filesystem::path& manifest, std::vector<std::string> extra = {}) const {
    return test_support::run_process(args(manifest, std::move(extra)), {{"VENICE_API_KEY", kKey}});
  }

  /// One generate request as the server logged it (before answering).
  struct Request {
    std::string prompt;
    std::int64_t status = 0;
  };
  std::vector<Request> requests() const {
    std::vector<Request> out;
    simdjson::dom::parser p;
    for (const auto& text : test_support::read_lines(log_file())) {
      simdjson::dom::object d;
      Request r;
      std::string_view s;
      if (p.parse(text).get(d) != simdjson::SUCCESS || d["prompt"].get(s) != simdjson::SUCCESS ||
          d["status"].get(r.status) != simdjson::SUCCESS) {
        ADD_FAILURE() << "bad server log line: " << text;
        continue;
      }
      r.prompt = s;
      out.push_back(std::move(r));
    }
    return out;
  }
  /// How many requests for `prompt` the server answered with `status`.
  std::map<std::string, int> answered(std::int64_t status) const {
    std::map<std::string, int> by_prompt;
    for (const auto& r : requests())
      if (r.status == status) ++by_prompt[r.prompt];
    return by_prompt;
  }

  fault_test::Fixture fx;  ///< the certificate, the temp dir, the manifest, the out dir, the config

 private:
  std::unique_ptr<test_support::ChildProcess> process_;
  std::uint16_t port_ = 0;
};

}  // namespace hostile_test
