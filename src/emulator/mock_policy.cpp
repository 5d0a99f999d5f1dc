#include "venice_batch/mock_policy.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

namespace venice_batch {

namespace {

constexpr std::chrono::seconds kFailureWindow{30};
constexpr std::chrono::hours kDay{24};

// Each fault's name, and whether the API would have billed the request it answers: the
// generation ran (a 200, or an answer lost on the wire after the work) and was no violation.
struct FaultInfo {
  MockFault fault;
  std::string_view name;
  bool billed;
};
constexpr std::array<FaultInfo, 17> kFaults = {{
    {MockFault::ok, "ok", true},
    {MockFault::rate_limited, "429", false},
    {MockFault::server_error_500, "500", false},
    {MockFault::unavailable_503, "503", false},
    {MockFault::close_mid_body, "close", true},
    {MockFault::short_body, "short", true},
    {MockFault::stall, "stall", true},
    {MockFault::invalid_json, "invalid_json", true},
    {MockFault::invalid_base64, "invalid_base64", true},
    {MockFault::unauthorized_401, "401", false},
    {MockFault::payment_402, "402", false},
    {MockFault::failure_lock, "lock", false},
    {MockFault::content_violation, "violation", false},
    {MockFault::corrupt_compressed, "corrupt_compressed", true},
    {MockFault::cut_compressed, "cut_compressed", true},
    {MockFault::blurred, "blurred", true},
    {MockFault::drop, "drop", false},
}};

std::uint64_t cost_units(unsigned cost) { return std::max(1u, cost); }

// The items of a comma-separated list, empty ones skipped.
std::vector<std::string_view> split_list(std::string_view text) {
  std::vector<std::string_view> items;
  while (!text.empty()) {
    const auto comma = text.find(',');
    if (const auto item = text.substr(0, comma); !item.empty()) items.push_back(item);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
  }
  return items;
}

bool all_digits(std::string_view s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos; }

}  // namespace

std::string_view to_string(MockFault fault) {
  for (const auto& f : kFaults)
    if (f.fault == fault) return f.name;
  return "unknown";
}

std::optional<MockFault> parse_fault_name(std::string_view name) {
  for (const auto& f : kFaults)
    if (f.name == name) return f.fault;
  return std::nullopt;
}

bool is_billed(MockFault fault) {
  for (const auto& f : kFaults)
    if (f.fault == fault) return f.billed;
  return false;
}

std::vector<MockFault> parse_fault_schedule(const std::string& text) {
  std::vector<MockFault> out;
  for (std::string_view item : split_list(text)) {
    std::size_t repeat = 1;
    // "429x3" repeats; a name that itself holds an 'x' (invalid_json) is taken whole first.
    if (const auto x = item.rfind('x'); !parse_fault_name(item) && x != std::string_view::npos && x > 0) {
      if (const auto count = item.substr(x + 1); all_digits(count)) {
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

ModelLimits parse_model_limits(const std::string& text) {
  ModelLimits limits;
  for (std::string_view item : split_list(text)) {
    const auto eq = item.rfind('=');
    const auto count = eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1);
    if (eq == 0 || !all_digits(count) || count.size() > 9)
      throw std::invalid_argument(fmt::format("'{}' is not model=N", item));
    limits[std::string(item.substr(0, eq))] = static_cast<unsigned>(std::stoul(std::string(count)));
  }
  return limits;
}

Micros to_micros(double amount) { return static_cast<Micros>(std::llround(amount * 1e6)); }

std::string format_micros(Micros amount) {
  const auto magnitude = amount < 0 ? -static_cast<std::uint64_t>(amount) : static_cast<std::uint64_t>(amount);
  std::string fraction = fmt::format("{:06}", magnitude % 1000000);
  while (fraction.size() > 2 && fraction.back() == '0') fraction.pop_back();
  return fmt::format("{}{}.{}", amount < 0 ? "-" : "", magnitude / 1000000, fraction);
}

MockPolicy::MockPolicy(MockFaults faults, UniformSource uniform, Micros balance)
    : faults_(std::move(faults)), uniform_(std::move(uniform)), balance_(balance) {}

MockPolicy::Arrival MockPolicy::on_request(MockClock::time_point now) { return {++requests_, now < locked_until_}; }

MockDecision MockPolicy::decide(MockClock::time_point now, std::uint64_t number, const MockAsk& ask) {
  MockDecision d{.balance_before = balance_};
  // Like the API, each variant counts against the limits as one image.
  const auto units = cost_units(ask.units);
  auto& window = roll(windows_, ask.model, now, faults_.rate_window);
  auto& day = roll(days_, ask.model, now, kDay);
  const auto daily = daily_limit(ask.model);
  if (daily && day.used + units > *daily) {
    d.over_daily_quota = true;
    return d;
  }
  const bool enforced = faults_.requests_per_minute > 0 || faults_.model_rpm.contains(ask.model);
  if (enforced && window.used + units > stated_limit(ask.model)) {
    d.over_quota = true;
    return d;
  }
  if (ask.price > balance_) {
    d.insufficient_balance = true;
    return d;
  }
  window.used += units;
  day.used += units;
  d.fault = draw_fault(number);
  if (is_billed(d.fault)) {
    d.charged = ask.price;
    balance_ -= ask.price;
    spent_ += ask.price;
  }
  return d;
}

void MockPolicy::on_answer(MockClock::time_point now, int status) {
  if (status >= 200 && status < 300) return;
  failures_.push_back(now);
  while (!failures_.empty() && failures_.front() <= now - kFailureWindow) failures_.pop_front();
  if (faults_.failure_lock && failures_.size() > faults_.lock_threshold && locked_until_ <= now)
    locked_until_ = now + faults_.lock_duration;
}

MockQuota MockPolicy::quota(MockClock::time_point now, std::string_view model, const MockDecision& decision) const {
  using std::chrono::milliseconds;
  const auto until = [&](MockClock::time_point end) { return std::chrono::duration_cast<milliseconds>(end - now); };
  MockQuota q;
  q.limit = stated_limit(model);
  q.remaining = q.limit;
  q.reset_in = faults_.rate_window;
  if (const auto it = windows_.find(model); it != windows_.end() && it->second.end && now < *it->second.end) {
    q.remaining = q.limit > it->second.used ? q.limit - it->second.used : 0;
    q.reset_in = until(*it->second.end);
  }
  if (decision.over_quota) q.remaining = 0;
  if (decision.over_daily_quota) {  // nothing more until the day's window ends
    q.remaining = 0;
    if (const auto it = days_.find(model); it != days_.end() && it->second.end) q.reset_in = until(*it->second.end);
  }
  if (decision.fault == MockFault::rate_limited) {
    q.remaining = 0;
    q.reset_in = faults_.reset_after_429;
  }
  return q;
}

std::uint64_t MockPolicy::stated_limit(std::string_view model) const {
  if (const auto it = faults_.model_rpm.find(model); it != faults_.model_rpm.end()) return it->second;
  return faults_.requests_per_minute ? faults_.requests_per_minute : kUnlimitedRequestsPerMinute;
}

std::optional<std::uint64_t> MockPolicy::daily_limit(std::string_view model) const {
  if (const auto it = faults_.model_rpd.find(model); it != faults_.model_rpd.end()) return it->second;
  return std::nullopt;
}

MockFault MockPolicy::draw_fault(std::uint64_t number) {
  const auto& f = faults_;
  if (number >= 1 && number <= f.schedule.size()) return f.schedule[number - 1];
  const std::pair<double, MockFault> odds[] = {
      {f.p_429, MockFault::rate_limited},          {f.p_500, MockFault::server_error_500},
      {f.p_503, MockFault::unavailable_503},       {f.p_close, MockFault::close_mid_body},
      {f.p_short, MockFault::short_body},          {f.p_stall, MockFault::stall},
      {f.p_invalid_json, MockFault::invalid_json}, {f.p_invalid_base64, MockFault::invalid_base64},
      {f.p_401, MockFault::unauthorized_401},      {f.p_402, MockFault::payment_402},
      {f.p_violation, MockFault::content_violation}, {f.p_corrupt_compressed, MockFault::corrupt_compressed},
      {f.p_cut_compressed, MockFault::cut_compressed}, {f.p_blurred, MockFault::blurred}};
  for (const auto& [p, fault] : odds)
    if (p > 0 && uniform_() < p) return fault;
  return MockFault::ok;
}

MockPolicy::Window& MockPolicy::roll(std::map<std::string, Window, std::less<>>& windows, std::string_view model,
                                     MockClock::time_point now, MockClock::duration length) {
  auto it = windows.find(model);
  if (it == windows.end()) it = windows.emplace(std::string(model), Window{}).first;
  auto& w = it->second;
  if (!w.end || now >= *w.end) w = Window{now + length, 0};
  return w;
}

}  // namespace venice_batch
