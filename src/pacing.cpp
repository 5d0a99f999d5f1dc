#include "venice_batch/pacing.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <string>

#include <fmt/format.h>

namespace venice_batch {
namespace {

using std::chrono::milliseconds;
// Past a stated reset, the next window is assumed open this much later (clocks and networks are
// not exact); two stated resets this close name the same window.
constexpr auto kResetMargin = std::chrono::milliseconds(250);
// Nothing left and no reset stated: how long to wait before one request asks again.
constexpr auto kProbeInterval = std::chrono::milliseconds(1000);
// AIMD without headers: how far back our own pace is measured for the first cut.
constexpr auto kObservedRateSpan = std::chrono::seconds(30);
constexpr auto kDecreaseSpacing = std::chrono::seconds(5);
constexpr double kAdaptiveFloorPerMinute = 10;
constexpr double kDefaultImageRatePerMinute = 20;  // VENICE_API.md: image models' default limit
// Headers that say to wait longer than this are not believed (Retry-After: 999999999): wait
// this long and ask again; at worst one more 429.
constexpr auto kMaxHeaderWait = std::chrono::milliseconds(300000);

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

// "min", "20s", "2min": a window's length for progress lines.
std::string window_name(milliseconds w) {
  const auto secs = (w.count() + 500) / 1000;
  if (secs == 60) return "min";
  if (secs > 0 && secs % 60 == 0) return fmt::format("{}min", secs / 60);
  if (secs > 0) return fmt::format("{}s", secs);
  return fmt::format("{}ms", w.count());
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
      // Whole seconds may have been rounded down: say so, so the pacer allows for it.
      if (*n < 1e12 && *n == std::floor(*n)) h.reset_granularity = milliseconds(1000);
      h.reset_in = capped(ms);
      h.reset_beyond_cap = ms > static_cast<double>(kMaxHeaderWait.count());
    }
  }
  if (auto v = r.header("retry-after"); v) {
    std::optional<double> ms;
    if (auto n = parse_number(*v)) ms = std::min(*n, 1e9) * 1000.0;
    else ms = http_date_delay_ms(*v, now_epoch_ms);
    if (ms) {
      h.retry_after = capped(*ms);
      h.retry_after_beyond_cap = *ms > static_cast<double>(kMaxHeaderWait.count());
    }
  }
  return h;
}

