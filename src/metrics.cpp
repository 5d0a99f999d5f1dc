#include "venice_batch/metrics.hpp"

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace venice_batch {
namespace {

constexpr std::array<std::string_view, kPhaseCount> kPhaseNames = {
    "admission_concurrency", "admission_rate", "connect", "tls", "write", "ttfb", "download", "decode",
    "write_files", "attempt_total", "server_queue", "server_preprocessing", "server_inference", "server_total"};

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void key(Writer& w, std::string_view k) { w.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())); }
double ms(std::uint64_t micros) { return static_cast<double>(micros) / 1000.0; }

void write_histogram(Writer& w, const LatencyHistogram& h) {
  w.StartObject();
  key(w, "count");
  w.Uint64(h.count());
  if (h.count() > 0) {
    key(w, "min_ms"); w.Double(ms(h.min()));
    key(w, "p50_ms"); w.Double(ms(h.value_at_percentile(50)));
    key(w, "p90_ms"); w.Double(ms(h.value_at_percentile(90)));
    key(w, "p99_ms"); w.Double(ms(h.value_at_percentile(99)));
    key(w, "p999_ms"); w.Double(ms(h.value_at_percentile(99.9)));
    key(w, "max_ms"); w.Double(ms(h.max()));
    key(w, "mean_ms"); w.Double(h.mean() / 1000.0);
  }
  w.EndObject();
}

template <class Map>
void write_map(Writer& w, const Map& m) {
  w.StartObject();
  for (const auto& [k, v] : m) {
    if constexpr (std::is_same_v<typename Map::key_type, int>) key(w, fmt::format("{}", k));
    else key(w, k);
    w.Uint64(v);
  }
  w.EndObject();
}

void write_amount(Writer& w, std::string_view name, const SpendAmount& a) {
  key(w, name);
  w.StartObject();
  key(w, "usd"); w.Double(a.usd);
  key(w, "diem"); w.Double(a.diem);
  key(w, "attempts"); w.Uint64(a.attempts);
  w.EndObject();
}

void write_optional(Writer& w, std::string_view name, const std::optional<double>& v) {
  key(w, name);
  if (v) w.Double(*v);
  else w.Null();
}

// "spend": what the catalog's prices say the run spent, and what the balance headers say.
void write_spend(Writer& w, const SpendTotals& s) {
  key(w, "spend");
  w.StartObject();
  write_amount(w, "estimated", s.estimated);
  write_amount(w, "billed", s.billed);
  write_amount(w, "unknown_outcome", s.unknown);
  write_amount(w, "in_flight", s.in_flight);
  key(w, "not_billed_attempts"); w.Uint64(s.not_billed_attempts);
  key(w, "unpriced_attempts"); w.Uint64(s.unpriced_attempts);
  write_optional(w, "balance_first_usd", s.balance_first_usd);
  write_optional(w, "balance_last_usd", s.balance_last_usd);
  write_optional(w, "observed_spend_usd", s.observed_spend_usd);
  w.EndObject();
}

// "models": each model's limit, what is left and how long it waits.
void write_models(Writer& w, const std::vector<ModelPacingView>& models) {
  key(w, "models");
  w.StartObject();
  for (const auto& m : models) {
    key(w, m.model);
    w.StartObject();
    key(w, "limit");
    if (m.limit) w.Uint64(*m.limit);
    else w.Null();
    key(w, "window_s");
    if (m.window) w.Double(static_cast<double>(m.window->count()) / 1000.0);
    else w.Null();
    key(w, "remaining");
    if (m.remaining) w.Int64(*m.remaining);
    else w.Null();
    key(w, "rate_per_minute"); w.Double(m.rate_per_minute);
    key(w, "wait_ms"); w.Int64(m.wait.count());
    const std::string hold = to_string(m.hold);
    key(w, "hold"); w.String(hold.data(), static_cast<rapidjson::SizeType>(hold.size()));
    key(w, "daily_limit");
    if (m.daily_limit) w.Uint64(*m.daily_limit);
    else w.Null();
    key(w, "started"); w.Uint64(m.started_today);
    key(w, "daily_cap_reached"); w.Bool(m.daily_cap_reached);
    w.EndObject();
  }
  w.EndObject();
}

}  // namespace

