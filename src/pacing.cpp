#include "venice_batch/pacing.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <string>

namespace venice_batch {
namespace {

using std::chrono::milliseconds;
constexpr auto kMinute = std::chrono::seconds(60);
// Headers that say to wait longer than this are not believed (Retry-After: 999999999): wait
// this long and ask again; at worst one more 429.
constexpr auto kMaxHeaderWait = std::chrono::milliseconds(300000);
constexpr auto kDecreaseSpacing = std::chrono::seconds(5);
constexpr double kAdaptiveFloorPerMinute = 10;
constexpr double kDefaultImageRatePerMinute = 20;  // VENICE_API.md: image models' default limit

// Retry-After as an HTTP-date (RFC 9110 10.2.3, IMF-fixdate): the delay from `now_epoch_ms`.
std::optional<double> http_date_delay_ms(std::string_view v, std::int64_t now_epoch_ms) {
  std::tm tm{};
  const std::string text(v);
  const char* end = ::strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0') return std::nullopt;
  const std::time_t t = ::timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return static_cast<double>(t) * 1000.0 - static_cast<double>(now_epoch_ms);
}

milliseconds capped(double ms) {
  return milliseconds(static_cast<std::int64_t>(std::clamp(ms, 0.0, static_cast<double>(kMaxHeaderWait.count()))));
}

std::optional<double> parse_number(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v) || v < 0) return std::nullopt;
  return v;
}

}  // namespace

RateLimitHeaders parse_rate_limit_headers(const HttpResponse& r, std::int64_t now_epoch_ms) {
  RateLimitHeaders h;
  if (auto v = r.header("x-ratelimit-limit-requests"); v)
    if (auto n = parse_number(*v)) h.limit = static_cast<std::uint64_t>(*n);
  if (auto v = r.header("x-ratelimit-remaining-requests"); v)
    if (auto n = parse_number(*v)) h.remaining = static_cast<std::uint64_t>(*n);
  if (auto v = r.header("x-ratelimit-reset-requests"); v) {
    if (auto n = parse_number(*v)) {
      // The docs say "Unix timestamp"; the wire has shown 13-digit milliseconds. Go by magnitude.
      double ms;
      if (*n >= 1e12) ms = *n - static_cast<double>(now_epoch_ms);
      else if (*n >= 1e9) ms = *n * 1000.0 - static_cast<double>(now_epoch_ms);
      else ms = *n * 1000.0;
      h.reset_in = capped(ms);
    }
  }
  if (auto v = r.header("retry-after"); v) {
    if (auto n = parse_number(*v)) h.retry_after = capped(std::min(*n, 1e9) * 1000.0);
    else if (auto d = http_date_delay_ms(*v, now_epoch_ms)) h.retry_after = capped(*d);
  }
  return h;
}

std::chrono::milliseconds wait_after_429(const RateLimitHeaders& h, bool failure_lock) {
  if (failure_lock) return std::max(h.retry_after.value_or(milliseconds(0)), kFailureLockWait);
  if (h.retry_after) return *h.retry_after;
  return h.reset_in.value_or(milliseconds(0));
}

PacingSettings pacing_settings_from(const Config& c) {
  PacingSettings p;
  p.requests_per_minute = c.requests_per_minute;
  p.burst = c.burst;
  p.failure_window = c.failure_budget.window;
  p.max_failures = c.failure_budget.max_failures;
  return p;
}

std::string to_string(PacingHold h) {
  switch (h) {
    case PacingHold::none: return "none";
    case PacingHold::rate: return "rate";
    case PacingHold::quota_reset: return "quota reset";
    case PacingHold::rate_limited: return "429";
    case PacingHold::failure_budget: return "failure budget";
    case PacingHold::failure_lock: return "failure lock";
    case PacingHold::unreachable: return "API unreachable";
  }
  return "none";
}

Pacer::Pacer(PacingSettings settings, PacingClock::time_point now) : settings_(settings), last_refill_(now) {
  if (settings_.burst < 1) settings_.burst = 1;
  if (settings_.requests_per_minute > 0) set_rate(settings_.requests_per_minute);
  tokens_ = settings_.burst;
}

void Pacer::set_rate(double per_minute) { rate_per_minute_ = std::max(per_minute, 0.1); }

void Pacer::refill(PacingClock::time_point now) {
  if (now <= last_refill_) return;
  const double elapsed_min = std::chrono::duration<double>(now - last_refill_).count() / 60.0;
  tokens_ = std::min<double>(settings_.burst, tokens_ + elapsed_min * rate_per_minute_);
  last_refill_ = now;
}

void Pacer::forget_old(PacingClock::time_point now) {
  while (!starts_.empty() && starts_.front().first <= now - kMinute) {
    window_used_ -= starts_.front().second;
    starts_.pop_front();
  }
  while (!failures_.empty() && failures_.front() <= now - settings_.failure_window) failures_.pop_front();
}

void Pacer::block_until(PacingClock::time_point t, PacingHold why) {
  if (t > blocked_until_) {
    blocked_until_ = t;
    blocked_why_ = why;
  }
}

