#include "venice_batch/mock_policy.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

namespace venice_batch {

namespace {

constexpr std::chrono::seconds kQuotaWindow{60};
constexpr std::chrono::seconds kFailureWindow{30};

constexpr std::array<std::pair<MockFault, std::string_view>, 12> kFaultNames = {{
    {MockFault::ok, "ok"},
    {MockFault::rate_limited, "429"},
    {MockFault::server_error_500, "500"},
    {MockFault::unavailable_503, "503"},
    {MockFault::close_mid_body, "close"},
    {MockFault::short_body, "short"},
    {MockFault::stall, "stall"},
    {MockFault::invalid_json, "invalid_json"},
    {MockFault::invalid_base64, "invalid_base64"},
    {MockFault::unauthorized_401, "401"},
    {MockFault::payment_402, "402"},
    {MockFault::failure_lock, "lock"},
}};

std::uint64_t cost_units(unsigned cost) { return std::max(1u, cost); }

}  // namespace

std::string_view to_string(MockFault fault) {
  for (const auto& [f, name] : kFaultNames)
    if (f == fault) return name;
  return "unknown";
}

std::optional<MockFault> parse_fault_name(std::string_view name) {
  for (const auto& [f, n] : kFaultNames)
    if (n == name) return f;
  return std::nullopt;
}

std::vector<MockFault> parse_fault_schedule(const std::string& text) {
  std::vector<MockFault> out;
  std::string_view rest = text;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (item.empty()) continue;
    std::size_t repeat = 1;
    // "429x3" repeats; a name that itself holds an 'x' (invalid_json) is taken whole first.
    if (const auto x = item.rfind('x'); !parse_fault_name(item) && x != std::string_view::npos && x > 0) {
      const auto count = item.substr(x + 1);
      if (!count.empty() && count.find_first_not_of("0123456789") == std::string_view::npos) {
        repeat = std::stoul(std::string(count));
        item = item.substr(0, x);
      }
    }
    const auto fault = parse_fault_name(item);
    if (!fault) throw std::invalid_argument(fmt::format("unknown fault '{}'", item));
    out.insert(out.end(), repeat, *fault);
  }
  return out;
}

MockPolicy::MockPolicy(MockFaults faults, UniformSource uniform)
    : faults_(std::move(faults)), uniform_(std::move(uniform)) {}

MockPolicy::Arrival MockPolicy::on_request(MockClock::time_point now) {
  roll_window(now);
  return {++requests_, now < locked_until_};
}

MockDecision MockPolicy::decide(MockClock::time_point now, std::uint64_t number, unsigned cost) {
  roll_window(now);
  // Like the API, each variant counts against the per-minute limit as one image.
  const auto units = cost_units(cost);
  if (faults_.requests_per_minute && window_used_ + units > faults_.requests_per_minute)
    return {.over_quota = true};
  window_used_ += units;
  return {.fault = draw_fault(number)};
}

void MockPolicy::on_answer(MockClock::time_point now, int status) {
  if (status >= 200 && status < 300) return;
  failures_.push_back(now);
  while (!failures_.empty() && failures_.front() <= now - kFailureWindow) failures_.pop_front();
  if (faults_.failure_lock && failures_.size() > faults_.lock_threshold && locked_until_ <= now)
    locked_until_ = now + faults_.lock_duration;
}

MockQuota MockPolicy::quota(MockClock::time_point now, const MockDecision& decision) const {
  using std::chrono::milliseconds;
  const bool current = window_end_ && now < *window_end_;
  const std::uint64_t used = current ? window_used_ : 0;
  MockQuota q;
  q.limit = stated_limit();
  q.remaining = q.limit > used ? q.limit - used : 0;
  q.reset_in = current ? std::chrono::duration_cast<milliseconds>(*window_end_ - now) : milliseconds(kQuotaWindow);
  if (decision.over_quota) q.remaining = 0;
  if (decision.fault == MockFault::rate_limited) {
    q.remaining = 0;
    q.reset_in = faults_.reset_after_429;
  }
  return q;
}

std::uint64_t MockPolicy::stated_limit() const {
  return faults_.requests_per_minute ? faults_.requests_per_minute : kUnlimitedRequestsPerMinute;
}

MockFault MockPolicy::draw_fault(std::uint64_t number) {
  const auto& f = faults_;
  if (number >= 1 && number <= f.schedule.size()) return f.schedule[number - 1];
  const std::pair<double, MockFault> odds[] = {
      {f.p_429, MockFault::rate_limited},          {f.p_500, MockFault::server_error_500},
      {f.p_503, MockFault::unavailable_503},       {f.p_close, MockFault::close_mid_body},
      {f.p_short, MockFault::short_body},          {f.p_stall, MockFault::stall},
      {f.p_invalid_json, MockFault::invalid_json}, {f.p_invalid_base64, MockFault::invalid_base64},
      {f.p_401, MockFault::unauthorized_401},      {f.p_402, MockFault::payment_402}};
  for (const auto& [p, fault] : odds)
    if (p > 0 && uniform_() < p) return fault;
  return MockFault::ok;
}

void MockPolicy::roll_window(MockClock::time_point now) {
  if (window_end_ && now < *window_end_) return;
  window_end_ = now + kQuotaWindow;
  window_used_ = 0;
}

}  // namespace venice_batch