bool refused_for_long(const RateLimitHeaders& h) {
  return h.retry_after ? h.retry_after_beyond_cap : h.reset_beyond_cap;
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

std::string describe_wait(std::chrono::milliseconds wait, PacingHold why) {
  if (wait.count() <= 0) return {};
  return fmt::format(", waiting {} s ({})", (wait.count() + 999) / 1000, to_string(why));
}

// --- KeyGuard ---

std::optional<PacingWait> KeyGuard::wait(PacingClock::time_point now) const {
  std::optional<PacingWait> w;
  if (now < blocked_until_) w = PacingWait{blocked_until_, blocked_why_};
  if (auto until = failure_budget_until(now); until && (!w || *until > w->until))
    w = PacingWait{*until, PacingHold::failure_budget};
  return w;
}

milliseconds KeyGuard::blocked_for(PacingClock::time_point now) const {
  const auto w = wait(now);
  return w ? std::chrono::ceil<milliseconds>(w->until - now) : milliseconds(0);
}

void KeyGuard::on_answer(PacingClock::time_point now, int status, const RateLimitHeaders& h, bool failure_lock,
                         bool request_sent) {
  if (status != 0) unreachable_in_a_row_ = 0;
  const bool success = status >= 200 && status < 300;
  if (!success && (status != 0 || request_sent)) failures_.push_back(now);
  while (!failures_.empty() && failures_.front() <= now - settings_.failure_window) failures_.pop_front();
  if (status == 429 && failure_lock) block_until(now + wait_after_429(h, true), PacingHold::failure_lock);
}

void KeyGuard::on_unreachable(PacingClock::time_point now) {
  const unsigned n = std::min(++unreachable_in_a_row_, 7u);
  block_until(now + std::min(milliseconds(1000LL << (n - 1)), milliseconds(60000)), PacingHold::unreachable);
}

void KeyGuard::block_until(PacingClock::time_point t, PacingHold why) {
  if (t > blocked_until_) {
    blocked_until_ = t;
    blocked_why_ = why;
  }
}

std::optional<PacingClock::time_point> KeyGuard::failure_budget_until(PacingClock::time_point now) const {
  if (settings_.max_failures == 0) return std::nullopt;
  // Failures still in the window; sending resumes once fewer than max_failures remain in it.
  const auto first = std::upper_bound(failures_.begin(), failures_.end(), now - settings_.failure_window);
  const auto in_window = static_cast<std::size_t>(failures_.end() - first);
  if (in_window < settings_.max_failures) return std::nullopt;
  return *(first + static_cast<std::ptrdiff_t>(in_window - settings_.max_failures)) + settings_.failure_window;
}

// --- ModelPacer: one model's quota ---

ModelPacer::ModelPacer(PacingSettings settings, PacingClock::time_point now) : settings_(settings), last_refill_(now) {
  if (settings_.burst < 1) settings_.burst = 1;
  if (settings_.requests_per_minute > 0) set_rate(settings_.requests_per_minute);
  tokens_ = settings_.burst;
}

void ModelPacer::seed_rate(double per_minute, PacingClock::time_point now) {
  if (per_minute <= 0 || follows_headers_ || settings_.requests_per_minute > 0) return;
  refill(now);
  set_rate(per_minute);
}

void ModelPacer::set_rate(double per_minute) { rate_per_minute_ = std::max(per_minute, 0.1); }

void ModelPacer::refill(PacingClock::time_point now) {
  if (now <= last_refill_) return;
  const double elapsed_min = std::chrono::duration<double>(now - last_refill_).count() / 60.0;
  tokens_ = std::min<double>(settings_.burst, tokens_ + elapsed_min * rate_per_minute_);
  last_refill_ = now;
}

void ModelPacer::block_until(PacingClock::time_point t, PacingHold why) {
  if (t > blocked_until_) {
    blocked_until_ = t;
    blocked_why_ = why;
  }
}

milliseconds ModelPacer::reset_margin() const { return kResetMargin + reset_granularity_; }

std::optional<milliseconds> ModelPacer::window() const {
  if (shortest_rollover_) return std::max(*shortest_rollover_, longest_reset_in_);
  if (longest_reset_in_.count() > 0) return longest_reset_in_;
  return std::nullopt;
}

std::optional<PacingWait> ModelPacer::try_start(PacingClock::time_point now, unsigned cost) {
  cost = std::max(cost, 1u);
  if (now < blocked_until_) return PacingWait{blocked_until_, blocked_why_};
  roll_window(now);
  if (auto w = quota_wait(now, cost)) return w;
  if (auto w = bucket_wait(now, cost)) return w;
  record_start(now, cost);
  return std::nullopt;
}

// Past the stated reset (and the margin) the window is over: all of the limit remains, and the
// next window is taken to open with our next start. That is the latest it can open, so its
// assumed end is never before the real one; the next answer states the real one.
void ModelPacer::roll_window(PacingClock::time_point now) {
  if (!follows_headers_ || !reset_at_ || now < *reset_at_ + reset_margin()) return;
  left_ = limit_ ? static_cast<std::int64_t>(*limit_) : 1;  // no limit stated: one request asks
  reset_at_.reset();
  reset_assumed_ = false;
  window_opens_with_next_start_ = true;
}

std::optional<PacingWait> ModelPacer::quota_wait(PacingClock::time_point now, unsigned cost) const {
  if (!follows_headers_) return std::nullopt;
  // A request costing more than the whole limit could never start: it goes alone in a fresh window.
  const bool whole_window_left = limit_ && left_ > 0 && left_ >= static_cast<std::int64_t>(*limit_);
  if (left_ >= static_cast<std::int64_t>(cost) || whole_window_left) return std::nullopt;
  if (reset_at_) return PacingWait{*reset_at_ + reset_margin(), PacingHold::quota_reset};
  // Nothing left and no reset stated: one request a while after the last start or answer asks.
  const auto probe = last_quota_event_ + kProbeInterval;
  if (now >= probe) return std::nullopt;
  return PacingWait{probe, PacingHold::quota_reset};
}

std::optional<PacingWait> ModelPacer::bucket_wait(PacingClock::time_point now, unsigned cost) {
  if (rate_per_minute_ <= 0) return std::nullopt;
  refill(now);
  // Up to the bucket's size in tokens must be there; a costlier request leaves a debt that
  // later requests wait out, so the long-run rate stays what it is.
  const double need = std::min<double>(cost, settings_.burst);
  if (tokens_ >= need) return std::nullopt;
  const auto wait = std::chrono::duration<double>((need - tokens_) / rate_per_minute_ * 60.0);
  return PacingWait{now + std::max(std::chrono::duration_cast<PacingClock::duration>(wait), PacingClock::duration(1)),
                    PacingHold::rate};
}

void ModelPacer::record_start(PacingClock::time_point now, unsigned cost) {
  if (rate_per_minute_ > 0) tokens_ -= cost;
  if (follows_headers_) {
    left_ -= cost;
    last_quota_event_ = now;
    if (window_opens_with_next_start_) {
      if (auto w = window()) reset_at_ = now + *w;
      reset_assumed_ = reset_at_.has_value();
      window_opens_with_next_start_ = false;
    }
  }
  recent_starts_.emplace_back(now, cost);
  recent_cost_ += cost;
  while (recent_starts_.front().first <= now - kObservedRateSpan) {
    recent_cost_ -= recent_starts_.front().second;
    recent_starts_.pop_front();
  }
}

void ModelPacer::on_answer(PacingClock::time_point now, int status, const RateLimitHeaders& h, bool failure_lock) {
  if (failure_lock) return;
  take_quota(now, h);
  if (status == 429) {
    milliseconds wait = wait_after_429(h, false);
    if (wait.count() <= 0) wait = milliseconds(1000);
    block_until(now + wait, PacingHold::rate_limited);
    if (follows_headers_ && !h.remaining) left_ = std::min<std::int64_t>(left_, 0);  // refused: nothing left
  }
  if (adaptive()) adapt(now, status);
}

void ModelPacer::take_quota(PacingClock::time_point now, const RateLimitHeaders& h) {
  if (h.limit && *h.limit > 0) limit_ = *h.limit;
  if (!h.remaining) return;  // a limit alone says nothing of what is left
  if (!follows_headers_) {
    follows_headers_ = true;  // the headers speak: a seeded or adapted rate gives way
    if (settings_.requests_per_minute <= 0) rate_per_minute_ = 0;
  }
  last_quota_event_ = now;
  const auto stated = static_cast<std::int64_t>(*h.remaining);
  if (!h.reset_in) {
    left_ = stated;
    reset_at_.reset();
    reset_assumed_ = window_opens_with_next_start_ = false;
    return;
  }
  if (h.reset_in->count() <= 0) return;  // stated for a window that is already over
  reset_granularity_ = h.reset_granularity;
  learn_window(now, *h.reset_in);
  const auto reset = now + *h.reset_in;
  // Within one window what remains only goes down: an answer stated before our latest starts
  // must not give them back. After a rollover our count runs from our first start, so every
  // answer is for that window; otherwise a reset well after the stated one is a new window.
  const bool same_window = window_opens_with_next_start_ || reset_assumed_ ||
                           (reset_at_ && reset <= *reset_at_ + reset_margin());
  left_ = same_window ? std::min(left_, stated) : stated;
  reset_at_ = reset;
  reset_assumed_ = window_opens_with_next_start_ = false;
}

// The window's length: at least the longest reset_in stated, at most the smallest jump of the
// reset time when a window rolled over (both are exact for a window that starts on time).
void ModelPacer::learn_window(PacingClock::time_point now, milliseconds reset_in) {
  const auto reset = now + reset_in;
  longest_reset_in_ = std::max(longest_reset_in_, reset_in);
  if (last_stated_reset_ && *last_stated_reset_ <= now + reset_margin() &&
      reset > *last_stated_reset_ + reset_margin()) {
    const auto jump = std::chrono::ceil<milliseconds>(reset - *last_stated_reset_);
    shortest_rollover_ = std::min(shortest_rollover_.value_or(jump), jump);
  }
  if (!last_stated_reset_ || reset > *last_stated_reset_) last_stated_reset_ = reset;
}

// No quota headers: cut the rate on a 429 (at most once per 5 s, so that a burst of 429s from
// requests already in flight counts as one signal), never below a floor: one or two samples must
// not collapse a run to a request every few seconds. Each success adds a tenth (at least two a
// minute): back to the old rate within a few seconds' worth of 200s once the API stops refusing.
void ModelPacer::adapt(PacingClock::time_point now, int status) {
  if (status == 429 && now - last_decrease_ >= kDecreaseSpacing) {
    const double base = rate_per_minute_ > 0 ? rate_per_minute_ : observed_per_minute(now);
    refill(now);
    set_rate(std::max(kAdaptiveFloorPerMinute, base / 2.0));
    tokens_ = std::min(tokens_, 0.0);
    last_decrease_ = now;
  } else if (status >= 200 && status < 300 && rate_per_minute_ > 0) {
    refill(now);
    set_rate(rate_per_minute_ + std::max(2.0, rate_per_minute_ * 0.1));
  }
}

double ModelPacer::observed_per_minute(PacingClock::time_point now) const {
  // Our own starts lately, per minute; with too few samples to say, the API's documented
  // default for image models.
  if (recent_starts_.size() < 4) return kDefaultImageRatePerMinute;
  const double span_s = std::max(std::chrono::duration<double>(now - recent_starts_.front().first).count(), 1.0);
  return std::max(static_cast<double>(recent_cost_) * 60.0 / span_s, kDefaultImageRatePerMinute);
}

double ModelPacer::current_rate() const {
  double r = rate_per_minute_;
  const auto w = window();
  if (follows_headers_ && limit_ && w && w->count() > 0) {
    const double stated = static_cast<double>(*limit_) * 60000.0 / static_cast<double>(w->count());
    r = r > 0 ? std::min(r, stated) : stated;
  }
  return r;
}

std::optional<std::int64_t> ModelPacer::remaining(PacingClock::time_point now) const {
  if (!follows_headers_) return std::nullopt;
  if (reset_at_ && now >= *reset_at_ + reset_margin()) return limit_ ? std::optional<std::int64_t>(*limit_) : std::nullopt;
  return std::max<std::int64_t>(left_, 0);
}

PacingHold ModelPacer::hold(PacingClock::time_point now) const {
  if (now < blocked_until_) return blocked_why_;
  if (auto w = quota_wait(now, 1); w && w->until > now) return w->why;
  return PacingHold::none;
}

milliseconds ModelPacer::blocked_for(PacingClock::time_point now) const {
  auto until = blocked_until_;
  if (auto w = quota_wait(now, 1)) until = std::max(until, w->until);
  if (until <= now) return milliseconds(0);
  return std::chrono::ceil<milliseconds>(until - now);
}

std::string ModelPacer::describe_limit(PacingClock::time_point now) const {
  const auto w = window();
  if (follows_headers_ && limit_ && w) {
    const auto left = remaining(now).value_or(0);
    return fmt::format("{}/{} ({} left)", *limit_, window_name(*w), left);
  }
  if (follows_headers_) return fmt::format("{} left", remaining(now).value_or(0));
  const double r = current_rate();
  return r > 0 ? fmt::format("{}/min", std::lround(r)) : std::string("unpaced");
}

std::string ModelPacer::describe(PacingClock::time_point now) const {
  return describe_limit(now) + describe_wait(blocked_for(now), hold(now));
}

}  // namespace venice_batch
