// Resume cost: reading back a results.jsonl of 1,000,000 jobs (written by JournalWriter, so
// lines look like a real run's) and deciding what to skip. Target: under 2 s, memory
// proportional to the number of jobs, not their text.
// Run: build-bench/bench/bench_journal
#include <benchmark/benchmark.h>

#include <sys/resource.h>
#include <unistd.h>

#include "venice_batch/journal.hpp"

using namespace venice_batch;

namespace {

const std::filesystem::path& journal_of_a_million() {
  static const std::filesystem::path path = [] {
    auto p = std::filesystem::temp_directory_path() / ("venice-bench-journal-" + std::to_string(::getpid()) + ".jsonl");
    JournalWriter w(p);
    for (int i = 0; i < 1'000'000; ++i) {
      JobRecord r;
      r.id = "job-" + std::to_string(i);
      r.line = static_cast<std::uint64_t>(i + 1);
      r.status = i % 50 == 0 ? JobStatus::failed : JobStatus::ok;
      r.http_status = 200;
      r.request_hash = "5f2b7c1e9a0d4c3b8e6f1a2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3";
      r.model = "z-image-turbo";
      r.prompt = "A quiet canal in Venice at dusk, gondolas moored, warm lamplight on the water, number " + std::to_string(i);
      r.files.push_back({"images/" + r.id + "_0.webp", 351234, ImageFormat::webp});
      r.server_id = "generate-image-" + std::to_string(i);
      r.server_timing = ServerTiming{812, 3, 41, 860};
      r.timing.total_ms = 901.5;
      r.timing.network.ttfb_ms = 870.25;
      AttemptRecord a;
      a.http_status = 200;
      a.cause = "ok";
      a.request_sent = true;
      r.attempts.push_back(a);
      if (r.status == JobStatus::failed) r.error = JobError{"http_503", "HTTP 503: at capacity", R"({"error":"at capacity"})", "", true};
      (void)w.append(r);
    }
    return p;
  }();
  return path;
}

void BM_ReadJournalOfAMillionJobs(benchmark::State& state) {
  const auto& path = journal_of_a_million();
  std::size_t jobs = 0;
  for (auto _ : state) {
    auto j = read_journal(path);
    jobs = j.jobs.size();
    benchmark::DoNotOptimize(j);
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  state.counters["jobs"] = static_cast<double>(jobs);
  state.counters["file_MB"] = static_cast<double>(std::filesystem::file_size(path)) / 1e6;
  state.counters["peak_RSS_MB"] = static_cast<double>(ru.ru_maxrss) / 1024.0;
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * std::filesystem::file_size(path)));
}
BENCHMARK(BM_ReadJournalOfAMillionJobs)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
