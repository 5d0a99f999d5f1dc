// venice-mock: an HTTPS emulator of Venice's image API on loopback, behaving as VENICE_API.md
// describes: POST /api/v1/image/generate (auth, validation against each model's constraints,
// variants of real images, binary mode, error bodies, headers, per-model quotas, the failure
// lock, balance and 402), the catalog (GET /models, /models/traits, /models/compatibility_mapping,
// /image/styles), GET /api_keys/rate_limits, and gzip/br JSON answers when asked; for tests, the
// demo and benchmarks. Runs on its own threads (each connection on its own strand); the object
// owns them and stops them on destruction. Its decisions (quota, lock, balance, faults, coding)
// are MockPolicy's (mock_policy.hpp).
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
  /// The catalog served and enforced: a /models body or a saved catalog.json (see
  /// MockCatalog::from_file). Empty: the built-in one (z-image-turbo, venice-sd35, qwen-image-2,
  /// nano-banana-pro, gpt-image-2, the deprecated flux-dev, the offline hidream, the unpriced
  /// venice-preview).
  std::filesystem::path catalog_file;
  /// More model ids generate accepts, free and checked by the generic schema only; listed by
  /// /api_keys/rate_limits (not by /models).
  std::vector<std::string> extra_models;
  /// A model id neither in the catalog nor in extra_models: true serves it like an extra model,
  /// false answers 404 as the API does (venice-mock's default).
  bool accept_unknown_models = true;
  /// The balance successful generate requests are charged to (catalog price x images), stated
  /// before each request in x-venice-balance-usd; a request it cannot cover gets 402. DIEM is
  /// stated, never spent.
  double balance_usd = 1e6, balance_diem = 0.0;
  MockFaults faults;
};

/// One model's generate requests (keyed by the model id the request named, aliases resolved).
struct MockModelStats {
  std::uint64_t requests = 0;      ///< generate requests naming the model (any answer)
  std::uint64_t rate_limited = 0;  ///< of them answered 429 (quota, daily cap, injected, lock)
  std::uint64_t images = 0;        ///< images served
  Micros spent = 0;                ///< charged to the balance
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
  std::uint64_t catalog_requests = 0;     ///< GET /models*, /image/styles requests
  std::map<std::string, std::uint64_t> by_coding;  ///< JSON answers by Content-Encoding ("identity", "gzip", "br")
  std::map<std::string, MockModelStats> by_model;
  Micros spent = 0;                       ///< charged to the balance in all
  Micros balance = 0;                     ///< the balance now
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
