// Admission pacing: decides when the next request may start. A pure state
// machine fed with the time (no I/O, no clock of its own: tests drive it with
// made-up times). It combines
//   - a token bucket (requests per minute, burst), configured or learned from
//     the API's x-ratelimit-*-requests headers, or adapted from 429s (AIMD)
//     when the API sends no headers;
//   - a sliding 60 s window that never lets a minute start faster than the
//     stated limit;
//   - a hard stop until the reset time when remaining reaches 0 or a 429 says so;
//   - the failure budget: the API locks a key for 30 s after too many failed
//     requests in 30 s, so sending pauses before our own count could get there.
// The concurrency limit is the number of workers, one request each.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "venice_batch/config.hpp"
#include "venice_batch/http_response.hpp"

namespace venice_batch {

using PacingClock = std::chrono::steady_clock;

/// The request-quota headers of one response (the failure-budget family
/// x-ratelimit-remaining / x-ratelimit-resets is a different thing and ignored here).
struct RateLimitHeaders {
  std::optional<std::uint64_t> limit;      ///< x-ratelimit-limit-requests
  std::optional<std::uint64_t> remaining;  ///< x-ratelimit-remaining-requests
  /// x-ratelimit-reset-requests as a delay from now. The value is parsed by magnitude:
  /// >= 1e12 epoch milliseconds, >= 1e9 epoch seconds, smaller: seconds from now.
  std::optional<std::chrono::milliseconds> reset_in;
  std::optional<std::chrono::milliseconds> retry_after;  ///< Retry-After (seconds, or an HTTP-date)
};

/// Reads the quota headers; `now_epoch_ms` is the wall clock used to turn epoch times into delays.
/// A stated wait is capped at 5 minutes (a bogus "Retry-After: 999999999" must not stall a run).
RateLimitHeaders parse_rate_limit_headers(const HttpResponse& response, std::int64_t now_epoch_ms);

/// The API's failure lock lasts 30 s (VENICE_API.md): a locked client waits at least this long.
inline constexpr std::chrono::milliseconds kFailureLockWait{30000};

/// How long a 429 says to wait: for the failure lock at least kFailureLockWait (the quota's
/// reset time says nothing about it); otherwise Retry-After, else the quota's reset time, else 0.
/// The one place this is decided: the pacer's hold and the attempt policy's retry wait use it.
std::chrono::milliseconds wait_after_429(const RateLimitHeaders& headers, bool failure_lock);

/// The pacer's knobs. The run builds them from config/default.json through pacing_settings_from();
/// a default-constructed one learns the rate from headers and has no failure budget.
struct PacingSettings {
  double requests_per_minute = 0;  ///< 0: learn from headers, or adapt to 429s
  unsigned burst = 1;
  std::chrono::seconds failure_window{0};
  unsigned max_failures = 0;       ///< pause while this many non-2xx answers are in the window (0: off)
};

/// The pacer's settings from the run's config (rate, burst, failure budget).
PacingSettings pacing_settings_from(const Config& config);

/// Why the pacer is holding requests back (for progress lines and the timeline).
enum class PacingHold { none, rate, quota_reset, rate_limited, failure_budget, failure_lock, unreachable };
std::string to_string(PacingHold h);

class Pacer {
 public:
  Pacer(PacingSettings settings, PacingClock::time_point now);

  /// If a request costing `cost` units may start at `now`, records the start and returns nullopt;
  /// otherwise returns the earliest time to ask again (nothing is recorded). The API counts each
  /// variant of a request as one image against the per-minute limit: a 4-variant request costs 4.
  std::optional<PacingClock::time_point> try_start(PacingClock::time_point now, unsigned cost = 1);

  /// Feeds back one answer. `status` 0 means no HTTP answer (network failure): it counts
  /// against the failure budget only if the request was sent.
  void on_answer(PacingClock::time_point now, int status, const RateLimitHeaders& headers, bool failure_lock,
                 bool request_sent);

  /// The API could not be reached (connect or resolve failed, nothing sent). Holds all sending
  /// for 1 s, doubling with each consecutive one up to 60 s; any answer ends it. An outage
  /// pauses the run instead of failing every job in turn.
  void on_unreachable(PacingClock::time_point now);

  /// The current rate cap in requests per minute (0: none yet).
  double current_rate() const { return rate_per_minute_; }
  PacingHold hold(PacingClock::time_point now) const;
  /// How long until sending resumes (0 if it is not blocked).
  std::chrono::milliseconds blocked_for(PacingClock::time_point now) const;
  /// "20/min", "20/min, waiting 12 s (quota reset)", "unpaced".
  std::string describe(PacingClock::time_point now) const;

 private:
  void refill(PacingClock::time_point now);
  void set_rate(double per_minute);
  void block_until(PacingClock::time_point t, PacingHold why);
  void forget_old(PacingClock::time_point now);
  /// The rate the run has been going at (for the first cut without headers).
  double observed_per_minute(PacingClock::time_point now) const;
  /// While the failure budget is spent: when it frees up.
  std::optional<PacingClock::time_point> failure_budget_until() const;

  PacingSettings settings_;
  bool learned_ = false;           ///< rate came from headers
  double rate_per_minute_ = 0;     ///< 0: no cap
  double tokens_ = 0;
  PacingClock::time_point last_refill_;
  std::optional<std::uint64_t> window_limit_;  ///< the API's stated per-minute limit
  std::deque<std::pair<PacingClock::time_point, unsigned>> starts_;  ///< (start, cost) in the last 60 s
  std::uint64_t window_used_ = 0;              ///< sum of the costs in starts_
  std::deque<PacingClock::time_point> failures_;
  PacingClock::time_point blocked_until_{};
  PacingHold blocked_why_ = PacingHold::none;
  PacingClock::time_point last_decrease_{};
  unsigned unreachable_in_a_row_ = 0;
};

}  // namespace venice_batch
