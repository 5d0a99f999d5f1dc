#include "venice_batch/progress.hpp"

#include <cmath>
#include <ostream>

#include <fmt/format.h>

namespace venice_batch {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<long long>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

ProgressPrinter::ProgressPrinter(std::ostream& out, bool quiet, bool terminal, std::chrono::milliseconds plain_interval)
    : out_(out), quiet_(quiet), terminal_(terminal), plain_interval_(plain_interval) {}

std::chrono::milliseconds ProgressPrinter::tick_interval() const { return std::chrono::milliseconds(250); }

std::string ProgressPrinter::format_line(const MetricsCounters& c, double elapsed_s, std::string_view pacing) {
  const std::uint64_t done = c.jobs_ok + c.jobs_failed + c.jobs_invalid + c.jobs_content_violation + c.jobs_skipped;
  samples_.emplace_back(elapsed_s, c.images);
  while (samples_.size() > 2 && samples_.front().first < elapsed_s - 10.0) samples_.pop_front();
  double rate = 0;
  if (samples_.size() >= 2 && samples_.back().first > samples_.front().first)
    rate = static_cast<double>(samples_.back().second - samples_.front().second) /
           (samples_.back().first - samples_.front().first);
  // ETA from the job rate of this run (jobs skipped as already done took no time); none
  // without a total (a manifest read from a pipe).
  std::string eta = "?", total = "?";
  if (c.jobs_total) {
    total = fmt::format("{}", *c.jobs_total);
    const std::uint64_t processed = done - c.jobs_skipped;
    const std::uint64_t remaining = *c.jobs_total > done ? *c.jobs_total - done : 0;
    if (processed > 0 && elapsed_s > 0) eta = format_duration(static_cast<double>(remaining) * elapsed_s / static_cast<double>(processed));
    if (remaining == 0) eta = "0s";
  }
  return fmt::format("{}/{} done | ok {} failed {} retrying {} | in flight {} | {:.1f} img/s | ETA {} | {}", done, total,
                     c.jobs_ok + c.jobs_skipped, c.jobs_failed + c.jobs_invalid + c.jobs_content_violation, c.retrying,
                     c.in_flight, rate, eta, pacing);
}

void ProgressPrinter::update(const MetricsCounters& c, double elapsed_s, std::string_view pacing) {
  if (quiet_) return;
  if (terminal_) {
    out_ << "\r\033[2K" << format_line(c, elapsed_s, pacing) << std::flush;
    line_drawn_ = true;
  } else if (elapsed_s - last_plain_s_ >= std::chrono::duration<double>(plain_interval_).count()) {
    last_plain_s_ = elapsed_s;
    out_ << "progress: " << format_line(c, elapsed_s, pacing) << "\n" << std::flush;
  } else {
    format_line(c, elapsed_s, pacing);  // keep the 10 s rate window fed
  }
}

void ProgressPrinter::note(std::string_view message) {
  if (terminal_ && line_drawn_) out_ << "\r\033[2K";
  out_ << "venice-batch: " << message << "\n";
  line_drawn_ = false;
}

void ProgressPrinter::finish() {
  if (terminal_ && line_drawn_) out_ << "\r\033[2K" << std::flush;
  line_drawn_ = false;
}

}  // namespace venice_batch
