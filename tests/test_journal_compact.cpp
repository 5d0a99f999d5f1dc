// compact_journal: the journal rewritten with one deciding line per id, atomically.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <map>
#include <tuple>

#include <sys/wait.h>
#include <unistd.h>

#include "test_support.hpp"
#include "venice_batch/journal.hpp"

using namespace venice_batch;
using test_support::TempDir;

namespace {

JobRecord record(std::string id, JobStatus status, char hash = '1', bool retryable = false) {
  JobRecord r;
  r.id = std::move(id);
  r.status = status;
  r.request_hash = std::string(64, hash);
  r.prompt = "a lagoon at dawn";
  if (status != JobStatus::ok) r.error = JobError{"http_503", "HTTP 503", "", "", retryable, false};
  return r;
}

void write_journal(const std::filesystem::path& path, const std::vector<JobRecord>& records) {
  JournalWriter w(path);
  for (const auto& r : records) ASSERT_TRUE(w.append(r));
}

// The state resume sees, comparable.
std::map<std::string, std::tuple<JobStatus, bool, std::uint64_t>> states(const JournalSummary& j) {
  std::map<std::string, std::tuple<JobStatus, bool, std::uint64_t>> out;
  for (const auto& [id, s] : j.jobs) out[id] = {s.status, s.retryable, s.request_hash64};
  return out;
}

std::vector<std::filesystem::path> temp_files(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (is_temp_file_name(e.path().filename().string())) out.push_back(e.path());
  return out;
}

}  // namespace

TEST(JournalCompactTest, KeepsTheDecidingLineOfEveryIdInFileOrder) {
  TempDir dir;
  const auto path = dir / "results.jsonl";
  write_journal(path, {record("a", JobStatus::failed, '1', true), record("b", JobStatus::ok),
                       record("a", JobStatus::failed, '1', true), record("c", JobStatus::failed, '1', true),
                       record("a", JobStatus::ok), record("b", JobStatus::invalid, '0'),  // a duplicate id
                       record("c", JobStatus::failed, '2', false), record("d", JobStatus::content_violation)});
  {  // and a line torn by a crash
    std::ofstream out(path, std::ios::app);
    out << "{\"id\":\"e\",\"status\":\"ok\",\"retr\n";
  }
  const auto before = read_journal(path);
  ASSERT_EQ(before.lines, 9u);
  EXPECT_EQ(before.superseded_lines, 4u);
  EXPECT_EQ(before.unreadable_lines, 1u);

  auto result = compact_journal(path);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->lines_before, 9u);
  EXPECT_EQ(result->lines_after, 4u);
  EXPECT_EQ(result->bytes_after, std::filesystem::file_size(path));
  EXPECT_LT(result->bytes_after, result->bytes_before);

  const auto after = read_journal(path);
  EXPECT_EQ(states(after), states(before));
  EXPECT_EQ(after.lines, 4u);
  EXPECT_EQ(after.superseded_lines, 0u);
  EXPECT_EQ(after.unreadable_lines, 0u);
  std::vector<std::string> ids;
  for (const auto& line : test_support::read_lines(path)) ids.push_back(line.substr(7, 1));
  EXPECT_EQ(ids, (std::vector<std::string>{"b", "a", "c", "d"}));
  EXPECT_TRUE(temp_files(dir.path()).empty());
}

TEST(JournalCompactTest, WorthItWhenMostLinesAreSuperseded) {
  JournalSummary s;
  s.lines = 10'000;
  s.superseded_lines = 4'000;
  s.unreadable_lines = 500;
  EXPECT_FALSE(worth_compacting(s));
  s.superseded_lines = 5'001;
  EXPECT_TRUE(worth_compacting(s));
  s.lines = kCompactMinLines - 1;  // too small to bother
  s.superseded_lines = s.lines;
  EXPECT_FALSE(worth_compacting(s));
}

TEST(JournalCompactTest, AMissingJournalIsNothingToDo) {
  TempDir dir;
  auto result = compact_journal(dir / "results.jsonl");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->lines_before, 0u);
  EXPECT_FALSE(std::filesystem::exists(dir / "results.jsonl"));
}

TEST(JournalCompactTest, ATempFileLeftByAKilledCompactionChangesNothing) {
  TempDir dir;
  const auto path = dir / "results.jsonl";
  write_journal(path, {record("a", JobStatus::failed, '1', true), record("a", JobStatus::ok)});
  const auto before = test_support::read_file(path);
  // What a kill during compaction leaves: the journal, and a temp file written in part.
  test_support::write_file(dir / ".results.jsonl.tmp-0123456789abcdef", "{\"id\":\"a\",\"sta");
  EXPECT_EQ(test_support::read_file(path), before);
  EXPECT_EQ(read_journal(path).jobs.at("a").status, JobStatus::ok);

  ASSERT_TRUE(compact_journal(path));  // the next run compacts all the same
  EXPECT_EQ(read_journal(path).jobs.at("a").status, JobStatus::ok);
  OutputSink sink(dir.path(), false);  // and its start-up removes the leftover
  EXPECT_EQ(sink.remove_stale_temp_files(), 1u);
  EXPECT_TRUE(temp_files(dir.path()).empty());
}

TEST(JournalCompactTest, AKillAtAnyMomentLeavesAWholeJournal) {
  TempDir dir;
  const auto path = dir / "results.jsonl";
  std::vector<JobRecord> records;
  for (int round = 0; round < 3; ++round)
    for (int i = 0; i < 20'000; ++i)
      records.push_back(record("job-" + std::to_string(i), round == 2 ? JobStatus::ok : JobStatus::failed, '1', true));
  write_journal(path, records);
  const auto original = test_support::read_file(path);
  const auto expected = states(read_journal(path));

  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto r = compact_journal(path);
    ::_exit(r ? 0 : 1);
  }
  // Kill it as soon as its temp file shows (mid-write), or when it is done.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int status = 0;
  bool exited = false;
  while (temp_files(dir.path()).empty() && !(exited = ::waitpid(child, &status, WNOHANG) == child) &&
         std::chrono::steady_clock::now() < deadline) {
  }
  if (!exited) {
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
  }

  if (test_support::read_file(path) != original) {  // it finished: the compacted journal, whole
    EXPECT_EQ(test_support::read_lines(path).size(), 20'000u);
  }
  EXPECT_EQ(states(read_journal(path)), expected);
  EXPECT_EQ(read_journal(path).unreadable_lines, 0u);
}
