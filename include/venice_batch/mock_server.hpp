// venice-mock: an HTTPS emulator of POST /api/v1/image/generate and GET /api/v1/api_keys/rate_limits
// on loopback, behaving as VENICE_API.md describes (auth, validation, variants of real images,
// binary mode, error bodies, headers, quota, failure lock), for tests, the demo and benchmarks.
// Runs on its own threads (each connection on its own strand); the object owns them and stops
// them on destruction. Its decisions (quota, lock, faults) are MockPolicy's (mock_policy.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "venice_batch/mock_policy.hpp"

namespace venice_batch {

struct MockOptions {
  std::string api_key = "mock-key";  ///< the only Bearer token accepted
  std::string bind_address = "127.0.0.1";
  std::uint16_t port = 0;            ///< 0: an ephemeral port
  /// Where a generated cert.pem/key.pem go. Empty: a fresh temporary directory.
  std::filesystem::path cert_dir;
  /// Use this certificate and key instead of generating one (both or neither).
  std::filesystem::path cert_file, key_file;
  /// Names and IPs the generated certificate is valid for.
  std::vector<std::string> cert_hosts = {"localhost", "127.0.0.1"};
  /// Added latency per generate request, uniformly random in [min, max].
  std::chrono::milliseconds latency_min{0}, latency_max{0};
  unsigned threads = 1;              ///< io threads (each connection runs on its own strand)
  /// An idle keep-alive connection is closed after this long (as servers do).
  std::chrono::milliseconds idle_timeout{60000};
  bool track_prompts = false;        ///< count requests per prompt in MockStats::by_prompt
  /// The models GET /api_keys/rate_limits lists (generate accepts any model id).
  std::vector<std::string> models = {"z-image-turbo", "venice-sd35"};
  /// The balances GET /api_keys/rate_limits states.
  double balance_usd = 25.0, balance_diem = 0.0;
  MockFaults faults;
};

/// Counters the tests and benchmarks read back (also served as JSON at GET /__mock/stats).
struct MockStats {
  std::uint64_t requests = 0;             ///< generate requests received (any outcome)
  std::map<int, std::uint64_t> by_status; ///< answers to generate requests by HTTP status
  std::uint64_t images = 0;               ///< images served
  std::uint64_t connections = 0;          ///< TCP connections accepted
  std::map<std::string, std::uint64_t> faults;  ///< injected faults by name (to_string(MockFault): "500", "close", ...)
  std::uint64_t locked = 0;               ///< requests refused by the failure lock
  std::uint64_t key_checks = 0;           ///< GET /api_keys/rate_limits requests (any outcome)
  /// Generate requests per prompt (when track_prompts): shows a job that was requested twice.
  std::map<std::string, std::uint64_t> by_prompt;
};

class MockServer {
 public:
  explicit MockServer(MockOptions options);
  ~MockServer();
  MockServer(const MockServer&) = delete;
  MockServer& operator=(const MockServer&) = delete;

  /// Binds, listens and starts the io threads. Throws on failure (port in use, bad cert).
  void start();
  /// Stops accepting, closes connections, joins the threads. Idempotent.
  void stop();

  std::uint16_t port() const;
  /// The PEM file a client passes as --ca-file.
  std::filesystem::path ca_file() const;
  MockStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace venice_batch
