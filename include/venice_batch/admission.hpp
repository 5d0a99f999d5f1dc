// Admission: may a request of this model start now? The API's quota is per account and model,
// its failure lock per key: one ModelPacer per model (created on first use, fed by that model's
// answers, optionally seeded from /api_keys/rate_limits) behind one KeyGuard for the key. A
// model that waits on its quota never holds back another; a failure lock holds them all.
// No I/O, no clock of its own: the run (and the tests) hand it `now`.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "venice_batch/pacing.hpp"

namespace venice_batch {

/// The answer to "may this request start now?".
struct AdmitResult {
  enum class Kind {
    go,                 ///< start it now: the start is recorded
    wait,               ///< ask again at `until`; `why` says what holds it back
    daily_cap_reached,  ///< the model's requests per day are used up: its jobs stop for this run
  };
  Kind kind = Kind::go;
  PacingClock::time_point until{};
  PacingHold why = PacingHold::none;
};

/// One model's pacing, for progress lines and metrics.
struct ModelPacingView {
  std::string model;
  std::optional<std::uint64_t> limit;                ///< requests per window, as stated
  std::optional<std::chrono::milliseconds> window;   ///< the window's length, as learned
  std::optional<std::int64_t> remaining;             ///< left in the current window, by our count
  double rate_per_minute = 0;                        ///< the cap in force (0: none yet)
  std::chrono::milliseconds wait{0};                 ///< until this model may start again
  PacingHold hold = PacingHold::none;                ///< what holds it (the key's hold included)
  std::optional<std::uint64_t> daily_limit;          ///< RPD, when stated
  std::uint64_t started_today = 0;                   ///< requests counted against it (one per image)
  bool daily_cap_reached = false;
};

class Admission {
 public:
  /// `settings` apply to every model (a configured requests_per_minute caps each model) and the
  /// failure budget to the key; `now` is when pacing begins.
  Admission(PacingSettings settings, PacingClock::time_point now);

  /// A model's limits from /api_keys/rate_limits: `rpm` paces it until its answers carry quota
  /// headers; `rpd` caps its starts for the run (counted one per image, like the quota). Call
  /// before its first request; absent values are not stated.
  void set_model_limits(std::string_view model, std::optional<std::uint64_t> rpm, std::optional<std::uint64_t> rpd);
  /// Requests of `model` already counted today by earlier runs (daily_usage.json): the daily cap
  /// counts from there. Call before its first request.
  void set_started_today(std::string_view model, std::uint64_t requests);
  /// Each model's requests counted today (seeded ones included), by name: for daily_usage.json.
  std::map<std::string, std::uint64_t, std::less<>> started_today() const;
  /// The day turned: every model's daily count starts again and a model stopped at its cap may go.
  void start_new_day();

  /// May a request of `model` costing `cost` units (one per image: a 4-variant request costs 4)
  /// start at `now`? The key's hold comes first, then the model's quota. A model stops at its
  /// daily cap when the next request would take it over.
  AdmitResult try_start(std::string_view model, PacingClock::time_point now, unsigned cost = 1);
  /// Feeds back one answer to a request of `model`: its quota headers and 429s reach that model
  /// only; failures count against the key's budget; a failure-lock 429 holds every model.
  /// `status` 0: no HTTP answer (it counts as a failure only if the request was sent).
  void on_answer(std::string_view model, PacingClock::time_point now, int status, const RateLimitHeaders& headers,
                 bool failure_lock, bool request_sent);
  /// The API could not be reached: every model waits (see KeyGuard::on_unreachable).
  void on_unreachable(PacingClock::time_point now) { key_.on_unreachable(now); }

  bool daily_cap_reached(std::string_view model) const;
  /// Why `model` stopped for the run, for the user: its daily cap as counted ("it reached its
  /// daily request cap (100 of 100 today)"), or a 429 whose wait was longer than the run waits,
  /// which is only read as a daily limit ("the API refused it with a wait over 5 minutes ...").
  std::string daily_stop_reason(std::string_view model) const;
  /// Each model seen so far, by name.
  std::vector<ModelPacingView> models(PacingClock::time_point now) const;
  /// One line for progress, models by name: "venice-sd35 90/min (0 left), waiting 4 s (quota
  /// reset); z-image-turbo 30/min (12 left)"; a hold of the key comes first: "all models waiting
  /// 30 s (failure lock); …"; "unpaced" before any model.
  std::string describe(PacingClock::time_point now) const;
  /// The key's hold (failure budget, failure lock, unreachable): it holds every model.
  PacingHold hold(PacingClock::time_point now) const;
  std::chrono::milliseconds blocked_for(PacingClock::time_point now) const { return key_.blocked_for(now); }

 private:
  struct Model {
    ModelPacer pacer;
    std::optional<std::uint64_t> daily_limit;
    std::uint64_t started = 0;
    bool capped = false;
    bool refused_for_long = false;  ///< capped by a 429 whose wait was over the cap, not by our count
  };
  Model& model(std::string_view name, PacingClock::time_point now);

  PacingSettings settings_;
  PacingClock::time_point began_;
  KeyGuard key_;
  std::map<std::string, Model, std::less<>> models_;
};

}  // namespace venice_batch
