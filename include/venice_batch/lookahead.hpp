// Look-ahead: manifest jobs read ahead of the workers, so that a model waiting on its quota never
// holds back another model's jobs. Jobs leave in manifest order, except that the jobs of a model
// that must wait are passed over; a job never overtakes an earlier job of its own model. The
// queue is bounded (config `lookahead_jobs`). No I/O: the admission is handed in.
#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "venice_batch/admission.hpp"

namespace venice_batch {

/// One pass over the queue asks the admission at most once per model: what it said, and the
/// earliest time any waiting model may go.
class LookaheadPass {
 public:
  /// What the admission said of `model` earlier in this pass (nullptr: not asked yet).
  const AdmitResult* answer_for(std::string_view model) const;
  /// Notes what the admission said of `model`; returns the noted answer.
  const AdmitResult& note(std::string_view model, const AdmitResult& answer);
  /// The earliest `until` among the waits noted.
  std::optional<PacingClock::time_point> retry_at() const { return retry_at_; }

 private:
  std::deque<std::pair<std::string, AdmitResult>> answers_;  // a few models: a short list; stable references
  std::optional<PacingClock::time_point> retry_at_;
};

/// `Job` is the run's payload (a parsed manifest line); the queue only needs its model and cost.
template <class Job>
class Lookahead {
 public:
  /// What take() found. Neither a job nor retry_at: the queue is empty (nothing was queued, or
  /// every queued job left for its model's daily cap).
  struct Taken {
    std::optional<Job> job;                          ///< may start now: its start is recorded
    std::optional<PacingClock::time_point> retry_at;  ///< nothing may go now: ask again then
    /// Jobs that left the queue because their model reached its daily cap (stopped, resumable).
    std::vector<Job> stopped_at_daily_cap;
  };

  explicit Lookahead(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

  std::size_t size() const { return queue_.size(); }
  bool empty() const { return queue_.empty(); }
  bool full() const { return queue_.size() >= capacity_; }

  /// Queues a job read from the manifest, after those already queued. When the queue is full it
  /// returns false and leaves `job` as it was.
  bool push(Job&& job, std::string model, unsigned cost) {
    if (full()) return false;
    queue_.push_back(Entry{std::move(job), std::move(model), cost});
    return true;
  }

  /// Walks the queue in manifest order and returns the first job that may start (the admission
  /// recorded its start), else the earliest time any may; jobs whose model reached its daily cap
  /// leave the queue into `stopped_at_daily_cap`. `try_start(model, now, cost)` returns an
  /// AdmitResult (Admission::try_start); it is asked once per model per pass, for the model's
  /// earliest queued job only.
  template <class TryStart>
  Taken take(PacingClock::time_point now, TryStart&& try_start) {
    Taken taken;
    LookaheadPass pass;
    for (auto it = queue_.begin(); it != queue_.end();) {
      const AdmitResult* answer = pass.answer_for(it->model);
      if (!answer) {
        const AdmitResult fresh = try_start(std::string_view(it->model), now, it->cost);
        if (fresh.kind == AdmitResult::Kind::go) {
          taken.job = std::move(it->job);
          queue_.erase(it);
          return taken;
        }
        answer = &pass.note(it->model, fresh);
      }
      if (answer->kind == AdmitResult::Kind::daily_cap_reached) {
        taken.stopped_at_daily_cap.push_back(std::move(it->job));
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    taken.retry_at = pass.retry_at();
    return taken;
  }

  /// The same, asking `admission`.
  Taken take(PacingClock::time_point now, Admission& admission) {
    return take(now, [&admission](std::string_view model, PacingClock::time_point t, unsigned cost) {
      return admission.try_start(model, t, cost);
    });
  }

 private:
  struct Entry {
    Job job;
    std::string model;
    unsigned cost;
  };
  std::size_t capacity_;
  std::deque<Entry> queue_;
};

}  // namespace venice_batch
