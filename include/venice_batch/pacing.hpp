// Admission pacing, without I/O: the units that decide when the next request may start. Each is a
// state machine handed `now` (no clock of its own; tests drive it with made-up times).
//   - ModelPacer: one model's request quota. It follows the x-ratelimit-*-requests headers
//     (what remains, until the stated reset; the window's length is learned from them, never
//     assumed), else a configured or seeded rate (token bucket), else adapts to bare 429s (AIMD).
//   - KeyGuard: what the API holds per key: the failure budget (sending pauses before our own
//     count of failed answers could reach the API's failure lock), the lock itself, and the
//     hold while the API is unreachable.
//   - Pacer: one KeyGuard and one ModelPacer, for a run that paces every model as one.
//     Admission (admission.hpp) keeps one ModelPacer per model instead.
// The concurrency limit is the number of workers, one request each.
#pragma once

#include <algorithm>
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
  std::optional<std::uint64_t> limit;      ///< x-ratelimit-limit-requests: requests per window
  std::optional<std::uint64_t> remaining;  ///< x-ratelimit-remaining-requests
  /// x-ratelimit-reset-requests as a delay from now. The value is parsed by magnitude:
  /// >= 1e12 epoch milliseconds, >= 1e9 epoch seconds, smaller: seconds from now.
  std::optional<std::chrono::milliseconds> reset_in;
  std::optional<std::chrono::milliseconds> retry_after;  ///< Retry-After (seconds, or an HTTP-date)
  /// How coarse reset_in may be: 1 s when the reset came in whole seconds (it may have been
  /// rounded down), 0 for milliseconds. The pacer waits this much longer before a new window.
  std::chrono::milliseconds reset_granularity{0};
  /// The stated reset / Retry-After was longer than the 5-minute cap, and was capped.
  bool reset_beyond_cap = false, retry_after_beyond_cap = false;
};

/// Reads the quota headers; `now_epoch_ms` is the wall clock used to turn epoch times into delays.
/// A stated wait is capped at 5 minutes (a bogus "Retry-After: 999999999" must not stall a run).
RateLimitHeaders parse_rate_limit_headers(const HttpResponse& response, std::int64_t now_epoch_ms);

/// A 429 (not the failure lock) whose own wait is longer than the cap: the model's quota is spent
/// for longer than a run should wait in place (a per-day limit, used up by this key elsewhere: the
/// per-minute windows reset within a minute). The run stops the model's jobs as at its daily cap.
bool refused_for_long(const RateLimitHeaders& h);

/// The API's failure lock lasts 30 s (VENICE_API.md): a locked client waits at least this long.
inline constexpr std::chrono::milliseconds kFailureLockWait{30000};

/// How long a 429 says to wait: for the failure lock at least kFailureLockWait (the quota's
/// reset time says nothing about it); otherwise Retry-After, else the quota's reset time, else 0.
/// The one place this is decided: the pacers' holds and the attempt policy's retry wait use it.
std::chrono::milliseconds wait_after_429(const RateLimitHeaders& headers, bool failure_lock);

/// The pacers' knobs. The run builds them from config/default.json through pacing_settings_from();
/// a default-constructed one learns the quota from headers and has no failure budget.
struct PacingSettings {
  double requests_per_minute = 0;  ///< a cap for every model; 0: follow the headers, or adapt to 429s
  unsigned burst = 1;              ///< token-bucket size for a configured or seeded rate
  std::chrono::seconds failure_window{0};
  unsigned max_failures = 0;       ///< pause while this many non-2xx answers are in the window (0: off)
};

/// The pacer's settings from the run's config (rate, burst, failure budget).
PacingSettings pacing_settings_from(const Config& config);

/// Why requests are held back (for progress lines, metrics and the timeline).
enum class PacingHold { none, rate, quota_reset, rate_limited, failure_budget, failure_lock, unreachable };
std::string to_string(PacingHold h);

/// A start refused for now: ask again at `until`.
struct PacingWait {
  PacingClock::time_point until;
  PacingHold why = PacingHold::none;
};

