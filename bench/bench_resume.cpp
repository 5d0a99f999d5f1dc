// Resume on a run of 1,000,000 finished jobs: the journal read back and the manifest pass that
// decides nothing is left to do, with finished lines skipped unparsed (ManifestReader::skip_finished,
// what a run does) against every line parsed, validated and hashed (what it did before).
// The out dir is made with the library's own writer: each record as a finished run writes it.
// Run: build-bench/bench/bench_resume   (VENICE_BENCH_OUT=DIR keeps manifest.jsonl and out/ there,
// to time `venice-batch run` on it from the user's side; see bench/resume_1m.sh)
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>

#include <fmt/format.h>

#include "venice_batch/journal.hpp"
#include "venice_batch/manifest.hpp"
#include "venice_batch/resume.hpp"

using namespace venice_batch;

namespace {

constexpr int kJobs = 1'000'000;
const ManifestOptions kOptions{R"({"model":"z-image-turbo","format":"webp"})", false};

// Half the lines carry their own id (a script's manifest), half are numbered by line.
void write_manifest(const std::filesystem::path& path) {
  std::ofstream out(path, std::ios::binary);
  for (int i = 1; i <= kJobs; ++i) {
    if (i % 2) out << fmt::format(R"({{"id":"p-{}","prompt":"resume probe {}: a quiet canal at dusk","width":1024,"height":1024}})", i, i) << '\n';
    else out << fmt::format(R"({{"prompt":"resume probe {}: a quiet canal at dusk","width":1024,"height":1024,"seed":{}}})", i, i) << '\n';
  }
}

// The journal a finished run leaves: one ok record per line, written by JournalWriter.
void write_journal(const std::filesystem::path& manifest, const std::filesystem::path& journal) {
  ManifestReader reader(manifest, kOptions);
  JournalWriter writer(journal);
  while (auto entry = reader.next()) {
    const auto& job = std::get<JobSpec>(*entry);
    JobRecord r;
    r.id = job.id;
    r.line = job.line;
    r.status = JobStatus::ok;
    r.http_status = 200;
    r.request_hash = job.request_hash;
    r.line_key = job.line_key;
    r.model = job.model;
    r.prompt = job.prompt;
    r.files.push_back({"images/" + job.id + "_0.webp", 351234, ImageFormat::webp});
    r.server_timing = ServerTiming{812, 3, 41, 860};
    r.timing.total_ms = 901.5;
    AttemptRecord a;
    a.http_status = 200;
    a.cause = "ok";
    a.request_sent = true;
    r.attempts.push_back(a);
    if (!writer.append(r)) std::abort();
  }
}

std::filesystem::path bench_dir() {
  static const std::filesystem::path dir = [] {
    const char* keep = std::getenv("VENICE_BENCH_OUT");
    std::filesystem::path d = keep ? keep : std::filesystem::temp_directory_path() / "venice-bench-resume";
    std::filesystem::create_directories(d / "out");
    if (!std::filesystem::exists(d / "out" / "results.jsonl")) {
      write_manifest(d / "manifest.jsonl");
      write_journal(d / "manifest.jsonl", d / "out" / "results.jsonl");
    }
    return d;
  }();
  return dir;
}

// What a resumed run does before its first request: read the journal, pass over the manifest.
void resume_pass(benchmark::State& state, bool skip_unparsed) {
  const auto dir = bench_dir();
  for (auto _ : state) {
    JournalSummary journal = read_journal(dir / "out" / "results.jsonl");
    ManifestReader reader(dir / "manifest.jsonl", kOptions);
    if (skip_unparsed)
      reader.skip_finished([&](std::string_view id) -> std::optional<ManifestReader::RecordedJob> {
        auto it = journal.jobs.find(id);
        if (it == journal.jobs.end()) return std::nullopt;
        return ManifestReader::RecordedJob{it->second.line_key64, &it->second.manifest_line};
      });
    std::uint64_t to_run = 0;
    while (auto entry = reader.next()) {
      const auto* job = std::get_if<JobSpec>(&*entry);
      if (!job) continue;
      auto it = journal.jobs.find(job->id);
      const JournalState* prev = it == journal.jobs.end() ? nullptr : &it->second;
      if (resume_job(prev, hash_prefix64(job->request_hash), false) != ResumeAction::skip_done) ++to_run;
    }
    if (to_run != 0) state.SkipWithError("a finished job would run again");
    state.counters["skipped_unparsed"] = static_cast<double>(reader.skipped());
  }
}

void BM_ResumeMillion_SkipUnparsed(benchmark::State& state) { resume_pass(state, true); }
void BM_ResumeMillion_ParseEveryLine(benchmark::State& state) { resume_pass(state, false); }
BENCHMARK(BM_ResumeMillion_SkipUnparsed)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_ResumeMillion_ParseEveryLine)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace
