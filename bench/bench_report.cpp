// report on a run of 1,000,000 jobs: results.jsonl as JournalWriter writes it (a resumed run:
// 5% of the jobs failed first and have a second, ok line; 2% failed for good; some retries
// marked maybe_billed_twice) plus 50,000 timeline.jsonl intervals (a 28-hour run). Measures
// write_report's time, the page's size and the process's peak RSS.
// Run: build-bench/bench/bench_report   (VENICE_BENCH_OUT=DIR keeps the out dir there, e.g. to
// time `venice-batch report DIR` from the user's side; see bench/report_1m.sh)
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>

#include <sys/resource.h>
#include <unistd.h>

#include "venice_batch/journal.hpp"
#include "venice_batch/report.hpp"

using namespace venice_batch;

namespace {

JobRecord job(int i, JobStatus status) {
  JobRecord r;
  r.id = "job-" + std::to_string(i);
  r.line = static_cast<std::uint64_t>(i + 1);
  r.status = status;
  r.http_status = status == JobStatus::ok ? 200 : 503;
  r.request_hash = "5f2b7c1e9a0d4c3b8e6f1a2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3";
  r.model = "z-image-turbo";
  r.prompt = "A quiet canal in Venice at dusk, gondolas moored, warm lamplight on the water, number " + std::to_string(i);
  if (status == JobStatus::ok) r.files.push_back({"images/" + r.id + "_0.webp", 351234, ImageFormat::webp});
  r.server_timing = ServerTiming{812, 3, 41, 860};
  r.timing.total_ms = 901.5;
  AttemptRecord a;
  a.http_status = r.http_status;
  a.cause = status == JobStatus::ok ? "ok" : "http_503";
  a.request_sent = true;
  if (i % 97 == 0) {  // a timed-out attempt went again
    AttemptRecord lost = a;
    lost.http_status = 0;
    lost.cause = "timeout";
    lost.maybe_billed_twice = true;
    r.attempts.push_back(lost);
  }
  r.attempts.push_back(a);
  if (status != JobStatus::ok) r.error = JobError{"http_503", "HTTP 503: at capacity", R"({"error":"at capacity"})", "", true};
  return r;
}

std::filesystem::path out_dir_of_a_million() {
  static const std::filesystem::path dir = [] {
    const char* keep = std::getenv("VENICE_BENCH_OUT");
    auto d = keep ? std::filesystem::path(keep)
                  : std::filesystem::temp_directory_path() / ("venice-bench-report-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::filesystem::remove(d / "results.jsonl");
    {
      JournalWriter w(d / "results.jsonl");
      for (int i = 0; i < 1'000'000; ++i) {
        if (i % 20 == 0) (void)w.append(job(i, JobStatus::failed));  // the first run
        (void)w.append(job(i, i % 50 == 1 ? JobStatus::failed : JobStatus::ok));
      }
    }
    std::ofstream tl(d / "timeline.jsonl");
    for (int i = 1; i <= 50'000; ++i)
      tl << R"({"t_s":)" << 2 * i << R"(,"interval_s":2,"jobs":20,"jobs_ok":20,"images":20,"errors":0,"http_429":0,)"
         << R"("in_flight":16,"rate_limit_per_min":0,"pacing":"unpaced","latency_p50_ms":850,"latency_p99_ms":1200})" << "\n";
    return d;
  }();
  return dir;
}

void BM_WriteReportOfAMillionJobs(benchmark::State& state) {
  const auto dir = out_dir_of_a_million();
  for (auto _ : state) {
    std::string why;
    auto page = write_report(dir, &why);
    if (!page) state.SkipWithError(why.c_str());
    benchmark::DoNotOptimize(page);
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  state.counters["journal_MB"] = static_cast<double>(std::filesystem::file_size(dir / "results.jsonl")) / 1e6;
  state.counters["page_KB"] = static_cast<double>(std::filesystem::file_size(dir / "report.html")) / 1e3;
  state.counters["peak_RSS_MB"] = static_cast<double>(ru.ru_maxrss) / 1024.0;
  if (!std::getenv("VENICE_BENCH_OUT")) std::filesystem::remove_all(dir);
}
BENCHMARK(BM_WriteReportOfAMillionJobs)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