/// ", waiting 12 s (quota reset)" for a hold of `wait` (rounded up), "" when there is none.
std::string describe_wait(std::chrono::milliseconds wait, PacingHold why);

/// What the API holds per key, whatever the model: the failure budget, the failure lock and
/// the hold while the API is unreachable.
class KeyGuard {
 public:
  explicit KeyGuard(PacingSettings settings) : settings_(settings) {}

  /// While sending is held for the whole key: until when, and why.
  std::optional<PacingWait> wait(PacingClock::time_point now) const;
  /// How long until the key's hold ends (0: none).
  std::chrono::milliseconds blocked_for(PacingClock::time_point now) const;
  /// Feeds back one answer. `status` 0 means no HTTP answer (network failure): it counts
  /// against the failure budget only if the request was sent. A failure-lock 429 holds
  /// everything for at least kFailureLockWait.
  void on_answer(PacingClock::time_point now, int status, const RateLimitHeaders& headers, bool failure_lock,
                 bool request_sent);
  /// The API could not be reached (connect or resolve failed, nothing sent). Holds all sending
  /// for 1 s, doubling with each consecutive one up to 60 s; any answer ends it. An outage
  /// pauses the run instead of failing every job in turn.
  void on_unreachable(PacingClock::time_point now);

 private:
  void block_until(PacingClock::time_point t, PacingHold why);
  std::optional<PacingClock::time_point> failure_budget_until(PacingClock::time_point now) const;

  PacingSettings settings_;
  std::deque<PacingClock::time_point> failures_;  ///< non-2xx answers, oldest first
  PacingClock::time_point blocked_until_{};
  PacingHold blocked_why_ = PacingHold::none;
  unsigned unreachable_in_a_row_ = 0;
};

/// One model's request quota. Invariant: while the headers have stated what remains of the
/// current window, no more than that starts before its reset (our own starts since an answer
/// are counted against what it stated; a later answer may lower the count, never raise it
/// within the same window). What remains may start at once: the workers spread it.
class ModelPacer {
 public:
  ModelPacer(PacingSettings settings, PacingClock::time_point now);

  /// A rate stated elsewhere (requests per minute, from /api_keys/rate_limits): paces the model
  /// as a token bucket until its first answer with quota headers. Ignored after that, or when a
  /// rate is configured.
  void seed_rate(double per_minute, PacingClock::time_point now);
  /// If a request costing `cost` units (one per image: a 4-variant request costs 4) may start at
  /// `now`, records the start and returns nullopt; otherwise when to ask again, and why.
  std::optional<PacingWait> try_start(PacingClock::time_point now, unsigned cost = 1);
  /// Feeds back one answer to a request of this model. A failure-lock 429 says nothing about
  /// the quota (the KeyGuard holds for it) and is ignored here.
  void on_answer(PacingClock::time_point now, int status, const RateLimitHeaders& headers, bool failure_lock);

  /// The rate cap in requests per minute (0: none yet); from the headers, limit over the window.
  double current_rate() const;
  /// The stated requests per window, and the window's length as learned from the headers.
  std::optional<std::uint64_t> limit() const { return limit_; }
  std::optional<std::chrono::milliseconds> window() const;
  /// What remains of the current window by our count (nullopt: the headers have not said).
  std::optional<std::int64_t> remaining(PacingClock::time_point now) const;
  PacingHold hold(PacingClock::time_point now) const;
  std::chrono::milliseconds blocked_for(PacingClock::time_point now) const;
  /// "30/min (12 left)", "60/20s (0 left), waiting 4 s (quota reset)", "20/min", "unpaced".
  std::string describe(PacingClock::time_point now) const;
  /// The same without the wait: "30/min (12 left)".
  std::string describe_limit(PacingClock::time_point now) const;

