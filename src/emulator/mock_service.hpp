// The emulator's endpoints and the state they share: the catalog, the policy (quotas, lock,
// balance, faults), the counters and the image cache. Safe to call from sessions on any io
// thread: one mutex guards the policy and the counters, the cache has its own, the catalog is
// read-only. Sessions (mock_server.cpp) do the I/O, compress JSON answers and act out the faults
// that happen on the wire (close, short, stall, damaged compressed bodies).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <tuple>

#include <boost/asio/awaitable.hpp>
#include <simdjson.h>

#include "mock_catalog.hpp"
#include "mock_request.hpp"
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

/// The answer to a request, and the fault the session must act out on the wire or in the body.
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
  /// GET /api/v1/models (?type=image), /models/traits, /models/compatibility_mapping and
  /// /image/styles (`path` without the query): public as on the API, no key needed.
  /// nullopt for any other path.
  std::optional<Response> catalog(const Request& req, std::string_view path);
  /// GET /__mock/stats.
  Response stats_page(const Request& req) const;

  void on_connection();
  /// A JSON answer went out in `coding`.
  void on_coding(MockCoding coding);
  MockStats stats() const;

 private:
  /// What an answer states about its request: the model (quota headers when not empty) and
  /// the policy's verdict, when it got that far.
  struct Judged {
    Judged(std::string_view m, std::optional<MockDecision> d = std::nullopt) : model(m), decision(std::move(d)) {}
    std::string_view model;
    std::optional<MockDecision> decision;
  };
  /// A JSON answer from generate: quota and balance headers, counted, fed to the failure lock.
  Response answer(const Request& req, int status, std::string body, const Judged& judged);
  Response success(const Request& req, const Ask& ask, std::chrono::milliseconds latency, const MockDecision& decision);
  /// Counts, the headers about the model and balance, the lock. Call with mutex_ held.
  void conclude(Response& res, int status, const Judged& judged);
  std::chrono::milliseconds draw_latency();  // call with mutex_ held

  const MockOptions options_;
  const MockCatalog catalog_;
  ImageCache images_;
  mutable std::mutex mutex_;  // guards everything below
  std::mt19937_64 random_{std::random_device{}()};
  MockPolicy policy_;
  MockStats stats_;
  std::uint64_t ids_ = 0;
};

}  // namespace venice_batch::mock