std::optional<PacingClock::time_point> Pacer::try_start(PacingClock::time_point now, unsigned cost) {
  forget_old(now);
  cost = std::max(cost, 1u);
  if (now < blocked_until_) return blocked_until_;
  // Failure budget: keep our own non-2xx count in the window below the API's lock threshold.
  if (auto until = failure_budget_until()) return *until;
  // Never start a minute faster than the API's stated limit.
  // A request costing more than the whole limit could never start: let it go alone in a window.
  if (window_limit_ && *window_limit_ > 0 && window_used_ > 0 && window_used_ + cost > *window_limit_) {
    // Wait until enough of the window's oldest starts have aged out.
    std::uint64_t freed = 0;
    for (const auto& [t, c] : starts_) {
      freed += c;
      if (window_used_ - freed + cost <= *window_limit_) return t + kMinute;
    }
    return starts_.back().first + kMinute;
  }
  if (rate_per_minute_ > 0) {
    refill(now);
    // Up to the bucket's size in tokens must be there; a costlier request leaves a debt that
    // later requests wait out, so the long-run rate stays what it is.
    const double need = std::min<double>(cost, settings_.burst);
    if (tokens_ < need) {
      const double missing = need - tokens_;
      const auto wait = std::chrono::duration<double>(missing / rate_per_minute_ * 60.0);
      return now + std::max(std::chrono::duration_cast<PacingClock::duration>(wait), PacingClock::duration(1));
    }
    tokens_ -= cost;
  }
  starts_.emplace_back(now, cost);
  window_used_ += cost;
  return std::nullopt;
}

void Pacer::on_answer(PacingClock::time_point now, int status, const RateLimitHeaders& h, bool failure_lock,
                      bool request_sent) {
  forget_old(now);
  if (status != 0) unreachable_in_a_row_ = 0;
  const bool success = status >= 200 && status < 300;
  if (!success && (status != 0 || request_sent)) failures_.push_back(now);

  if (h.limit && *h.limit > 0) {
    window_limit_ = *h.limit;
    if (settings_.requests_per_minute <= 0 && (!learned_ || std::abs(rate_per_minute_ - *h.limit) > 0.5)) {
      // Learn the rate from the headers; refill from here so the change is smooth.
      refill(now);
      set_rate(static_cast<double>(*h.limit));
      learned_ = true;
    }
  }
  if (h.remaining && *h.remaining == 0) {
    block_until(now + h.reset_in.value_or(milliseconds(1000)), PacingHold::quota_reset);
  }
  if (status == 429) {
    milliseconds wait = wait_after_429(h, failure_lock);
    const PacingHold why = failure_lock ? PacingHold::failure_lock : PacingHold::rate_limited;
    if (wait.count() <= 0) wait = milliseconds(1000);
    block_until(now + wait, why);
    // No quota headers to go by: adapt. Cut the rate (at most once per 5 s, so that a burst
    // of 429s from requests already in flight counts as one signal), never below a floor:
    // one or two samples must not collapse a run to a request every few seconds.
    if (!learned_ && settings_.requests_per_minute <= 0 && now - last_decrease_ >= kDecreaseSpacing) {
      const double base = rate_per_minute_ > 0 ? rate_per_minute_ : observed_per_minute(now);
      refill(now);
      set_rate(std::max(kAdaptiveFloorPerMinute, base / 2.0));
      tokens_ = std::min(tokens_, 0.0);
      last_decrease_ = now;
    }
  } else if (success && !learned_ && settings_.requests_per_minute <= 0 && rate_per_minute_ > 0) {
    // Increase by a tenth (at least two a minute) for each success: back to the old rate within
    // a few seconds' worth of 200s once the API stops refusing.
    refill(now);
    set_rate(rate_per_minute_ + std::max(2.0, rate_per_minute_ * 0.1));
  }
}

double Pacer::observed_per_minute(PacingClock::time_point now) const {
  // Starts in the last minute, scaled up when the run is younger than a minute; with too few
  // samples to say, the API's documented default for image models.
  if (starts_.size() < 4) return kDefaultImageRatePerMinute;
  const double span_min = std::max(std::chrono::duration<double>(now - starts_.front().first).count(), 1.0) / 60.0;
  return std::max(static_cast<double>(window_used_) / span_min, kDefaultImageRatePerMinute);
}

void Pacer::on_unreachable(PacingClock::time_point now) {
  const unsigned n = std::min(++unreachable_in_a_row_, 7u);
  block_until(now + std::min(milliseconds(1000LL << (n - 1)), milliseconds(60000)), PacingHold::unreachable);
}

std::optional<PacingClock::time_point> Pacer::failure_budget_until() const {
  if (settings_.max_failures == 0 || failures_.size() < settings_.max_failures) return std::nullopt;
  return failures_.front() + settings_.failure_window;  // when the oldest failure leaves the window
}

PacingHold Pacer::hold(PacingClock::time_point now) const {
  if (now < blocked_until_) return blocked_why_;
  if (auto until = failure_budget_until(); until && *until > now) return PacingHold::failure_budget;
  return PacingHold::none;
}

std::chrono::milliseconds Pacer::blocked_for(PacingClock::time_point now) const {
  auto until = blocked_until_;
  if (auto budget = failure_budget_until()) until = std::max(until, *budget);
  if (until <= now) return milliseconds(0);
  return std::chrono::duration_cast<milliseconds>(until - now);
}

std::string Pacer::describe(PacingClock::time_point now) const {
  std::string s = rate_per_minute_ > 0 ? std::to_string(static_cast<long>(std::lround(rate_per_minute_))) + "/min"
                                       : std::string("unpaced");
  auto blocked = blocked_for(now);
  if (blocked.count() > 0) {
    s += ", waiting " + std::to_string((blocked.count() + 999) / 1000) + " s (" + to_string(hold(now)) + ")";
  }
  return s;
}

}  // namespace venice_batch
