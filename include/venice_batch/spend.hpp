// The spend guard: `--max-spend` and `--min-balance`. Before each attempt the run asks
// reserve(price); after it, settle(reservation, billing); every response's balance header
// goes to observe_balance(). A decision unit without I/O or clock, like the Pacer: amounts are
// kept in whole micro-dollars so a cap of $0.05 admits exactly five $0.01 jobs.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "venice_batch/catalog.hpp"

namespace venice_batch {

/// The limits the user set (Config::max_spend_usd, Config::min_balance_usd). 0: none.
struct SpendLimits {
  double max_spend_usd = 0;
  double min_balance_usd = 0;
};

/// What became of an attempt, for its price.
enum class Billing {
  billed,      ///< a 200 with images: the price is spent
  not_billed,  ///< an error answer or a content violation: costs nothing
  unknown,     ///< sent, then the outcome was lost (the attempt policy's maybe_billed_twice):
               ///< counted as spent, since the API may have done the work
};

/// The billing of one attempt: `http_status` the answer's (nullopt: none came), `request_sent`
/// whether the request left, `content_violation` a flagged 200's, `maybe_billed_twice` the attempt
/// policy's word on a retried one. A 200 is billed (a content violation is not); an answer the
/// origin may have worked on (Cloudflare's 520/524: StatusClass::transient_maybe_billed) is
/// unknown whether or not the job goes again; so is a request sent with no answer.
Billing billing_of_attempt(std::optional<int> http_status, bool request_sent, bool content_violation,
                           bool maybe_billed_twice);

/// A token for one attempt's price, from reserve() to settle(). Settling it twice, or settling
/// one never handed out, is ignored.
struct Reservation {
  std::uint64_t id = 0;
};

struct SpendDecision {
  enum class Kind {
    go,               ///< send it; settle `reservation` when the attempt ends
    refuse_unpriced,  ///< --max-spend is set and the job has no catalog price: the job is refused, not sent
    stop,             ///< a limit would be crossed: the run stops (exit 4), resumably
  };
  Kind kind = Kind::go;
  Reservation reservation;  ///< go only
  std::string message;      ///< refuse_unpriced / stop: for the user
};

/// An amount in both currencies. DIEM sums only the attempts whose price lists DIEM.
struct SpendAmount {
  double usd = 0;
  double diem = 0;
  std::uint64_t attempts = 0;
};

struct SpendTotals {
  SpendAmount billed;     ///< attempts answered with images
  SpendAmount unknown;    ///< attempts whose outcome is unknown (counted as spent)
  SpendAmount in_flight;  ///< reserved, not settled yet
  SpendAmount estimated;  ///< billed + unknown: the catalog's estimate of what the run spent
  std::uint64_t not_billed_attempts = 0;  ///< errors and content violations: free
  std::uint64_t unpriced_attempts = 0;    ///< sent without a catalog price (only without --max-spend)
  /// From the x-venice-balance-usd / -diem headers: the first and last seen, and first - last.
  std::optional<double> balance_first_usd, balance_last_usd, observed_spend_usd;
  std::optional<double> balance_first_diem, balance_last_diem, observed_spend_diem;
};

class SpendGuard {
 public:
  explicit SpendGuard(SpendLimits limits);

  /// Asks to start one attempt whose price is `estimated_total` (JobPrice::total; nullopt:
  /// unpriced). Refuses an unpriced job only under --max-spend. Stops when the spend of finished,
  /// in-flight and unknown-outcome attempts plus this price would exceed --max-spend, or when the
  /// last seen balance, less what was spent since and what is in flight, less this price, would
  /// fall below --min-balance (the lowest balance seen: answers arrive out of order). Once
  /// stopped, every later reserve() stops with the same message.
  SpendDecision reserve(const std::optional<Price>& estimated_total);

  /// Ends the attempt `reservation` started.
  void settle(Reservation reservation, Billing billing);

  /// One response's x-venice-balance-usd (and -diem): the balance BEFORE that request.
  /// Call it before settle() for the same response, so that request's price counts as spent
  /// since this balance (calling it after only makes the --min-balance check less cautious by
  /// that one price).
  void observe_balance(double usd, std::optional<double> diem = std::nullopt);

  SpendTotals totals() const;
  const SpendLimits& limits() const { return limits_; }
  bool stopped() const { return !stop_message_.empty(); }

 private:
  struct Micros {  // one amount in micro-units (1e-6 USD / DIEM)
    std::int64_t usd = 0, diem = 0;
    std::uint64_t attempts = 0;
    void add(const Micros& m);
    void subtract(const Micros& m);
  };
  struct Held {
    Micros price;
    bool priced = false;
  };
  static Micros to_micros(const std::optional<Price>& price);
  static SpendAmount to_amount(const Micros& m);
  std::optional<std::string> cap_stop(const Micros& price) const;
  std::optional<std::string> balance_stop(const Micros& price) const;

  SpendLimits limits_;
  bool has_cap_ = false;  // --max-spend given (a cap under a micro-dollar lets nothing through)
  std::int64_t cap_micros_ = 0, min_balance_micros_ = 0;
  std::map<std::uint64_t, Held> held_;
  std::uint64_t next_id_ = 1;
  Micros billed_, unknown_, in_flight_;
  std::uint64_t not_billed_ = 0, unpriced_ = 0;
  std::optional<std::int64_t> first_usd_, last_usd_, first_diem_, last_diem_;
  std::optional<std::int64_t> lowest_usd_;  ///< the --min-balance check starts from the lowest balance seen
  std::int64_t spent_at_lowest_ = 0;        ///< billed + unknown (micro-USD) when lowest_usd_ was seen
  std::string stop_message_;
};

/// "$49.98"; sub-cent amounts keep their digits ("$0.0045").
std::string format_usd(double usd);

}  // namespace venice_batch
