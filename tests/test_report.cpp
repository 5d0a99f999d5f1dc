// report.html: built from a real run against the emulator, checked as a file and then loaded
// in a real headless Chromium (installed by scripts/setup.sh), with a screenshot kept. What the
// page counts and lists from a large journal: test_report_journal.cpp.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "test_support.hpp"
#include "venice_batch/layout.hpp"
#include "venice_batch/mock_server.hpp"
#include "venice_batch/report.hpp"

using namespace venice_batch;
using test_support::TempDir;

namespace {

// Runs a small batch (ok jobs, an invalid line, a prompt that tries to break out of the page's
// script) and returns its out dir.
std::filesystem::path make_run(const TempDir& dir) {
  MockOptions o;
  o.api_key = "report-key";
  o.cert_dir = dir.path() / "cert";
  o.latency_min = o.latency_max = std::chrono::milliseconds(5);
  MockServer mock(o);
  mock.start();
  std::string m;
  for (int i = 0; i < 24; ++i)
    m += "{\"id\":\"img-" + std::to_string(i) + "\",\"prompt\":\"a lighthouse number " + std::to_string(i) +
         "\",\"width\":96,\"height\":64,\"format\":\"" + (i % 2 ? "png" : "webp") + "\"" +
         (i == 0 ? R"(,"metadata":{"batch":"harbor-set","note":"</script><b>"})" : "") + "}\n";
  m += R"({"id":"evil","prompt":"</script><script>alert(1)</script><!--","width":64,"height":64})" "\n";
  m += R"({"id":"bad","prompt":"x","width":99999})" "\n";
  test_support::write_file(dir / "m.jsonl", m);
  auto r = test_support::run_process({VENICE_BATCH_EXE, "run", "--manifest", (dir / "m.jsonl").string(), "--out",
                                      (dir / "out").string(), "--base-url",
                                      "https://127.0.0.1:" + std::to_string(mock.port()) + "/api/v1", "--ca-file",
                                      mock.ca_file().string(), "--report"},
                                     {{"VENICE_API_KEY", "report-key"}});
  EXPECT_EQ(r.exit_status, 1) << r.err;  // the invalid line
  EXPECT_NE(r.err.find("report.html"), std::string::npos) << r.err;
  return dir / "out";
}

}  // namespace

TEST(ReportTest, SelfContainedPageReferencesImagesAndEscapesData) {
  TempDir dir;
  auto out = make_run(dir);
  // `report OUTDIR` rewrites it; a torn last line (a crash) must not break it.
  { std::ofstream(out / "results.jsonl", std::ios::app) << "{\"id\":\"torn\",\"sta"; }
  auto r = test_support::run_process({VENICE_BATCH_EXE, "report", out.string()});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  const auto html = test_support::read_file(out / "report.html");
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);
  EXPECT_EQ(html.find("href=\"http"), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_EQ(html.find("</script><script>alert"), std::string::npos) << "data broke out of the script element";
  EXPECT_EQ(html.find("base64,"), std::string::npos) << "images must be referenced, not embedded";
  EXPECT_NE(html.find("images/" + venice_batch::fanout_folder("img-3", 3) + "/img-3_0.png"), std::string::npos);
  EXPECT_NE(html.find("harbor-set"), std::string::npos) << "a line's metadata is shown with its image";
  EXPECT_EQ(html.find("</script><b>"), std::string::npos) << "metadata broke out of the script element";
  EXPECT_NE(html.find("invalid_line"), std::string::npos);
  EXPECT_EQ(html.find("\"torn\""), std::string::npos);
}

TEST(ReportTest, MissingResultsIsAnErrorNotAnEmptyPage) {
  TempDir dir;
  std::string why;
  EXPECT_FALSE(write_report(dir.path(), &why));
  EXPECT_NE(why.find("results.jsonl"), std::string::npos);
}

TEST(ReportTest, OpensInHeadlessChromiumWithGalleryChartsAndNoConsoleErrors) {
  const std::string chromium = "/usr/bin/chromium";
  ASSERT_TRUE(std::filesystem::exists(chromium))
      << chromium << " is not installed: run scripts/setup.sh (it installs chromium); tests install nothing";
  TempDir dir;
  auto out = make_run(dir);
  const auto page = "file://" + (out / "report.html").string();
  const std::vector<std::string> flags = {chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                                          "--no-first-run", "--disable-background-networking",
                                          "--disable-component-update", "--disable-sync",
                                          "--user-data-dir=" + (dir.path() / "profile").string(),
                                          "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"};
  auto dom_args = flags;
  dom_args.push_back("--dump-dom");
  dom_args.push_back(page);
  auto dom = test_support::run_process(dom_args, {}, std::chrono::seconds(90));
  ASSERT_EQ(dom.exit_status, 0) << dom.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(dom.out, m, std::regex("<title>report-ok gallery=(\\d+) images=(\\d+) charts=(\\d+)</title>")))
      << "the page's script did not finish; stderr:\n" << dom.err.substr(0, 4000);
  EXPECT_EQ(std::stoi(m[1]), 25);  // 24 + the escaping prompt, one image each, all on page 1
  EXPECT_EQ(std::stoi(m[2]), 25);
  EXPECT_EQ(std::stoi(m[3]), 4);  // phases + throughput + errors + latency
  EXPECT_NE(dom.out.find("<svg"), std::string::npos);
  EXPECT_NE(dom.out.find("&lt;/script&gt;&lt;script&gt;alert(1)"), std::string::npos) << "prompt shown as text";
  for (const char* bad : {"Uncaught", "SyntaxError", "TypeError", "ReferenceError"})
    EXPECT_EQ(dom.err.find(bad), std::string::npos) << bad << " in console:\n" << dom.err.substr(0, 4000);

  auto shot_args = flags;
  const auto shot = std::filesystem::path(VENICE_BUILD_DIR) / "report-screenshot.png";
  std::filesystem::remove(shot);
  shot_args.push_back("--window-size=1280,2200");
  shot_args.push_back("--screenshot=" + shot.string());
  shot_args.push_back(page);
  auto s = test_support::run_process(shot_args, {}, std::chrono::seconds(90));
  EXPECT_EQ(s.exit_status, 0) << s.err;
  EXPECT_TRUE(std::filesystem::exists(shot)) << s.err;
  EXPECT_GT(std::filesystem::file_size(shot), 10000u);
}
