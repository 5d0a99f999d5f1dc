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

void set_success_headers(Response& res, bool content_violation, bool blurred) {
  res.set("x-venice-is-blurred", blurred ? "true" : "false");
  res.set("x-venice-is-content-violation", content_violation ? "true" : "false");
}

void set_balance_headers(Response& res, Micros usd, Micros diem) {
  res.set("x-venice-balance-usd", format_micros(usd));
  res.set("x-venice-balance-diem", format_micros(diem));
}

void set_deprecation_headers(Response& res, std::string_view model, std::string_view date, std::string_view replacement) {
  res.set("x-venice-deprecated", "true");
  res.set("x-venice-model-deprecation-date", date);
  res.set("x-venice-deprecated-replacement", replacement);
  res.set("x-venice-model-deprecation-warning",
          fmt::format("The model {} is deprecated and will be removed on {}. Use {} instead.", model, date, replacement));
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
    case MockFault::invalid_base64:
    case MockFault::content_violation:
    case MockFault::corrupt_compressed:
    case MockFault::cut_compressed:
    case MockFault::blurred:
    case MockFault::drop: return std::nullopt;
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

namespace {

void write_limit(JsonWriter& w, std::uint64_t amount, std::string_view type) {
  w.StartObject();
  write_key(w, "amount");
  w.Uint64(amount);
  write_key(w, "type");
  write_string(w, type);
  w.EndObject();
}

void write_money(JsonWriter& w, Micros amount) { w.Double(static_cast<double>(amount) / 1e6); }

}  // namespace

std::string rate_limits_body(const std::vector<ModelRateLimit>& limits, Micros balance_usd, Micros balance_diem) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  write_key(w, "data");
  w.StartObject();
  write_key(w, "rateLimits");
  w.StartArray();
  for (const auto& limit : limits) {
    w.StartObject();
    write_key(w, "apiModelId");
    write_string(w, limit.model);
    write_key(w, "rateLimits");
    w.StartArray();
    write_limit(w, limit.rpm, "RPM");
    if (limit.rpd) write_limit(w, *limit.rpd, "RPD");
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  write_key(w, "balances");
  w.StartObject();
  write_key(w, "USD");
  write_money(w, balance_usd);
  write_key(w, "DIEM");
  write_money(w, balance_diem);
  w.EndObject();
  w.EndObject();
  w.EndObject();
  return buf.GetString();
}

namespace {

void write_counts(JsonWriter& w, std::string_view name, const std::map<std::string, std::uint64_t>& counts) {
  write_key(w, name);
  w.StartObject();
  for (const auto& [key, count] : counts) {
    write_key(w, key);
    w.Uint64(count);
  }
  w.EndObject();
}

void write_model_stats(JsonWriter& w, const std::map<std::string, MockModelStats>& by_model) {
  write_key(w, "by_model");
  w.StartObject();
  for (const auto& [model, s] : by_model) {
    write_key(w, model);
    w.StartObject();
    const std::pair<std::string_view, std::uint64_t> counters[] = {
        {"requests", s.requests}, {"rate_limited", s.rate_limited}, {"images", s.images}};
    for (const auto& [name, value] : counters) {
      write_key(w, name);
      w.Uint64(value);
    }
    write_key(w, "spent_usd");
    write_money(w, s.spent);
    w.EndObject();
  }
  w.EndObject();
}

}  // namespace

std::string stats_json(const MockStats& stats) {
  rapidjson::StringBuffer buf;
  JsonWriter w(buf);
  w.StartObject();
  const std::pair<std::string_view, std::uint64_t> counters[] = {{"requests", stats.requests},
                                                                {"images", stats.images},
                                                                {"connections", stats.connections},
                                                                {"locked", stats.locked},
                                                                {"key_checks", stats.key_checks},
                                                                {"catalog_requests", stats.catalog_requests}};
  for (const auto& [name, value] : counters) {
    write_key(w, name);
    w.Uint64(value);
  }
  std::map<std::string, std::uint64_t> by_status;
  for (const auto& [status, count] : stats.by_status) by_status[fmt::to_string(status)] = count;
  write_counts(w, "by_status", by_status);
  write_counts(w, "faults", stats.faults);
  write_counts(w, "by_coding", stats.by_coding);
  if (!stats.by_prompt.empty()) write_counts(w, "by_prompt", stats.by_prompt);  // --track-prompts
  write_model_stats(w, stats.by_model);
  write_key(w, "spent_usd");
  write_money(w, stats.spent);
  write_key(w, "balance_usd");
  write_money(w, stats.balance);
  w.EndObject();
  return buf.GetString();
}

}  // namespace venice_batch::mock
