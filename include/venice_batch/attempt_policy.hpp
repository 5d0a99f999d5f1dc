// The attempt policy: from one attempt's outcome (transport error, HTTP status
// and headers, what decoding the answer gave) and the attempt number, the next
// step for the job -- done, retry after a wait, fail, pause the whole run, or
// stop it -- and what the pacer learns. Every retry class of VENICE_API.md is
// one table here (classify_status) and nowhere else. No I/O, no clock: handed
// `now` and an injected random source, like the Pacer.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "venice_batch/config.hpp"
#include "venice_batch/pacing.hpp"
#include "venice_batch/transport_error.hpp"

namespace venice_batch {

/// What an HTTP status means for a job (VENICE_API.md, "Errors" and "In front of the API").
enum class StatusClass {
  success,          ///< 2xx
  invalid_request,  ///< 400, 403, 404, 410, 413, 415 and other 4xx: do not retry
  content_policy,   ///< 422, the older content-policy answer: recorded, not retried
  key_refused,      ///< 401: stop the run
  payment_required, ///< 402: stop the run
  rate_limited,     ///< 429: retry after the right wait
  transient,        ///< 408, 500, 502, 503, 504, 521, 522, 523 and other 5xx: backoff + jitter
  transient_maybe_billed,  ///< 520, 524 (Cloudflare: the origin may have done the work)
};
StatusClass classify_status(int status);

/// What became of a 200's body (decoded off the io thread by the sink stage).
enum class BodyOutcome { not_read, stored, content_violation, bad_response, write_failed };

/// Everything the policy needs to know about one attempt.
struct AttemptOutcome {
  TransportError transport = TransportError::none;  ///< none when an HTTP answer arrived
  std::string transport_message;
  bool request_sent = false;     ///< the request reached the wire
  unsigned stale_resends = 0;    ///< POSTs written on a dead keep-alive connection and sent again
  int http_status = 0;           ///< 0: no answer
  RateLimitHeaders limits;
  bool failure_lock = false;     ///< the 429 is the API's failure lock ("Too many failed attempts")
  std::string api_message;       ///< the error body's message, for the user
  BodyOutcome body = BodyOutcome::not_read;
  std::string body_error_kind;   ///< for bad_response / write_failed: "invalid_base64", ...
  std::string body_error_message;
  bool body_retryable = true;    ///< a bad_response another request may fix
};

enum class NextStep {
  done,            ///< the job ended well: images stored, or a content violation recorded
  retry,           ///< send it again after `wait`
  fail,            ///< the job failed (for now: `retryable_later` says if a later run retries it)
  pause,           ///< nothing reached the API: not an attempt; the pacer holds every job back
  stop_run,        ///< the whole run must stop (`exit_status`, `reason`); this job fails retryable
};

/// What the pacer learns from an attempt.
struct PacerFeedback {
  enum class Kind { none, answer, unreachable } kind = Kind::none;
  int status = 0;
  bool failure_lock = false;
  bool request_sent = false;
};

struct AttemptDecision {
  NextStep step = NextStep::fail;
  std::string cause;            ///< "ok", "content_violation", "http_503", "failure_lock", "timeout", ...
  std::string message;          ///< for the user, when the job fails or the run stops
  std::chrono::milliseconds wait{0};  ///< before the next attempt (retry only)
  bool content_violation = false;     ///< done as a content violation (no image, no charge)
  bool retryable_later = false;       ///< fail / stop_run: a later run retries the job without --retry-failed
  /// "May have been billed twice": the outcome is unknown (sent, then the answer was lost, cut,
  /// timed out, or thrown away; or a 520/524) and the job goes again, or the POST was re-sent
  /// after a stale keep-alive failed. The one definition; summary, metrics and report use it.
  bool maybe_billed_twice = false;
  /// How many POSTs of this attempt may have been billed beyond the one that counts: each stale
  /// keep-alive resend, plus one when the outcome is unknown and the job goes again. The run's
  /// "may have been billed twice" total adds these up (one attempt can hold several resends).
  unsigned maybe_billed_posts = 0;
  int exit_status = 0;                ///< stop_run: the run's exit status
  PacerFeedback pacer;
};

/// Uniform in [0, 1): the source of jitter (tests inject a fixed sequence).
using RandomSource = std::function<double()>;

class AttemptPolicy {
 public:
  /// `max_outage`: how long the API may stay unreachable before the run stops (exit 3).
  AttemptPolicy(RetryPolicy retry, std::chrono::milliseconds max_outage, RandomSource random);

  /// The next step after attempt number `attempt` (1-based; pauses do not count) ended with
  /// `outcome` at `now`. `stopping`: the run is stopping, so nothing is retried now.
  AttemptDecision decide(const AttemptOutcome& outcome, unsigned attempt, bool stopping, PacingClock::time_point now);

  /// Exponential backoff with full jitter before attempt `attempt + 1`:
  /// uniform in [0, min(max_delay, base_delay * 2^(attempt-1))].
  std::chrono::milliseconds backoff(unsigned attempt);

  /// Since when the API has been unreachable (nullopt while it answers).
  std::optional<PacingClock::time_point> outage_since() const { return outage_since_; }

 private:
  AttemptDecision decide_transport(const AttemptOutcome& o, PacingClock::time_point now);
  AttemptDecision decide_status(const AttemptOutcome& o);
  AttemptDecision decide_body(const AttemptOutcome& o);
  void finish_retryable(AttemptDecision& d, const AttemptOutcome& o, unsigned attempt, bool stopping,
                        std::chrono::milliseconds min_wait);

  RetryPolicy retry_;
  std::chrono::milliseconds max_outage_;
  RandomSource random_;
  std::optional<PacingClock::time_point> outage_since_;
};

/// What the start-up check (one GET /api_keys/rate_limits before any job) means for the run.
struct StartupVerdict {
  bool proceed = true;
  int exit_status = 0;   ///< when !proceed
  std::string message;   ///< why it stops, or a warning when it proceeds
};
StartupVerdict judge_startup_check(TransportError transport, const std::string& transport_message, int http_status,
                                   const std::string& api_message);

}  // namespace venice_batch
