// Run metrics: per-phase latency histograms (bounded error, fixed memory),
// counters by status, cause and outcome, bytes and images, and the snapshots
// written while a run goes (metrics.json, metrics.prom, timeline.jsonl lines).
// Used from the io thread only: no locking.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <vector>

#include "venice_batch/admission.hpp"
#include "venice_batch/histogram.hpp"
#include "venice_batch/response.hpp"
#include "venice_batch/spend.hpp"

namespace venice_batch {

/// Where an attempt's time goes: client phases, then the server's own `timing`.
enum class Phase : std::uint8_t {
  admission_concurrency,  ///< waiting for a free worker (job read -> picked up)
  admission_rate,         ///< waiting for the pacer (rate limit, quota reset, failure budget)
  connect,
  tls,
  write,
  ttfb,
  download,
  decode,                 ///< JSON parse + base64 decode + magic check
  write_files,
  attempt_total,          ///< one request, end to end on the client
  server_queue,
  server_preprocessing,
  server_inference,
  server_total,
};
inline constexpr std::size_t kPhaseCount = 14;
std::string_view to_string(Phase p);

struct MetricsCounters {
  std::optional<std::uint64_t> jobs_total;  ///< jobs in the manifest (a line count); unknown for a pipe
  std::uint64_t jobs_ok = 0, jobs_failed = 0, jobs_invalid = 0, jobs_content_violation = 0, jobs_skipped = 0;
  std::uint64_t images = 0, image_bytes = 0;
  std::uint64_t bytes_in = 0, bytes_out = 0;
  /// Response bodies as they came over the wire (compressed or not) and once decoded
  /// (gunzipped, un-brotli'd): their ratio is what Accept-Encoding saved.
  std::uint64_t bytes_wire = 0, bytes_decoded = 0;
  std::uint64_t attempts = 0, retries = 0;
  /// POSTs that may have been billed beyond the one that counts: the attempt policy's definition
  /// (AttemptDecision::maybe_billed_posts, attempt_policy.hpp: an attempt whose outcome is unknown
  /// and goes again, and each stale keep-alive resend). metrics.json keeps the key
  /// "retries_maybe_billed" for it.
  std::uint64_t retries_maybe_billed = 0;
  std::uint64_t in_flight = 0, retrying = 0;
  /// Answers the filter spoiled (x-venice-is-blurred), and new-seed tries sent for flagged answers.
  std::uint64_t images_blurred = 0, regenerations = 0;
  /// Blurred images written to flagged/ (not in `images`, which counts the dataset's).
  std::uint64_t images_flagged = 0, image_bytes_flagged = 0;
  std::map<int, std::uint64_t> status_counts;          ///< HTTP status (0: no answer) -> count
  std::map<std::string, std::uint64_t> attempt_causes; ///< outcome of every attempt ("ok", "http_429", "timeout"...) -> count
  std::map<std::string, std::uint64_t> retry_causes;   ///< cause of a retried attempt -> count
  std::map<std::string, std::uint64_t> failure_kinds;  ///< error kind of a failed job -> count
};

class RunMetrics {
 public:
  RunMetrics();

  void record(Phase phase, std::int64_t micros);
  /// Records the server's own `timing` (milliseconds) into the four server phases.
  void record_server_timing(const ServerTiming& t);
  const LatencyHistogram& histogram(Phase phase) const { return phases_[static_cast<std::size_t>(phase)]; }
  MetricsCounters& counters() { return counters_; }
  const MetricsCounters& counters() const { return counters_; }

  /// Each model's pacing and the run's spend as of now: written by the next to_json / to_prometheus.
  void set_models(std::vector<ModelPacingView> models) { models_ = std::move(models); }
  void set_spend(const SpendTotals& spend) { spend_ = spend; }
  const SpendTotals& spend() const { return spend_; }

  /// Seconds since the run started (set by the constructor).
  double elapsed_seconds() const;

  /// metrics.json: everything above plus derived rates and `pacing` (a short description).
  std::string to_json(std::string_view pacing) const;
  /// metrics.prom: Prometheus text exposition format, for node_exporter's textfile collector.
  std::string to_prometheus() const;
  /// One timeline.jsonl line for the interval since the previous call (counter deltas and
  /// the attempt latency percentiles of that interval), then starts a new interval.
  std::string next_timeline_line(double current_rate_per_minute, std::string_view pacing);

 private:
  std::chrono::steady_clock::time_point start_;
  std::array<LatencyHistogram, kPhaseCount> phases_;
  MetricsCounters counters_;
  std::vector<ModelPacingView> models_;
  SpendTotals spend_;
  // Interval state for the timeline.
  LatencyHistogram interval_latency_;
  MetricsCounters at_last_line_;
  double last_line_seconds_ = 0;
};

}  // namespace venice_batch
