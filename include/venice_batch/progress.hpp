// Live progress on stderr. On a terminal: one line redrawn a few times a
// second (done/total, ok/failed/retrying, in flight, images/s over the last
// 10 s, ETA, pacing). Elsewhere (a log file, CI): a plain line every
// `plain_interval`. Quiet: nothing but the notes of errors.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <iosfwd>
#include <string>
#include <string_view>
#include <utility>

#include "venice_batch/metrics.hpp"

namespace venice_batch {

class ProgressPrinter {
 public:
  ProgressPrinter(std::ostream& out, bool quiet, bool terminal, std::chrono::milliseconds plain_interval);

  /// How often update() should be called.
  std::chrono::milliseconds tick_interval() const;
  /// Redraws (terminal) or prints when the plain interval has passed.
  void update(const MetricsCounters& counters, double elapsed_s, std::string_view pacing);
  /// Prints a message on its own line without garbling the progress line (errors show even when quiet).
  void note(std::string_view message);
  /// Clears the progress line before the summary.
  void finish();

  /// The progress text itself (no control characters), for tests.
  std::string format_line(const MetricsCounters& counters, double elapsed_s, std::string_view pacing);

 private:
  std::ostream& out_;
  bool quiet_, terminal_;
  std::chrono::milliseconds plain_interval_;
  double last_plain_s_ = 0;
  bool line_drawn_ = false;
  std::deque<std::pair<double, std::uint64_t>> samples_;  // (elapsed s, images) over the last 10 s
};

/// "1h02m", "4m05s", "12s".
std::string format_duration(double seconds);

}  // namespace venice_batch
