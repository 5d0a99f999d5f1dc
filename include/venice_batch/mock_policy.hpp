// The emulator's decisions, without I/O: the per-minute quota window, the failure lock and the
// injected faults (schedule by request number, else probabilities). Handed `now` and a random
// source, it reads no clock and touches no socket; mock_server.cpp acts its answers out.
// Not thread-safe: the server calls it under its own mutex.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace venice_batch {

using MockClock = std::chrono::steady_clock;

/// One way the emulator can misbehave, to test what the client does with it.
enum class MockFault {
  ok,                ///< "ok": no fault
  rate_limited,      ///< "429": rate limit with remaining 0 and the reset `reset_after_429` away
  server_error_500,  ///< "500"
  unavailable_503,   ///< "503": model at capacity
  close_mid_body,    ///< "close": half the body, then the connection dropped without close_notify
  short_body,        ///< "short": body shorter than its Content-Length, then a clean TLS close
  stall,             ///< "stall": no answer for MockFaults::stall, then the connection closed
  invalid_json,      ///< "invalid_json": a 200 whose JSON is cut in half
  invalid_base64,    ///< "invalid_base64": a 200 whose images hold a '!'
  unauthorized_401,  ///< "401"
  payment_402,       ///< "402": insufficient balance
  failure_lock,      ///< "lock": the failure lock's 429 "Too many failed attempts"
};

/// The fault's name in a schedule and in MockStats::faults ("ok", "429", "close", "lock", ...).
std::string_view to_string(MockFault fault);
/// The fault named `name` (as to_string writes it), or nullopt.
std::optional<MockFault> parse_fault_name(std::string_view name);

/// What the emulator injects. A request takes the fault at its position in `schedule` (1-based
/// count of generate requests) if there is one, otherwise each probability in turn.
struct MockFaults {
  std::vector<MockFault> schedule;
  double p_429 = 0, p_500 = 0, p_503 = 0, p_close = 0, p_short = 0, p_stall = 0, p_invalid_json = 0,
         p_invalid_base64 = 0, p_401 = 0, p_402 = 0;
  std::chrono::milliseconds stall{300000};
  std::chrono::milliseconds reset_after_429{1000};  ///< x-ratelimit-reset-requests of an injected 429
  /// Real per-minute limit like the API's: counts request units (one per variant) in fixed 60 s
  /// windows, states them in the x-ratelimit-*-requests headers of every answer, answers 429 past
  /// the limit. 0: off (the headers then state kUnlimitedRequestsPerMinute).
  unsigned requests_per_minute = 0;
  /// The API's failure lock: more than `lock_threshold` non-2xx answers in 30 s and every
  /// request gets 429 "Too many failed attempts" for `lock_duration`.
  bool failure_lock = false;
  unsigned lock_threshold = 20;
  std::chrono::milliseconds lock_duration{30000};
};

/// The limit the emulator states when `requests_per_minute` is 0 (headers and /api_keys/rate_limits).
inline constexpr std::uint64_t kUnlimitedRequestsPerMinute = 100000;

/// Parses a fault schedule such as "ok,500,429x3,close" (x N repeats; names as to_string
/// writes them). Throws std::invalid_argument naming an unknown fault.
std::vector<MockFault> parse_fault_schedule(const std::string& text);

/// Uniform draws in [0, 1): the policy's only source of chance (tests pass a seeded one).
using UniformSource = std::function<double()>;

/// The request quota as the x-ratelimit-*-requests headers state it.
struct MockQuota {
  std::uint64_t limit = 0;
  std::uint64_t remaining = 0;
  std::chrono::milliseconds reset_in{0};  ///< until the window resets (the server adds the wall clock)
};

/// The verdict on a generate request that passed authentication and validation.
struct MockDecision {
  bool over_quota = false;            ///< 429 past the per-minute limit: nothing charged, no fault drawn
  MockFault fault = MockFault::ok;    ///< the injected fault (ok: answer normally)
};

class MockPolicy {
 public:
  MockPolicy(MockFaults faults, UniformSource uniform);

  /// A generate request arrived at `now`.
  struct Arrival {
    std::uint64_t number = 0;  ///< its 1-based position, the one the schedule is read at
    bool locked = false;       ///< the failure lock refuses it
  };
  Arrival on_request(MockClock::time_point now);

  /// Request `number` (from on_request), valid and costing `cost` quota units, is charged to the
  /// window and given its fault; past the limit it is refused instead.
  MockDecision decide(MockClock::time_point now, std::uint64_t number, unsigned cost);

  /// An answer with HTTP `status` went out at `now`: a non-2xx one counts toward the lock.
  void on_answer(MockClock::time_point now, int status);

  /// The quota headers for an answer at `now` carrying `decision` (default: an ordinary answer).
  MockQuota quota(MockClock::time_point now, const MockDecision& decision = {}) const;

  /// The per-minute limit stated to clients (the configured one, or kUnlimitedRequestsPerMinute).
  std::uint64_t stated_limit() const;

 private:
  MockFault draw_fault(std::uint64_t number);
  void roll_window(MockClock::time_point now);

  MockFaults faults_;
  UniformSource uniform_;
  std::uint64_t requests_ = 0;
  std::optional<MockClock::time_point> window_end_;  ///< the current 60 s window (none before the first request)
  std::uint64_t window_used_ = 0;
  std::deque<MockClock::time_point> failures_;        ///< non-2xx answers in the last 30 s
  MockClock::time_point locked_until_{};
};

}  // namespace venice_batch
