#include "venice_batch/admission.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace venice_batch {

Admission::Admission(PacingSettings settings, PacingClock::time_point now)
    : settings_(settings), began_(now), key_(settings) {}

Admission::Model& Admission::model(std::string_view name, PacingClock::time_point now) {
  auto it = models_.find(name);
  if (it == models_.end()) it = models_.emplace(std::string(name), Model{ModelPacer(settings_, now), {}, 0, false}).first;
  return it->second;
}

void Admission::set_model_limits(std::string_view name, std::optional<std::uint64_t> rpm,
                                 std::optional<std::uint64_t> rpd) {
  Model& m = model(name, began_);
  if (rpm && *rpm > 0) m.pacer.seed_rate(static_cast<double>(*rpm), began_);
  m.daily_limit = rpd;
}

AdmitResult Admission::try_start(std::string_view name, PacingClock::time_point now, unsigned cost) {
  Model& m = model(name, now);
  cost = std::max(cost, 1u);
  if (m.capped || (m.daily_limit && m.started + cost > *m.daily_limit)) {
    m.capped = true;
    return {AdmitResult::Kind::daily_cap_reached};
  }
  if (auto w = key_.wait(now)) return {AdmitResult::Kind::wait, w->until, w->why};
  if (auto w = m.pacer.try_start(now, cost)) return {AdmitResult::Kind::wait, w->until, w->why};
  m.started += cost;
  return {AdmitResult::Kind::go};
}

void Admission::on_answer(std::string_view name, PacingClock::time_point now, int status,
                          const RateLimitHeaders& headers, bool failure_lock, bool request_sent) {
  key_.on_answer(now, status, headers, failure_lock, request_sent);
  Model& m = model(name, now);
  m.pacer.on_answer(now, status, headers, failure_lock);
  // Spent for the day, as far as can be told (a model already stopped by its count keeps that reason).
  if (status == 429 && !failure_lock && refused_for_long(headers) && !m.capped) m.capped = m.refused_for_long = true;
}

void Admission::set_started_today(std::string_view name, std::uint64_t requests) {
  model(name, began_).started = requests;
}

std::map<std::string, std::uint64_t, std::less<>> Admission::started_today() const {
  std::map<std::string, std::uint64_t, std::less<>> counts;
  for (const auto& [name, m] : models_)
    if (m.started > 0) counts.emplace(name, m.started);
  return counts;
}

void Admission::start_new_day() {
  for (auto& [name, m] : models_) {
    m.started = 0;
    m.capped = m.refused_for_long = false;
  }
}

bool Admission::daily_cap_reached(std::string_view name) const {
  const auto it = models_.find(name);
  return it != models_.end() && it->second.capped;
}

std::string Admission::daily_stop_reason(std::string_view name) const {
  const auto it = models_.find(name);
  if (it == models_.end() || !it->second.capped) return {};
  const Model& m = it->second;
  if (m.refused_for_long)
    return "the API refused it with a wait over 5 minutes (a 429), read as its daily limit used up on this key";
  if (m.daily_limit)
    return fmt::format("it used its daily request cap ({} of {} today, counted one per image: the next request did "
                       "not fit)",
                       m.started, *m.daily_limit);
  return "it reached its daily request cap";
}

PacingHold Admission::hold(PacingClock::time_point now) const {
  const auto w = key_.wait(now);
  return w ? w->why : PacingHold::none;
}

std::vector<ModelPacingView> Admission::models(PacingClock::time_point now) const {
  const auto key = key_.wait(now);
  std::vector<ModelPacingView> views;
  views.reserve(models_.size());
  for (const auto& [name, m] : models_) {
    ModelPacingView v;
    v.model = name;
    v.limit = m.pacer.limit();
    v.window = m.pacer.window();
    v.remaining = m.pacer.remaining(now);
    v.rate_per_minute = m.pacer.current_rate();
    v.wait = m.pacer.blocked_for(now);
    v.hold = m.pacer.hold(now);
    if (key && key_.blocked_for(now) >= v.wait) {
      v.wait = key_.blocked_for(now);
      v.hold = key->why;
    }
    v.daily_limit = m.daily_limit;
    v.started_today = m.started;
    v.daily_cap_reached = m.capped;
    views.push_back(std::move(v));
  }
  return views;
}

std::string Admission::describe(PacingClock::time_point now) const {
  std::vector<std::string> parts;
  if (const auto key = key_.wait(now))
    parts.push_back("all models" + describe_wait(key_.blocked_for(now), key->why).substr(1));
  for (const auto& [name, m] : models_)
    parts.push_back(fmt::format("{} {}", name,
                                !m.capped            ? m.pacer.describe(now)
                                : m.refused_for_long ? "stopped: refused for the day"
                                                     : "stopped at its daily cap"));
  return parts.empty() ? std::string("unpaced") : fmt::format("{}", fmt::join(parts, "; "));
}

}  // namespace venice_batch
