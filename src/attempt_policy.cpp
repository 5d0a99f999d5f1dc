#include "venice_batch/attempt_policy.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "venice_batch/exit_status.hpp"

namespace venice_batch {

using std::chrono::milliseconds;

StatusClass classify_status(int status) {
  if (status >= 200 && status < 300) return StatusClass::success;
  switch (status) {
    case 401: return StatusClass::key_refused;
    case 402: return StatusClass::payment_required;
    case 408: return StatusClass::transient;
    case 422: return StatusClass::content_policy;
    case 429: return StatusClass::rate_limited;
    case 520:
    case 524: return StatusClass::transient_maybe_billed;
    default: break;
  }
  if (status >= 500 && status < 600) return StatusClass::transient;  // 500-504, 521-523, ...
  return StatusClass::invalid_request;  // 400, 403, 404, 410, 413, 415, other 4xx, 3xx
}

AttemptPolicy::AttemptPolicy(RetryPolicy retry, milliseconds max_outage, RandomSource random)
    : retry_(retry), max_outage_(max_outage), random_(std::move(random)) {}

milliseconds AttemptPolicy::backoff(unsigned attempt) {
  double ceiling = static_cast<double>(retry_.base_delay.count()) * std::pow(2.0, std::min(attempt, 31u) - 1);
  ceiling = std::min(ceiling, static_cast<double>(retry_.max_delay.count()));
  const double u = std::clamp(random_ ? random_() : 0.5, 0.0, 1.0);
  return milliseconds(static_cast<std::int64_t>(u * ceiling));
}

AttemptDecision AttemptPolicy::decide(const AttemptOutcome& o, unsigned attempt, bool stopping,
                                      PacingClock::time_point now) {
  AttemptDecision d;
  if (o.transport != TransportError::none) {
    d = decide_transport(o, now);
  } else {
    outage_since_.reset();  // an answer ends any outage
    d = classify_status(o.http_status) == StatusClass::success ? decide_body(o) : decide_status(o);
    d.pacer = {PacerFeedback::Kind::answer, o.http_status, o.failure_lock, true};
  }
  if (d.step == NextStep::retry) {
    milliseconds min_wait{0};
    if (o.http_status == 429) min_wait = wait_after_429(o.limits, o.failure_lock);
    finish_retryable(d, o, attempt, stopping, min_wait);
  }
  d.maybe_billed_posts = d.maybe_billed_twice ? 1 : 0;
  // The POST was written on a connection the server had closed, then sent again (as often as
  // that happened): each earlier one may have reached the API.
  if (o.stale_resends > 0) d.maybe_billed_twice = true;
  d.maybe_billed_posts += o.stale_resends;
  return d;
}

AttemptDecision AttemptPolicy::decide_transport(const AttemptOutcome& o, PacingClock::time_point now) {
  AttemptDecision d;
  d.cause = std::string(to_string(o.transport));
  d.message = o.transport_message;
  if (o.transport == TransportError::cancelled) {
    d.step = NextStep::fail;
    d.cause = "cancelled";
    d.retryable_later = true;
    return d;
  }
  if (o.transport == TransportError::unsupported_encoding) {
    // The server answered in a coding we cannot read: it would again. Not retried in this run;
    // a later run (with --no-compression, or after an upgrade) does it.
    d.step = NextStep::fail;
    d.retryable_later = true;
    d.pacer = {PacerFeedback::Kind::answer, 0, false, true};
    return d;
  }
  if (o.transport == TransportError::head_too_large) {
    // A head that large would be again (an answer's headers do not change by asking twice):
    // not retried in this run, where each try would be paid and thrown away.
    d.step = NextStep::fail;
    d.retryable_later = true;
    d.pacer = {PacerFeedback::Kind::answer, 0, false, true};
    return d;
  }
  if (o.transport == TransportError::body_too_large) {
    // An answer over max_response_mb would be again: asking again pays again for an answer that
    // is thrown away. Not retried in this run; a later one (with a higher max_response_mb) does it.
    d.step = NextStep::fail;
    d.retryable_later = true;
    d.message = fmt::format("{} (raise max_response_mb to keep such answers)", o.transport_message);
    d.pacer = {PacerFeedback::Kind::answer, 0, false, true};
    return d;
  }
  if (o.transport == TransportError::certificate_rejected) {
    d.step = NextStep::stop_run;
    d.exit_status = exit_stopped;
    d.retryable_later = true;  // fix the trust setup and run again
    d.message = fmt::format("the server's certificate was refused ({}); pass the right --ca-file or check --base-url",
                            o.transport_message);
    return d;
  }
  if (!o.request_sent) {
    // Nothing reached the API (resolve, connect or TLS failed or timed out): not an attempt at
    // the job. The whole run pauses until the API answers, but never for longer than max_outage.
    d.cause = "unreachable";
    d.pacer = {PacerFeedback::Kind::unreachable, 0, false, false};
    if (!outage_since_) outage_since_ = now;
    if (now - *outage_since_ >= max_outage_) {
      d.step = NextStep::stop_run;
      d.exit_status = exit_stopped;
      d.retryable_later = true;
      d.message = fmt::format("the API has been unreachable for {} min ({}); run the same command again to resume",
                              std::chrono::duration_cast<std::chrono::minutes>(now - *outage_since_).count(),
                              o.transport_message);
      return d;
    }
    d.step = NextStep::pause;
    return d;
  }
  // Sent, then the answer was lost, cut short, unreadable or timed out: retry.
  d.pacer = {PacerFeedback::Kind::answer, 0, false, true};
  d.step = NextStep::retry;
  return d;
}

AttemptDecision AttemptPolicy::decide_status(const AttemptOutcome& o) {
  AttemptDecision d;
  const int status = o.http_status;
  d.cause = o.failure_lock ? "failure_lock" : fmt::format("http_{}", status);
  d.message = o.api_message.empty() ? fmt::format("HTTP {}", status) : fmt::format("HTTP {}: {}", status, o.api_message);
  switch (classify_status(status)) {
    case StatusClass::content_policy:
      d.step = NextStep::done;
      d.content_violation = true;
      break;
    case StatusClass::key_refused:
    case StatusClass::payment_required:
      d.step = NextStep::stop_run;
      d.exit_status = exit_stopped;
      d.retryable_later = true;  // resumable once the key or the balance is fixed
      d.message = status == 401 ? fmt::format("the API refused the key (401): {}", o.api_message)
                                : fmt::format("payment required (402): {}", o.api_message);
      break;
    case StatusClass::rate_limited:
    case StatusClass::transient:
    case StatusClass::transient_maybe_billed:
      d.step = NextStep::retry;
      break;
    case StatusClass::invalid_request:
    case StatusClass::success:
      d.step = NextStep::fail;
      break;
  }
  return d;
}

AttemptDecision AttemptPolicy::decide_body(const AttemptOutcome& o) {
  AttemptDecision d;
  switch (o.body) {
    case BodyOutcome::stored:
      d.step = NextStep::done;
      d.cause = "ok";
      return d;
    case BodyOutcome::content_violation:
      d.step = NextStep::done;
      d.cause = "content_violation";
      d.content_violation = true;
      return d;
    case BodyOutcome::write_failed:
      d.step = NextStep::stop_run;
      d.exit_status = exit_stopped;
      d.retryable_later = true;
      d.cause = o.body_error_kind.empty() ? "write_failed" : o.body_error_kind;
      d.message = fmt::format("{}; stopping so no more requests are wasted", o.body_error_message);
      return d;
    case BodyOutcome::bad_response:
    case BodyOutcome::not_read:
      break;
  }
  d.cause = o.body_error_kind.empty() ? "bad_response" : o.body_error_kind;
  d.message = o.body_error_message;
  d.step = o.body_retryable ? NextStep::retry : NextStep::fail;
  return d;
}

void AttemptPolicy::finish_retryable(AttemptDecision& d, const AttemptOutcome& o, unsigned attempt, bool stopping,
                                     milliseconds min_wait) {
  if (stopping || attempt >= retry_.max_attempts) {
    d.step = NextStep::fail;
    d.retryable_later = true;  // a later run tries again
    return;
  }
  d.wait = std::max(backoff(attempt), min_wait);
  // The outcome is unknown, or a success (any 2xx: the API did the work) was thrown away: the next
  // attempt may be paid again.
  const StatusClass answer = classify_status(o.http_status);
  const bool answered_with_error = o.transport == TransportError::none && answer != StatusClass::success &&
                                   answer != StatusClass::transient_maybe_billed;
  d.maybe_billed_twice = o.request_sent && !answered_with_error;
}

StartupVerdict judge_startup_check(TransportError transport, const std::string& transport_message, int http_status,
                                   const std::string& api_message) {
  StartupVerdict v;
  auto stop = [&](int status, std::string message) {
    v.proceed = false;
    v.exit_status = status;
    v.message = std::move(message);
    return v;
  };
  switch (transport) {
    case TransportError::none: break;
    case TransportError::resolve_failed:
      return stop(exit_usage, fmt::format("{}; check --base-url", transport_message));
    case TransportError::certificate_rejected:
      return stop(exit_usage, fmt::format("the server's certificate was refused ({}); pass the right --ca-file or "
                                          "check --base-url", transport_message));
    case TransportError::connect_failed:
    case TransportError::tls_failed:
    case TransportError::timeout:
    case TransportError::cancelled:
      return stop(exit_stopped, fmt::format("the API cannot be reached ({}); check --base-url, or run again when it is "
                                            "back", transport_message));
    default:  // it answered something: the run's own retries handle a flaky connection
      v.message = fmt::format("the start-up check got no clean answer ({}); going on", transport_message);
      return v;
  }
  switch (classify_status(http_status)) {
    case StatusClass::success: return v;
    case StatusClass::key_refused: return stop(exit_stopped, fmt::format("the API refused the key (401): {}", api_message));
    case StatusClass::payment_required:
      return stop(exit_stopped, fmt::format("payment required (402): {}", api_message));
    default: break;
  }
  if (http_status == 404 || (http_status >= 300 && http_status < 400))
    return stop(exit_usage, fmt::format("the start-up check answered HTTP {}: is --base-url the API root (ending in "
                                        "/api/v1)?", http_status));
  v.message = fmt::format("the start-up check answered HTTP {}{}{}; going on", http_status,
                          api_message.empty() ? "" : ": ", api_message);
  return v;
}

}  // namespace venice_batch
