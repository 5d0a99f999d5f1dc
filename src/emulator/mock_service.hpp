// The emulator's endpoints and the state they share: the policy (quota, lock, faults), the
// counters and the image cache. Safe to call from sessions on any io thread: one mutex guards
// the policy and the counters, the cache has its own. Sessions (mock_server.cpp) do the I/O
// and act out the faults that happen on the wire (close, short, stall).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <tuple>

#include <boost/asio/awaitable.hpp>
#include <simdjson.h>

#include "mock_responses.hpp"
#include "venice_batch/image_format.hpp"
#include "venice_batch/mock_policy.hpp"
#include "venice_batch/mock_server.hpp"

namespace venice_batch::mock {

/// Encoded test images by (format, width, height, pattern), shared by every session.
class ImageCache {
 public:
  struct Image {
    std::vector<std::uint8_t> bytes;
    std::string base64;
  };
  /// The image, encoded on first use (outside the lock: two sessions may both encode it).
  std::shared_ptr<const Image> get(ImageFormat format, std::uint32_t width, std::uint32_t height, int pattern);

 private:
  std::mutex mutex_;
  std::map<std::tuple<int, std::uint32_t, std::uint32_t, int>, std::shared_ptr<const Image>> images_;
};

/// The answer to a generate request, and the fault the session must act out on the wire.
struct GenerateAnswer {
  Response response;
  MockFault fault = MockFault::ok;
};

class MockService {
 public:
  explicit MockService(const MockOptions& options);

  /// POST /api/v1/image/generate. `parser` is the session's own; the added latency is waited on
  /// a timer of the calling coroutine's executor.
  boost::asio::awaitable<GenerateAnswer> generate(const Request& req, simdjson::dom::parser& parser);
  /// GET /api/v1/api_keys/rate_limits: checks the key like generate; no fault, no quota, no lock.
  Response rate_limits(const Request& req);
  /// GET /__mock/stats.
  Response stats_page(const Request& req) const;

  void on_connection();
  MockStats stats() const;

 private:
  struct Ask;
  /// A JSON answer from generate: quota headers, counted by status, fed to the failure lock.
  Response answer(const Request& req, int status, std::string body, const MockDecision& decision = {});
  Response success(const Request& req, const Ask& ask, std::chrono::milliseconds latency, MockFault fault);
  std::chrono::milliseconds draw_latency();  // call with mutex_ held

  const MockOptions options_;
  ImageCache images_;
  mutable std::mutex mutex_;  // guards everything below
  std::mt19937_64 random_{std::random_device{}()};
  MockPolicy policy_;
  MockStats stats_;
  std::uint64_t ids_ = 0;
};

}  // namespace venice_batch::mock
