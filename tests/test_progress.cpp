// Live progress as a person sees it: the client runs in a real terminal (tmux), and the pane
// is captured while it runs. Plus the plain-line mode for logs and the line's own format.
#include <gtest/gtest.h>

#include <sstream>
#include <thread>

#include "test_support.hpp"
#include "venice_batch/mock_server.hpp"
#include "venice_batch/progress.hpp"

using namespace venice_batch;
using test_support::TempDir;

TEST(ProgressTest, LineShowsCountsRateEtaAndPacing) {
  std::ostringstream out;
  ProgressPrinter p(out, false, false, std::chrono::seconds(10));
  MetricsCounters c;
  c.jobs_total = 100;
  c.jobs_ok = 40;
  c.jobs_failed = 2;
  c.retrying = 1;
  c.in_flight = 4;
  c.images = 10;
  p.format_line(c, 0.0, "x");
  c.images = 50;
  auto line = p.format_line(c, 10.0, "20/min, waiting 12 s (quota reset)");
  EXPECT_NE(line.find("42/100 done"), std::string::npos) << line;
  EXPECT_NE(line.find("ok 40 failed 2 retrying 1"), std::string::npos) << line;
  EXPECT_NE(line.find("in flight 4"), std::string::npos) << line;
  EXPECT_NE(line.find("4.0 img/s"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA 14s"), std::string::npos) << line;  // 58 left at 4.2 jobs/s
  EXPECT_NE(line.find("20/min, waiting 12 s"), std::string::npos) << line;
}

TEST(ProgressTest, NotATerminalPrintsPlainLinesAtTheInterval) {
  std::ostringstream out;
  ProgressPrinter p(out, false, false, std::chrono::seconds(10));
  MetricsCounters c;
  c.jobs_total = 10;
  for (int t = 0; t <= 25; ++t) p.update(c, t, "unpaced");
  const auto text = out.str();
  EXPECT_EQ(text.find('\r'), std::string::npos);
  int lines = 0;
  for (char ch : text) lines += ch == '\n';
  EXPECT_EQ(lines, 2) << text;  // at 10 s and 20 s
}

TEST(ProgressTest, QuietPrintsNothingButNotes) {
  std::ostringstream out;
  ProgressPrinter p(out, true, true, std::chrono::seconds(1));
  p.update(MetricsCounters{}, 5, "unpaced");
  EXPECT_TRUE(out.str().empty());
  p.note("job 'x' failed: HTTP 400");
  EXPECT_NE(out.str().find("job 'x' failed"), std::string::npos);
}

TEST(ProgressTest, RedrawnLineIsVisibleInARealTerminal) {
  if (std::system("command -v tmux >/dev/null 2>&1") != 0) GTEST_SKIP() << "tmux is not installed (scripts/setup.sh installs it)";
  TempDir dir;
  MockOptions o;
  o.api_key = "tmux-key";
  o.cert_dir = dir.path() / "cert";
  o.latency_min = o.latency_max = std::chrono::milliseconds(300);
  MockServer mock(o);
  mock.start();
  std::string manifest;
  for (int i = 0; i < 60; ++i) manifest += "{\"prompt\":\"p" + std::to_string(i) + "\",\"width\":64,\"height\":64}\n";
  test_support::write_file(dir / "m.jsonl", manifest);
  const std::string session = "vb-progress-" + std::to_string(::getpid());
  const std::string cmd = std::string("VENICE_API_KEY=tmux-key ") + VENICE_BATCH_EXE + " run --manifest " +
                          (dir / "m.jsonl").string() + " --out " + (dir / "out").string() +
                          " --base-url https://127.0.0.1:" + std::to_string(mock.port()) + "/api/v1 --ca-file " +
                          mock.ca_file().string() + " --concurrency 2; sleep 30";
  auto start = test_support::run_process(
      {"/usr/bin/env", "tmux", "new-session", "-d", "-s", session, "-x", "200", "-y", "10", cmd});
  ASSERT_EQ(start.exit_status, 0) << start.err;
  std::string pane;
  bool seen = false;
  for (int i = 0; i < 50 && !seen; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    pane = test_support::run_process({"/usr/bin/env", "tmux", "capture-pane", "-p", "-t", session}).out;
    seen = pane.find("/60 done") != std::string::npos && pane.find("img/s") != std::string::npos;
  }
  test_support::run_process({"/usr/bin/env", "tmux", "kill-session", "-t", session});
  EXPECT_TRUE(seen) << "pane:\n" << pane;
  EXPECT_NE(pane.find("in flight"), std::string::npos) << pane;
  EXPECT_NE(pane.find("ETA"), std::string::npos) << pane;
  // One redrawn line, not a scroll of lines.
  int progress_lines = 0;
  std::istringstream in(pane);
  for (std::string line; std::getline(in, line);) progress_lines += line.find("done |") != std::string::npos;
  EXPECT_EQ(progress_lines, 1) << pane;
}

TEST(ProgressTest, ManifestFromAPipeShowsNoTotalAndNoEta) {
  std::ostringstream out;
  ProgressPrinter p(out, false, false, std::chrono::seconds(10));
  MetricsCounters c;  // jobs_total unknown
  c.jobs_ok = 7;
  p.format_line(c, 0.0, "x");
  const auto line = p.format_line(c, 10.0, "unpaced");
  EXPECT_NE(line.find("7/? done"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA ?"), std::string::npos) << line;
}

TEST(ProgressTest, DurationsReadAsHoursMinutesSeconds) {
  EXPECT_EQ(format_duration(12.4), "12s");
  EXPECT_EQ(format_duration(245), "4m05s");
  EXPECT_EQ(format_duration(3720), "1h02m");
  EXPECT_EQ(format_duration(-1), "?");
}
