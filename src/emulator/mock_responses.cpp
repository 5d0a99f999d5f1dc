#include "mock_responses.hpp"

#include <iterator>
#include <random>

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace venice_batch::mock {

namespace http = boost::beast::http;

namespace {

using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Each io thread draws its own CF-RAY ids: no shared generator to guard.
std::string random_hex(std::size_t n) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  static constexpr char hex[] = "0123456789abcdef";
  std::string s(n, '0');
  for (auto& c : s) c = hex[rng() & 15];
  return s;
}

void write_string(JsonWriter& w, std::string_view s) { w.String(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

void write_key(JsonWriter& w, std::string_view s) { w.Key(s.data(), static_cast<rapidjson::SizeType>(s.size())); }

}  // namespace

Response make_response(int status, std::string body, std::string_view content_type, const Request& req) {
  Response res{static_cast<http::status>(status), req.version()};
  res.set(http::field::server, "venice-mock");
  res.set(http::field::content_type, content_type);
  res.set("CF-RAY", random_hex(16) + "-MOCK");
  res.set("x-venice-version", "mock-1");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response json_response(int status, std::string body, const Request& req) {
  return make_response(status, std::move(body), "application/json", req);
}

void set_quota_headers(Response& res, const MockQuota& quota, std::int64_t now_epoch_ms) {
  res.set("x-ratelimit-limit-requests", fmt::to_string(quota.limit));
  res.set("x-ratelimit-remaining-requests", fmt::to_string(quota.remaining));
  res.set("x-ratelimit-reset-requests", fmt::to_string(now_epoch_ms + quota.reset_in.count()));
}

void set_success_headers(Response& res) {
  res.set("x-venice-is-blurred", "false");
  res.set("x-venice-is-content-violation", "false");
}

std::string error_body(std::string_view message) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  write_key(w, "error");
  write_string(w, message);
  w.EndObject();
  return buf.GetString();
}

std::string detailed_error_body(const std::vector<FieldIssue>& issues) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  write_key(w, "error");
  write_string(w, "Invalid request parameters");
  write_key(w, "details");
  w.StartObject();
  write_key(w, "_errors");
  w.StartArray();
  w.EndArray();
  for (const auto& i : issues) {
    write_key(w, i.path.empty() ? std::string_view("_root") : std::string_view(i.path).substr(0, i.path.find('.')));
    w.StartObject();
    write_key(w, "_errors");
    w.StartArray();
    write_string(w, i.message);
    w.EndArray();
    w.EndObject();
  }
  w.EndObject();
  write_key(w, "issues");
  w.StartArray();
  for (const auto& i : issues) {
    w.StartObject();
    write_key(w, "code");
    write_string(w, i.code);
    write_key(w, "path");
    w.StartArray();
    if (!i.path.empty()) write_string(w, i.path);
    w.EndArray();
    write_key(w, "message");
    write_string(w, i.message);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return buf.GetString();
}

std::string_view payment_required_body() {
  return R"({"error":"Payment required","x402Version":1,"accepts":[{"scheme":"exact","network":"base"}]})";
}

std::string_view failure_lock_body() {
  return R"({"error":"Too many failed attempts. Please try again in 30 seconds."})";
}

std::optional<FaultAnswer> fault_answer(MockFault fault) {
  switch (fault) {
    case MockFault::rate_limited: return FaultAnswer{429, error_body("Rate limit exceeded")};
    case MockFault::failure_lock: return FaultAnswer{429, std::string(failure_lock_body())};
    case MockFault::server_error_500: return FaultAnswer{500, error_body("Inference processing failed")};
    case MockFault::unavailable_503:
      return FaultAnswer{503, error_body("The model is at capacity. Please try again later.")};
    case MockFault::unauthorized_401: return FaultAnswer{401, error_body("Authentication failed")};
    case MockFault::payment_402:
      return FaultAnswer{402, error_body("Insufficient USD or Diem balance to complete request")};
    case MockFault::ok:
    case MockFault::close_mid_body:
    case MockFault::short_body:
    case MockFault::stall:
    case MockFault::invalid_json:
    case MockFault::invalid_base64: return std::nullopt;
  }
  return std::nullopt;
}

std::string generate_body(const GenerateBody& g, MockFault fault) {
  std::size_t size = 512 + g.request_json.size();
  for (const auto* img : g.images_base64) size += img->size() + 3;
  std::string body;
  body.reserve(size);
  fmt::format_to(std::back_inserter(body), R"({{"id":"generate-image-{}","images":[)", g.id);
  for (std::size_t k = 0; k < g.images_base64.size(); ++k) {
    body += k ? ",\"" : "\"";
    const auto start = body.size();
    body += *g.images_base64[k];
    if (fault == MockFault::invalid_base64) body[start + g.images_base64[k]->size() / 2] = '!';
    body += '"';
  }
  // The server's own timing tells the truth about this emulator: its added latency, split
  // into queue (a tenth), preprocessing (a twentieth) and inference (the rest).
  const auto total = g.latency.count();
  const auto queue = total / 10, pre = total / 20, inference = total - queue - pre;
  fmt::format_to(std::back_inserter(body),
                 R"(],"timing":{{"inferenceDuration":{},"inferencePreprocessingTime":{},"inferenceQueueTime":{},)"
                 R"("total":{}}},"request":{{"success":true,"data":{}}}}})",
                 inference, pre, queue, total, g.request_json);
  if (fault == MockFault::invalid_json) body.resize(body.size() / 2);
  return body;
}

std::string rate_limits_body(const std::vector<std::string>& models, std::uint64_t requests_per_minute,
                             double balance_usd, double balance_diem) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  write_key(w, "data");
  w.StartObject();
  write_key(w, "rateLimits");
  w.StartArray();
  for (const auto& model : models) {
    w.StartObject();
    write_key(w, "apiModelId");
    write_string(w, model);
    write_key(w, "rateLimits");
    w.StartArray();
    w.StartObject();
    write_key(w, "amount");
    w.Uint64(requests_per_minute);
    write_key(w, "type");
    write_string(w, "RPM");
    w.EndObject();
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  write_key(w, "balances");
  w.StartObject();
  write_key(w, "USD");
  w.Double(balance_usd);
  write_key(w, "DIEM");
  w.Double(balance_diem);
  w.EndObject();
  w.EndObject();
  w.EndObject();
  return buf.GetString();
}

std::string stats_json(const MockStats& stats) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  const std::pair<std::string_view, std::uint64_t> counters[] = {{"requests", stats.requests},
                                                                {"images", stats.images},
                                                                {"connections", stats.connections},
                                                                {"locked", stats.locked},
                                                                {"key_checks", stats.key_checks}};
  for (const auto& [name, value] : counters) {
    write_key(w, name);
    w.Uint64(value);
  }
  write_key(w, "by_status");
  w.StartObject();
  for (const auto& [status, count] : stats.by_status) {
    write_key(w, fmt::to_string(status));
    w.Uint64(count);
  }
  w.EndObject();
  write_key(w, "faults");
  w.StartObject();
  for (const auto& [name, count] : stats.faults) {
    write_key(w, name);
    w.Uint64(count);
  }
  w.EndObject();
  w.EndObject();
  return buf.GetString();
}

}  // namespace venice_batch::mock
