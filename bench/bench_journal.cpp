// Resume cost: reading back a results.jsonl of 1,000,000 jobs (written by JournalWriter, so
// lines look like a real run's) and deciding what to skip. Target: under 2 s, memory
// proportional to the number of jobs, not their text. Baseline in the same run: the previous
// reader, which parsed every whole line into a DOM (read_journal now reads only the first fields).
// Run: build-bench/bench/bench_journal
#include <benchmark/benchmark.h>

#include <sys/resource.h>
#include <unistd.h>

#include <simdjson.h>

#include "venice_batch/journal.hpp"
#include "venice_batch/line_reader.hpp"

using namespace venice_batch;

namespace {

// The journal's file, removed when the benchmark exits (it is close to 1 GB).
struct BenchJournal {
  std::filesystem::path path;
  ~BenchJournal() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};

const std::filesystem::path& journal_of_a_million() {
  static const BenchJournal journal{[] {
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
      r.files.push_back({"images/" + r.id + "_0.webp", 351234, ImageFormat::webp, std::nullopt, {1024, 1024}});
      r.server_id = "generate-image-" + std::to_string(i);
      r.server_timing = ServerTiming{812, 3, 41, 860};
      r.timing.total_ms = 901.5;
      r.timing.network.ttfb_ms = 870.25;
      AttemptRecord a;
      a.http_status = 200;
      a.cause = "ok";
      a.request_sent = true;
      r.attempts.push_back(a);
      if (r.status == JobStatus::failed)
        r.error = JobError{"http_503", "HTTP 503: at capacity", R"({"error":"at capacity"})", "", true, false};
      (void)w.append(r);
    }
    return p;
  }()};
  return journal.path;
}

// The previous read_journal: every line parsed whole into a DOM, then the resume fields read.
std::unordered_map<std::string, JournalState> read_with_full_dom_parse(const std::filesystem::path& path) {
  std::unordered_map<std::string, JournalState> jobs;
  LineReader reader(path, "journal", std::size_t{64} << 20, std::size_t{4} << 20);
  simdjson::dom::parser parser;
  while (auto line = reader.next()) {
    simdjson::dom::element doc;
    std::string_view id, status, hash;
    if (parser.parse(line->text.data(), line->text.size(), false).get(doc) || doc["id"].get_string().get(id) ||
        doc["status"].get_string().get(status))
      continue;
    JournalState s;
    s.status = parse_job_status(status).value_or(JobStatus::failed);
    bool retryable = false;
    if (doc["retryable"].get_bool().get(retryable) == simdjson::SUCCESS) s.retryable = retryable;
    if (doc["request_hash"].get_string().get(hash) == simdjson::SUCCESS) s.request_hash64 = hash_prefix64(hash);
    jobs.insert_or_assign(std::string(id), s);
  }
  return jobs;
}

template <class Read>
void read_a_million(benchmark::State& state, Read read) {
  const auto& path = journal_of_a_million();
  std::size_t jobs = 0;
  for (auto _ : state) {
    auto j = read(path);
    jobs = j.size();
    benchmark::DoNotOptimize(j);
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  state.counters["jobs"] = static_cast<double>(jobs);
  state.counters["file_MB"] = static_cast<double>(std::filesystem::file_size(path)) / 1e6;
  state.counters["peak_RSS_MB"] = static_cast<double>(ru.ru_maxrss) / 1024.0;
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * std::filesystem::file_size(path)));
}
void BM_ReadJournalOfAMillionJobs(benchmark::State& state) {
  read_a_million(state, [](const std::filesystem::path& p) { return read_journal(p).jobs; });
}
void BM_ReadJournalOfAMillionJobs_PreviousFullDomParse(benchmark::State& state) {
  read_a_million(state, read_with_full_dom_parse);
}
// compact_journal's worst case: no line superseded, so all of it is read twice and written again
// (with fsync). What a start that compacts pays once.
void BM_CompactJournalOfAMillionJobs(benchmark::State& state) {
  const auto& path = journal_of_a_million();
  const auto copy = std::filesystem::path(path).replace_extension(".compact.jsonl");
  for (auto _ : state) {
    state.PauseTiming();
    std::filesystem::copy_file(path, copy, std::filesystem::copy_options::overwrite_existing);
    state.ResumeTiming();
    auto result = compact_journal(copy);
    if (!result) state.SkipWithError(result.error().message().c_str());
  }
  std::filesystem::remove(copy);
}
BENCHMARK(BM_ReadJournalOfAMillionJobs)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_CompactJournalOfAMillionJobs)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_ReadJournalOfAMillionJobs_PreviousFullDomParse)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