std::string_view to_string(Phase p) { return kPhaseNames[static_cast<std::size_t>(p)]; }

RunMetrics::RunMetrics() : start_(std::chrono::steady_clock::now()) {}

void RunMetrics::record(Phase phase, std::int64_t micros) {
  const auto v = static_cast<std::uint64_t>(micros < 0 ? 0 : micros);
  phases_[static_cast<std::size_t>(phase)].record(v);
  if (phase == Phase::attempt_total) interval_latency_.record(v);
}

void RunMetrics::record_server_timing(const ServerTiming& t) {
  record(Phase::server_queue, static_cast<std::int64_t>(t.queue_ms * 1000));
  record(Phase::server_preprocessing, static_cast<std::int64_t>(t.preprocessing_ms * 1000));
  record(Phase::server_inference, static_cast<std::int64_t>(t.inference_ms * 1000));
  record(Phase::server_total, static_cast<std::int64_t>(t.total_ms * 1000));
}

double RunMetrics::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string RunMetrics::to_json(std::string_view pacing) const {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  const auto& c = counters_;
  const double secs = elapsed_seconds();
  const std::uint64_t done = c.jobs_ok + c.jobs_failed + c.jobs_invalid + c.jobs_content_violation;
  w.StartObject();
  key(w, "elapsed_s"); w.Double(secs);
  key(w, "jobs"); w.StartObject();
  key(w, "total");
  if (c.jobs_total) w.Uint64(*c.jobs_total);
  else w.Null();  // read from a pipe: not counted ahead
  key(w, "done"); w.Uint64(done);
  key(w, "ok"); w.Uint64(c.jobs_ok);
  key(w, "failed"); w.Uint64(c.jobs_failed);
  key(w, "invalid"); w.Uint64(c.jobs_invalid);
  key(w, "content_violation"); w.Uint64(c.jobs_content_violation);
  key(w, "skipped"); w.Uint64(c.jobs_skipped);
  w.EndObject();
  key(w, "images"); w.Uint64(c.images);
  key(w, "image_bytes"); w.Uint64(c.image_bytes);
  key(w, "bytes_in"); w.Uint64(c.bytes_in);
  key(w, "bytes_out"); w.Uint64(c.bytes_out);
  key(w, "bytes_wire"); w.Uint64(c.bytes_wire);
  key(w, "bytes_decoded"); w.Uint64(c.bytes_decoded);
  key(w, "attempts"); w.Uint64(c.attempts);
  key(w, "retries"); w.Uint64(c.retries);
  // Attempts that may have been billed twice (the attempt policy's definition); the key keeps its old name.
  key(w, "retries_maybe_billed"); w.Uint64(c.retries_maybe_billed);
  key(w, "images_blurred"); w.Uint64(c.images_blurred);
  key(w, "images_flagged"); w.Uint64(c.images_flagged);
  key(w, "image_bytes_flagged"); w.Uint64(c.image_bytes_flagged);
  key(w, "regenerations"); w.Uint64(c.regenerations);
  key(w, "in_flight"); w.Uint64(c.in_flight);
  key(w, "jobs_per_s"); w.Double(secs > 0 ? static_cast<double>(done) / secs : 0);
  key(w, "images_per_s"); w.Double(secs > 0 ? static_cast<double>(c.images) / secs : 0);
  key(w, "pacing"); w.String(pacing.data(), static_cast<rapidjson::SizeType>(pacing.size()));
  write_models(w, models_);
  write_spend(w, spend_);
  key(w, "status_counts"); write_map(w, c.status_counts);
  key(w, "attempt_causes"); write_map(w, c.attempt_causes);
  key(w, "retry_causes"); write_map(w, c.retry_causes);
  key(w, "failure_kinds"); write_map(w, c.failure_kinds);
  key(w, "phases");
  w.StartObject();
  for (std::size_t i = 0; i < kPhaseCount; ++i) {
    key(w, kPhaseNames[i]);
    write_histogram(w, phases_[i]);
  }
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::string RunMetrics::to_prometheus() const {
  const auto& c = counters_;
  std::string out;
  auto out_it = std::back_inserter(out);
  auto line = [&](std::string_view name, std::string_view labels, double v) {
    if (labels.empty()) fmt::format_to(out_it, "{} {}\n", name, v);
    else fmt::format_to(out_it, "{}{{{}}} {}\n", name, labels, v);
  };
  auto help = [&](std::string_view name, std::string_view type, std::string_view text) {
    fmt::format_to(out_it, "# HELP {} {}\n# TYPE {} {}\n", name, text, name, type);
  };
  help("venice_batch_jobs", "gauge", "Jobs by outcome in this run.");
  if (c.jobs_total) line("venice_batch_jobs", "outcome=\"total\"", static_cast<double>(*c.jobs_total));
  line("venice_batch_jobs", "outcome=\"ok\"", static_cast<double>(c.jobs_ok));
  line("venice_batch_jobs", "outcome=\"failed\"", static_cast<double>(c.jobs_failed));
  line("venice_batch_jobs", "outcome=\"invalid\"", static_cast<double>(c.jobs_invalid));
  line("venice_batch_jobs", "outcome=\"content_violation\"", static_cast<double>(c.jobs_content_violation));
  line("venice_batch_jobs", "outcome=\"skipped\"", static_cast<double>(c.jobs_skipped));
  help("venice_batch_images_total", "counter", "Images written to the dataset (flagged ones apart).");
  line("venice_batch_images_total", "", static_cast<double>(c.images));
  help("venice_batch_image_bytes_total", "counter", "Bytes of images written.");
  line("venice_batch_image_bytes_total", "", static_cast<double>(c.image_bytes));
  help("venice_batch_network_bytes_total", "counter", "Bytes on the wire (HTTP, before TLS).");
  line("venice_batch_network_bytes_total", "direction=\"in\"", static_cast<double>(c.bytes_in));
  line("venice_batch_network_bytes_total", "direction=\"out\"", static_cast<double>(c.bytes_out));
  help("venice_batch_response_body_bytes_total", "counter", "Response body bytes on the wire and decoded.");
  line("venice_batch_response_body_bytes_total", "form=\"wire\"", static_cast<double>(c.bytes_wire));
  line("venice_batch_response_body_bytes_total", "form=\"decoded\"", static_cast<double>(c.bytes_decoded));
  help("venice_batch_attempts_total", "counter", "Requests attempted.");
  line("venice_batch_attempts_total", "", static_cast<double>(c.attempts));
  help("venice_batch_flagged_total", "counter",
       "Blurred images, new-seed tries sent for flagged answers, and blurred images kept in flagged/.");
  line("venice_batch_flagged_total", "what=\"blurred\"", static_cast<double>(c.images_blurred));
  line("venice_batch_flagged_total", "what=\"regenerations\"", static_cast<double>(c.regenerations));
  line("venice_batch_flagged_total", "what=\"images_kept\"", static_cast<double>(c.images_flagged));
  help("venice_batch_in_flight", "gauge", "Requests in flight.");
  line("venice_batch_in_flight", "", static_cast<double>(c.in_flight));
  help("venice_batch_responses_total", "counter", "Answers by HTTP status (0: no answer).");
  for (const auto& [status, n] : c.status_counts)
    line("venice_batch_responses_total", fmt::format("status=\"{}\"", status), static_cast<double>(n));
  help("venice_batch_attempts_by_cause_total", "counter", "Attempts by outcome.");
  for (const auto& [cause, n] : c.attempt_causes)
    line("venice_batch_attempts_by_cause_total", fmt::format("cause=\"{}\"", cause), static_cast<double>(n));
  help("venice_batch_retries_total", "counter", "Retried attempts by cause.");
  for (const auto& [cause, n] : c.retry_causes)
    line("venice_batch_retries_total", fmt::format("cause=\"{}\"", cause), static_cast<double>(n));
  help("venice_batch_spend_usd", "gauge", "Spend in USD at catalog prices (estimated = billed + unknown outcome).");
  line("venice_batch_spend_usd", "kind=\"estimated\"", spend_.estimated.usd);
  line("venice_batch_spend_usd", "kind=\"billed\"", spend_.billed.usd);
  line("venice_batch_spend_usd", "kind=\"unknown_outcome\"", spend_.unknown.usd);
  line("venice_batch_spend_usd", "kind=\"in_flight\"", spend_.in_flight.usd);
  if (spend_.observed_spend_usd) line("venice_batch_spend_usd", "kind=\"observed\"", *spend_.observed_spend_usd);
  if (spend_.balance_last_usd) {
    help("venice_batch_balance_usd", "gauge", "The last x-venice-balance-usd seen.");
    line("venice_batch_balance_usd", "", *spend_.balance_last_usd);
  }
  if (!models_.empty()) {
    help("venice_batch_model_wait_seconds", "gauge", "How long each model waits before it may send again.");
    for (const auto& m : models_)
      line("venice_batch_model_wait_seconds", fmt::format("model=\"{}\"", m.model), static_cast<double>(m.wait.count()) / 1000.0);
    help("venice_batch_model_remaining_requests", "gauge", "Requests left in each model's current window.");
    for (const auto& m : models_)
      if (m.remaining) line("venice_batch_model_remaining_requests", fmt::format("model=\"{}\"", m.model), static_cast<double>(*m.remaining));
  }
  help("venice_batch_phase_seconds", "summary", "Per-phase latency quantiles.");
  for (std::size_t i = 0; i < kPhaseCount; ++i) {
    const auto& h = phases_[i];
    if (h.count() == 0) continue;
    const std::string phase = fmt::format("phase=\"{}\"", kPhaseNames[i]);
    for (double q : {0.5, 0.9, 0.99, 0.999})  // "{}" prints 0.999, not 0.99900000000000000
      line("venice_batch_phase_seconds", fmt::format("{},quantile=\"{}\"", phase, q),
           static_cast<double>(h.value_at_percentile(q * 100)) / 1e6);
    line("venice_batch_phase_seconds_count", phase, static_cast<double>(h.count()));
    line("venice_batch_phase_seconds_sum", phase, h.mean() * static_cast<double>(h.count()) / 1e6);
  }
  return out;
}

std::string RunMetrics::next_timeline_line(double rate, std::string_view pacing) {
  const auto& c = counters_;
  const auto& p = at_last_line_;
  const double now = elapsed_seconds();
  auto count_of = [](const std::map<int, std::uint64_t>& m, int k) {
    auto it = m.find(k);
    return it == m.end() ? std::uint64_t{0} : it->second;
  };
  std::uint64_t errors_now = 0, errors_then = 0;
  for (const auto& [s, n] : c.status_counts) if (s != 200) errors_now += n;
  for (const auto& [s, n] : p.status_counts) if (s != 200) errors_then += n;

  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  key(w, "t_s"); w.Double(now);
  key(w, "interval_s"); w.Double(now - last_line_seconds_);
  const auto done = [](const MetricsCounters& m) {
    return m.jobs_ok + m.jobs_failed + m.jobs_invalid + m.jobs_content_violation;
  };
  key(w, "jobs"); w.Uint64(done(c) - done(p));
  key(w, "jobs_ok"); w.Uint64(c.jobs_ok - p.jobs_ok);
  key(w, "images"); w.Uint64(c.images - p.images);
  key(w, "errors"); w.Uint64(errors_now - errors_then);
  key(w, "http_429"); w.Uint64(count_of(c.status_counts, 429) - count_of(p.status_counts, 429));
  key(w, "images_blurred"); w.Uint64(c.images_blurred);
  key(w, "regenerations"); w.Uint64(c.regenerations);
  key(w, "in_flight"); w.Uint64(c.in_flight);
  key(w, "rate_limit_per_min"); w.Double(rate);
  key(w, "pacing"); w.String(pacing.data(), static_cast<rapidjson::SizeType>(pacing.size()));
  if (interval_latency_.count() > 0) {
    key(w, "latency_p50_ms"); w.Double(ms(interval_latency_.value_at_percentile(50)));
    key(w, "latency_p99_ms"); w.Double(ms(interval_latency_.value_at_percentile(99)));
  }
  w.EndObject();
  at_last_line_ = c;
  last_line_seconds_ = now;
  interval_latency_.reset();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace venice_batch
