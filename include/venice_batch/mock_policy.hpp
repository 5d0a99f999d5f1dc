// The emulator's decisions, without I/O: each model's request quota (per window and per day), the
// failure lock (per key), the balance and what a request takes from it, the injected faults
// (schedule by request number, else probabilities) and the coding an answer is compressed in.
// Handed `now` and a random source, it reads no clock and touches no socket; mock_server.cpp
// acts its answers out. Not thread-safe: the server calls it under its own mutex.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
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
  content_violation, ///< "violation": a 200 flagged x-venice-is-content-violation (binary: a PNG), not charged
  corrupt_compressed,  ///< "corrupt_compressed": a well-framed compressed body whose bytes are damaged
  cut_compressed,      ///< "cut_compressed": a well-framed compressed body whose stream stops half way
  blurred,             ///< "blurred": a 200 flagged x-venice-is-blurred (the filter blurred it), charged
  drop,                ///< "drop": the request read, the connection dropped without a byte of answer (a
                       ///< keep-alive closed just as the request came), not charged
};

/// The fault's name in a schedule and in MockStats::faults ("ok", "429", "close", "lock", ...).
std::string_view to_string(MockFault fault);
/// The fault named `name` (as to_string writes it), or nullopt.
std::optional<MockFault> parse_fault_name(std::string_view name);

/// Whether the API would have billed a request answered with `fault`: the generation ran (the
/// answer is a 200, or it was lost on the wire after the work), and it was no content violation.
bool is_billed(MockFault fault);

/// Limits by model id ("z-image-turbo" -> 30).
using ModelLimits = std::map<std::string, unsigned, std::less<>>;

/// What the emulator injects and enforces. A request takes the fault at its position in
/// `schedule` (1-based count of generate requests) if there is one, otherwise each probability
/// in turn.
struct MockFaults {
  std::vector<MockFault> schedule{};
  double p_429 = 0, p_500 = 0, p_503 = 0, p_close = 0, p_short = 0, p_stall = 0, p_invalid_json = 0,
         p_invalid_base64 = 0, p_401 = 0, p_402 = 0, p_violation = 0, p_corrupt_compressed = 0,
         p_cut_compressed = 0, p_blurred = 0;
  std::chrono::milliseconds stall{300000};
  std::chrono::milliseconds reset_after_429{1000};  ///< x-ratelimit-reset-requests of an injected 429
  /// Each model's request quota, like the API's (per key and model): request units (one per
  /// variant) in fixed windows of `rate_window` starting with the model's first request, stated
  /// in the x-ratelimit-*-requests headers of every answer about the model; past it, 429.
  /// `requests_per_minute` is the limit of every model `model_rpm` does not name; 0: off (the
  /// headers then state kUnlimitedRequestsPerMinute).
  unsigned requests_per_minute = 0;
  ModelLimits model_rpm{};
  std::chrono::milliseconds rate_window{60000};
  /// Request units per day by model (24 h windows from the model's first request); past it,
  /// 429 until the day's window ends. A model not named has no daily cap.
  ModelLimits model_rpd{};
  /// The API's failure lock, per key: more than `lock_threshold` non-2xx answers in 30 s and
  /// every request gets 429 "Too many failed attempts" for `lock_duration`.
  bool failure_lock = false;
  unsigned lock_threshold = 20;
  std::chrono::milliseconds lock_duration{30000};
};

/// The limit the emulator states when a model has none (headers and /api_keys/rate_limits).
inline constexpr std::uint64_t kUnlimitedRequestsPerMinute = 100000;

/// Parses a fault schedule such as "ok,500,429x3,close" (x N repeats; names as to_string
/// writes them). Throws std::invalid_argument naming an unknown fault.
std::vector<MockFault> parse_fault_schedule(const std::string& text);

/// Parses "z-image-turbo=30,venice-sd35=90" (a limit per model). Throws std::invalid_argument
/// naming the item that is not `model=N`.
ModelLimits parse_model_limits(const std::string& text);

