#include "venice_batch/progress.hpp"

#include <cmath>
#include <cstdio>
#include <ostream>

namespace venice_batch {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%lldm%02llds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%llds", s);
  return buf;
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
  // ETA from the job rate of this run (jobs skipped as already done took no time).
  const std::uint64_t processed = done - c.jobs_skipped;
  const std::uint64_t remaining = c.jobs_total > done ? c.jobs_total - done : 0;
  std::string eta = "?";
  if (processed > 0 && elapsed_s > 0) eta = format_duration(static_cast<double>(remaining) * elapsed_s / static_cast<double>(processed));
  if (remaining == 0) eta = "0s";
  char buf[256];
  std::snprintf(buf, sizeof buf, "%llu/%llu done | ok %llu failed %llu retrying %llu | in flight %llu | %.1f img/s | ETA %s | %.*s",
                static_cast<unsigned long long>(done), static_cast<unsigned long long>(c.jobs_total),
                static_cast<unsigned long long>(c.jobs_ok + c.jobs_skipped),
                static_cast<unsigned long long>(c.jobs_failed + c.jobs_invalid + c.jobs_content_violation),
                static_cast<unsigned long long>(c.retrying), static_cast<unsigned long long>(c.in_flight), rate,
                eta.c_str(), static_cast<int>(pacing.size()), pacing.data());
  return buf;
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
