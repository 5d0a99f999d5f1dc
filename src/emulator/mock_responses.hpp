// The emulator's answers as bytes: response framing, the headers every answer carries and the
// JSON bodies (errors, the x402 402, the failure lock, generate's 200, /api_keys/rate_limits,
// /__mock/stats). No state and no I/O: mock_service.cpp decides which one to send.
// (The catalog's bodies are mock_catalog.hpp's.)
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "venice_batch/mock_policy.hpp"
#include "venice_batch/mock_server.hpp"
#include "venice_batch/request_schema.hpp"

namespace venice_batch::mock {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

/// An answer to `req` (same HTTP version and keep-alive) with the headers every answer has:
/// server, content type, a fresh CF-RAY, x-venice-version.
Response make_response(int status, std::string body, std::string_view content_type, const Request& req);
/// A JSON answer.
Response json_response(int status, std::string body, const Request& req);

/// The x-ratelimit-*-requests headers; `now_epoch_ms` turns the reset delay into the epoch
/// milliseconds the API sends.
void set_quota_headers(Response& res, const MockQuota& quota, std::int64_t now_epoch_ms);
/// The headers of a 200 from generate: blurred or not; a content violation or not.
void set_success_headers(Response& res, bool content_violation = false, bool blurred = false);
/// x-venice-balance-usd and x-venice-balance-diem: the balances before the request.
void set_balance_headers(Response& res, Micros usd, Micros diem);
/// The deprecation headers of an answer from a deprecated model.
void set_deprecation_headers(Response& res, std::string_view model, std::string_view date, std::string_view replacement);

/// StandardError: {"error": message}.
std::string error_body(std::string_view message);
/// DetailedError (400): error, details per field, issues.
std::string detailed_error_body(const std::vector<FieldIssue>& issues);
/// The 402 a request without an Authorization header gets: an x402 payment-discovery body.
std::string_view payment_required_body();
/// The failure lock's 429.
std::string_view failure_lock_body();

/// The status and body of a fault that is an HTTP error answer (429, 500, 503, 401, 402, lock);
/// nullopt for ok and the faults acted out on the wire, in a 200's body or its headers.
struct FaultAnswer {
  int status = 0;
  std::string body;
};
std::optional<FaultAnswer> fault_answer(MockFault fault);

/// Generate's JSON 200: id, one base64 string per image, the server's timing (its added
/// `latency`, split into queue, preprocessing and inference), and the request echoed back.
struct GenerateBody {
  std::uint64_t id = 0;
  std::vector<const std::string*> images_base64;
  std::chrono::milliseconds latency{0};
  std::string_view request_json;
};
std::string generate_body(const GenerateBody& g, MockFault fault);

/// One model's limits as GET /api_keys/rate_limits lists them.
struct ModelRateLimit {
  std::string model;
  std::uint64_t rpm = 0;              ///< per window (a minute unless the emulator was told otherwise)
  std::optional<std::uint64_t> rpd;  ///< requests per day, when capped
};
/// GET /api_keys/rate_limits: each model's RPM (and RPD), and the balances.
std::string rate_limits_body(const std::vector<ModelRateLimit>& limits, Micros balance_usd, Micros balance_diem);

/// GET /__mock/stats.
std::string stats_json(const MockStats& stats);

}  // namespace venice_batch::mock