/// Money in millionths of a dollar (or of a DIEM): a balance goes down by exactly each price.
using Micros = std::int64_t;
/// The nearest number of millionths to `amount`.
Micros to_micros(double amount);
/// A balance as the headers state it: at least two decimals, at most six ("0.83", "999.99",
/// "0.020001", "-0.50").
std::string format_micros(Micros amount);

/// Uniform draws in [0, 1): the policy's only source of chance (tests pass a seeded one).
using UniformSource = std::function<double()>;

/// The request quota as the x-ratelimit-*-requests headers state it.
struct MockQuota {
  std::uint64_t limit = 0;
  std::uint64_t remaining = 0;
  std::chrono::milliseconds reset_in{0};  ///< until the window resets (the server adds the wall clock)
};

/// A valid generate request, as the policy weighs it.
struct MockAsk {
  std::string_view model;  ///< the model id its quota is kept under
  unsigned units = 1;      ///< quota units: one per image (variant)
  Micros price = 0;        ///< what it costs when billed (catalog price x images; 0: free)
};

/// The verdict on a generate request that passed authentication and validation.
struct MockDecision {
  bool over_quota = false;            ///< 429 past the model's limit for this window: no fault drawn
  bool over_daily_quota = false;      ///< 429 past the model's requests per day: no fault drawn
  bool insufficient_balance = false;  ///< 402: the balance cannot cover the price; no fault drawn
  MockFault fault = MockFault::ok;    ///< the injected fault (ok: answer normally)
  Micros charged = 0;                 ///< taken from the balance (is_billed(fault) ? price : 0)
  Micros balance_before = 0;          ///< the balance as the request found it (x-venice-balance-usd)
};

class MockPolicy {
 public:
  /// `balance` is the USD balance requests are charged to.
  MockPolicy(MockFaults faults, UniformSource uniform, Micros balance = to_micros(1e6));

  /// A generate request arrived at `now`.
  struct Arrival {
    std::uint64_t number = 0;  ///< its 1-based position, the one the schedule is read at
    bool locked = false;       ///< the failure lock refuses it
  };
  Arrival on_request(MockClock::time_point now);

  /// Request `number` (from on_request), valid: charged to its model's windows, then to the
  /// balance, and given its fault; refused instead when over a quota or the balance.
  MockDecision decide(MockClock::time_point now, std::uint64_t number, const MockAsk& ask);

  /// An answer with HTTP `status` went out at `now`: a non-2xx one counts toward the lock.
  void on_answer(MockClock::time_point now, int status);

  /// The quota headers of `model` for an answer at `now` carrying `decision` (default: an
  /// ordinary answer).
  MockQuota quota(MockClock::time_point now, std::string_view model, const MockDecision& decision = {}) const;

  /// `model`'s limit per window (its own, the default, or kUnlimitedRequestsPerMinute).
  std::uint64_t stated_limit(std::string_view model) const;
  /// `model`'s requests per day, if capped.
  std::optional<std::uint64_t> daily_limit(std::string_view model) const;

  Micros balance() const { return balance_; }
  Micros spent() const { return spent_; }

 private:
  /// Request units counted in one fixed window (none before the model's first request).
  struct Window {
    std::optional<MockClock::time_point> end;
    std::uint64_t used = 0;
  };
  MockFault draw_fault(std::uint64_t number);
  static Window& roll(std::map<std::string, Window, std::less<>>& windows, std::string_view model,
                      MockClock::time_point now, MockClock::duration length);

  MockFaults faults_;
  UniformSource uniform_;
  std::uint64_t requests_ = 0;
  std::map<std::string, Window, std::less<>> windows_, days_;
  std::deque<MockClock::time_point> failures_;  ///< non-2xx answers in the last 30 s
  MockClock::time_point locked_until_{};
  Micros balance_ = 0, spent_ = 0;
};

/// The coding an answer's JSON body is sent in.
enum class MockCoding { identity, gzip, br };
std::string_view to_string(MockCoding coding);

/// The coding for a request's Accept-Encoding: the higher q-value of gzip (or x-gzip) and br, br
/// on a tie; `*` stands for a coding not named; q=0 refuses one. identity when neither is
/// acceptable. Case-insensitive; a malformed q-value counts as 1.
MockCoding choose_coding(std::string_view accept_encoding);

}  // namespace venice_batch
