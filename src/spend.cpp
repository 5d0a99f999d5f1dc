// The spend guard's bookkeeping (spend.hpp). Every comparison is in whole micro-units, so a
// sum of catalog prices equals the cap exactly when it should.
#include "venice_batch/spend.hpp"

#include "venice_batch/attempt_policy.hpp"

#include <cmath>

#include <fmt/format.h>

namespace venice_batch {
namespace {

constexpr double kMicro = 1e6;

// Saturating: an amount beyond any account (a --max-spend of 1e300) must not overflow llround.
std::int64_t micros(double amount) {
  constexpr double kLimit = 9e12;  // USD: 9e18 micro-units, inside int64
  if (!(amount < kLimit)) return static_cast<std::int64_t>(kLimit * kMicro);
  if (!(amount > -kLimit)) return -static_cast<std::int64_t>(kLimit * kMicro);
  return std::llround(amount * kMicro);
}
// A limit in whole micro-units on its safe side: --max-spend 0.0099995 rounded to the nearest was
// $0.01, and a $0.01 job was bought over the cap. Only a step the double's own error cannot explain
// moves it (0.29 * 1e6 is 289999.99999999994: the cap stays $0.29).
std::int64_t cap_micros(double amount) {
  const std::int64_t m = micros(amount);
  return static_cast<double>(m) - amount * kMicro > 1e-3 ? m - 1 : m;
}
std::int64_t floor_micros(double amount) {
  const std::int64_t m = micros(amount);
  return amount * kMicro - static_cast<double>(m) > 1e-3 ? m + 1 : m;
}
double from_micros(std::int64_t m) { return static_cast<double>(m) / kMicro; }
std::string usd(std::int64_t m) { return format_usd(from_micros(m)); }

}  // namespace

std::string format_usd(double amount) {
  std::string s = fmt::format("{:.6f}", amount);
  // Keep two decimals, and any further digit that is not a trailing zero.
  const std::size_t dot = s.find('.');
  while (s.size() > dot + 3 && s.back() == '0') s.pop_back();
  if (s.front() == '-') return "-$" + s.substr(1);
  return "$" + s;
}

void SpendGuard::Micros::add(const Micros& m) {
  usd += m.usd;
  diem += m.diem;
  attempts += m.attempts;
}

void SpendGuard::Micros::subtract(const Micros& m) {
  usd -= m.usd;
  diem -= m.diem;
  attempts -= m.attempts;
}

SpendGuard::SpendGuard(SpendLimits limits)
    : limits_(limits), has_cap_(limits.max_spend_usd > 0), cap_micros_(cap_micros(limits.max_spend_usd)),
      min_balance_micros_(floor_micros(limits.min_balance_usd)) {}

SpendGuard::Micros SpendGuard::to_micros(const std::optional<Price>& price) {
  Micros m;
  m.attempts = 1;
  if (price) {
    m.usd = micros(price->usd);
    if (price->diem) m.diem = micros(*price->diem);
  }
  return m;
}

SpendAmount SpendGuard::to_amount(const Micros& m) { return {from_micros(m.usd), from_micros(m.diem), m.attempts}; }

std::optional<std::string> SpendGuard::cap_stop(const Micros& price) const {
  if (!has_cap_) return std::nullopt;
  const std::int64_t spent = billed_.usd + unknown_.usd + in_flight_.usd;
  if (spent + price.usd <= cap_micros_) return std::nullopt;
  std::string parts = fmt::format("finished {}, in flight {}", usd(billed_.usd), usd(in_flight_.usd));
  if (unknown_.usd > 0) parts += fmt::format(", outcome unknown {}", usd(unknown_.usd));
  return fmt::format("stopped at --max-spend {}: spent {} ({}); the next job would cost {}", usd(cap_micros_),
                     usd(spent), parts, usd(price.usd));
}

std::optional<std::string> SpendGuard::balance_stop(const Micros& price) const {
  if (min_balance_micros_ <= 0 || !lowest_usd_) return std::nullopt;
  // The header is the balance before its own request; what was spent since it was seen (that
  // request included, when observe came before settle) and what is in flight is gone too.
  const std::int64_t since = billed_.usd + unknown_.usd - spent_at_lowest_ + in_flight_.usd;
  const std::int64_t left = *lowest_usd_ - since;
  if (left - price.usd >= min_balance_micros_) return std::nullopt;
  return fmt::format(
      "stopped at --min-balance {}: the balance is about {} (lowest x-venice-balance-usd {}, less {} spent since or in "
      "flight); the next job would cost {}",
      usd(min_balance_micros_), usd(left), usd(*lowest_usd_), usd(since), usd(price.usd));
}

SpendDecision SpendGuard::reserve(const std::optional<Price>& estimated_total) {
  SpendDecision d;
  if (stopped()) {
    d.kind = SpendDecision::Kind::stop;
    d.message = stop_message_;
    return d;
  }
  if (!estimated_total && has_cap_) {
    d.kind = SpendDecision::Kind::refuse_unpriced;
    d.message = fmt::format("refused: --max-spend {} is set and the catalog lists no price for this job",
                            usd(cap_micros_));
    return d;
  }
  const Micros price = to_micros(estimated_total);
  auto why = cap_stop(price);
  if (!why) why = balance_stop(price);
  if (why) {
    stop_message_ = *why;
    d.kind = SpendDecision::Kind::stop;
    d.message = *why;
    return d;
  }
  d.reservation.id = next_id_++;
  held_.emplace(d.reservation.id, Held{price, estimated_total.has_value()});
  in_flight_.add(price);
  return d;
}

void SpendGuard::settle(Reservation reservation, Billing billing) {
  auto it = held_.find(reservation.id);
  if (it == held_.end()) return;
  const Held held = it->second;
  held_.erase(it);
  in_flight_.subtract(held.price);
  switch (billing) {
    case Billing::billed: billed_.add(held.price); break;
    case Billing::unknown: unknown_.add(held.price); break;
    case Billing::not_billed: ++not_billed_; return;
  }
  if (!held.priced) ++unpriced_;
}

void SpendGuard::observe_balance(double balance_usd, std::optional<double> diem) {
  const std::int64_t m = micros(balance_usd);
  if (!first_usd_) first_usd_ = m;
  last_usd_ = m;
  // At concurrency > 1 answers arrive out of order: a higher balance seen later was most likely
  // read earlier, so the check keeps the lowest (a top-up mid-run only makes it stop sooner).
  if (!lowest_usd_ || m <= *lowest_usd_) {
    lowest_usd_ = m;
    spent_at_lowest_ = billed_.usd + unknown_.usd;
  }
  if (diem) {
    const std::int64_t d = micros(*diem);
    if (!first_diem_) first_diem_ = d;
    last_diem_ = d;
  }
}

SpendTotals SpendGuard::totals() const {
  SpendTotals t;
  t.billed = to_amount(billed_);
  t.unknown = to_amount(unknown_);
  t.in_flight = to_amount(in_flight_);
  Micros estimated = billed_;
  estimated.add(unknown_);
  t.estimated = to_amount(estimated);
  t.not_billed_attempts = not_billed_;
  t.unpriced_attempts = unpriced_;
  // Observed spend is only first - last for the whole run. At concurrency > 1 it cannot be put
  // on one job: each header is the balance when the API read it before that request, several
  // requests are charged between two such reads in an order the client never sees, answers
  // arrive out of order, and other clients of the same account spend from the same balance.
  if (first_usd_) {
    t.balance_first_usd = from_micros(*first_usd_);
    t.balance_last_usd = from_micros(*last_usd_);
    t.observed_spend_usd = from_micros(*first_usd_ - *last_usd_);
  }
  if (first_diem_) {
    t.balance_first_diem = from_micros(*first_diem_);
    t.balance_last_diem = from_micros(*last_diem_);
    t.observed_spend_diem = from_micros(*first_diem_ - *last_diem_);
  }
  return t;
}

Billing billing_of_attempt(std::optional<int> http_status, bool request_sent, bool content_violation,
                           bool maybe_billed_twice) {
  if (http_status && *http_status == 200) return content_violation ? Billing::not_billed : Billing::billed;
  if (http_status && classify_status(*http_status) == StatusClass::transient_maybe_billed) return Billing::unknown;
  // Another success (201, 204...): the API did the work and may have charged for it, retried or not.
  if (http_status && classify_status(*http_status) == StatusClass::success) return Billing::unknown;
  if (maybe_billed_twice || (!http_status && request_sent)) return Billing::unknown;
  return Billing::not_billed;
}

}  // namespace venice_batch