 private:
  void refill(PacingClock::time_point now);
  void set_rate(double per_minute);
  void block_until(PacingClock::time_point t, PacingHold why);
  void roll_window(PacingClock::time_point now);
  void take_quota(PacingClock::time_point now, const RateLimitHeaders& h);
  void learn_window(PacingClock::time_point now, std::chrono::milliseconds reset_in);
  void adapt(PacingClock::time_point now, int status);
  void record_start(PacingClock::time_point now, unsigned cost);
  std::optional<PacingWait> quota_wait(PacingClock::time_point now, unsigned cost) const;
  std::optional<PacingWait> bucket_wait(PacingClock::time_point now, unsigned cost);
  /// How far past a stated reset a new window is assumed (and how far two resets may differ
  /// and still name the same window).
  std::chrono::milliseconds reset_margin() const;
  bool adaptive() const { return !follows_headers_ && settings_.requests_per_minute <= 0; }
  double observed_per_minute(PacingClock::time_point now) const;

  PacingSettings settings_;
  // Token bucket: the configured rate, else a seeded one until the headers speak, else AIMD's.
  double rate_per_minute_ = 0;  ///< 0: no bucket
  double tokens_ = 0;
  PacingClock::time_point last_refill_;
  // The quota as the headers state it.
  std::optional<std::uint64_t> limit_;
  bool follows_headers_ = false;          ///< an answer stated what remains: the headers decide
  std::int64_t left_ = 0;                 ///< what remains of the current window, by our count
  std::optional<PacingClock::time_point> reset_at_;  ///< the current window's end (none: unknown)
  bool window_opens_with_next_start_ = false;        ///< the window rolled over; the next start opens one
  bool reset_assumed_ = false;                       ///< reset_at_ is ours (first start + window), not stated
  std::chrono::milliseconds reset_granularity_{0};
  std::optional<PacingClock::time_point> last_stated_reset_;
  std::chrono::milliseconds longest_reset_in_{0};     ///< a window is at least this long
  std::optional<std::chrono::milliseconds> shortest_rollover_;  ///< and at most this (reset jumps)
  PacingClock::time_point last_quota_event_{};        ///< last start or answer (probing without a reset)
  // A 429's hold.
  PacingClock::time_point blocked_until_{};
  PacingHold blocked_why_ = PacingHold::none;
  // AIMD without headers.
  PacingClock::time_point last_decrease_{};
  std::deque<std::pair<PacingClock::time_point, unsigned>> recent_starts_;
  std::uint64_t recent_cost_ = 0;
};

/// One KeyGuard and one ModelPacer: every model paced as one (the run before Admission).
class Pacer {
 public:
  Pacer(PacingSettings settings, PacingClock::time_point now) : key_(settings), quota_(settings, now) {}

  /// nullopt: the request may start (recorded); else the earliest time to ask again.
  std::optional<PacingClock::time_point> try_start(PacingClock::time_point now, unsigned cost = 1) {
    if (auto w = key_.wait(now)) return w->until;
    if (auto w = quota_.try_start(now, cost)) return w->until;
    return std::nullopt;
  }
  /// See KeyGuard::on_answer and ModelPacer::on_answer.
  void on_answer(PacingClock::time_point now, int status, const RateLimitHeaders& headers, bool failure_lock,
                 bool request_sent) {
    key_.on_answer(now, status, headers, failure_lock, request_sent);
    quota_.on_answer(now, status, headers, failure_lock);
  }
  void on_unreachable(PacingClock::time_point now) { key_.on_unreachable(now); }

  double current_rate() const { return quota_.current_rate(); }
  PacingHold hold(PacingClock::time_point now) const {
    const auto key = key_.wait(now);
    return key ? key->why : quota_.hold(now);
  }
  /// How long until sending resumes (0 if it is not blocked).
  std::chrono::milliseconds blocked_for(PacingClock::time_point now) const {
    return std::max(key_.blocked_for(now), quota_.blocked_for(now));
  }
  /// "20/min", "20/min (0 left), waiting 12 s (quota reset)", "unpaced".
  std::string describe(PacingClock::time_point now) const {
    if (key_.wait(now)) return quota_.describe_limit(now) + describe_wait(key_.blocked_for(now), hold(now));
    return quota_.describe(now);
  }

 private:
  KeyGuard key_;
  ModelPacer quota_;
};

}  // namespace venice_batch
