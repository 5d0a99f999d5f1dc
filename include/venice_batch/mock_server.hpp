// venice-mock: an HTTPS emulator of POST /api/v1/image/generate on loopback,
// behaving as VENICE_API.md describes (auth, validation, variants of real
// images, binary mode, error bodies, headers), for tests, the demo and benchmarks.
// Runs on its own threads; the object owns them and stops them on destruction.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace venice_batch {

/// Faults the emulator injects, to test what the client does with each. A request takes the
/// fault at its position in `schedule` (1-based request count) if there is one, otherwise each
/// probability in turn. Fault names: ok, 429, 500, 503, close (connection closed mid-body),
/// short (body shorter than its Content-Length, clean TLS close), stall (no answer for
/// `stall`), invalid_json, invalid_base64, 401, 402, lock (the failure lock's 429).
struct MockFaults {
  std::vector<std::string> schedule;
  double p_429 = 0, p_500 = 0, p_503 = 0, p_close = 0, p_short = 0, p_stall = 0, p_invalid_json = 0,
         p_invalid_base64 = 0, p_401 = 0, p_402 = 0;
  std::chrono::milliseconds stall{300000};
  std::chrono::milliseconds reset_after_429{1000};  ///< x-ratelimit-reset-requests of an injected 429
  /// Real per-minute limit like the API's: counts requests in fixed 60 s windows, sets the
  /// x-ratelimit-*-requests headers on every answer, answers 429 past the limit. 0: off
  /// (the headers then state a generous limit).
  unsigned requests_per_minute = 0;
  /// The API's failure lock: more than `lock_threshold` non-2xx answers in 30 s and every
  /// request gets 429 "Too many failed attempts" for 30 s.
  bool failure_lock = false;
  unsigned lock_threshold = 20;
  std::chrono::milliseconds lock_duration{30000};
};

/// Parses a fault schedule such as "ok,500,429x3,close" (x N repeats). Throws std::invalid_argument.
std::vector<std::string> parse_fault_schedule(const std::string& text);

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
  unsigned threads = 1;              ///< io threads
  /// An idle keep-alive connection is closed after this long (as servers do).
  std::chrono::milliseconds idle_timeout{60000};
  bool track_prompts = false;        ///< count requests per prompt in MockStats::by_prompt
  MockFaults faults;
};

/// Counters the tests and benchmarks read back (also served as JSON at GET /__mock/stats).
struct MockStats {
  std::uint64_t requests = 0;             ///< generate requests received (any outcome)
  std::map<int, std::uint64_t> by_status; ///< responses by HTTP status
  std::uint64_t images = 0;               ///< images served
  std::uint64_t connections = 0;          ///< TCP connections accepted
  std::map<std::string, std::uint64_t> faults;  ///< injected faults by name
  std::uint64_t locked = 0;               ///< requests refused by the failure lock
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
