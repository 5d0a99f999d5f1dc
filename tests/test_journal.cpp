#include <gtest/gtest.h>

#include <tuple>

#include <fcntl.h>
#include <unistd.h>

#include <simdjson.h>

#include "test_support.hpp"
#include "venice_batch/journal.hpp"

using namespace venice_batch;
using test_support::TempDir;

namespace {
JobRecord sample(std::string id, JobStatus status) {
  JobRecord r;
  r.id = std::move(id);
  r.line = 7;
  r.status = status;
  r.http_status = status == JobStatus::ok ? 200 : 400;
  r.request_hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  r.prompt = "a \"quoted\" prompt with unicode ✓ and a\nnewline";
  if (status == JobStatus::ok) r.files.push_back({"images/x_0.webp", 1234, ImageFormat::webp});
  if (status != JobStatus::ok)
    r.error = JobError{"http_400", "HTTP 400: Invalid request", R"({"error":"Invalid request","issues":[]})", "", false};
  for (auto [status, cause, wait] : {std::tuple{500, "http_500", 0}, std::tuple{200, "ok", 1500}}) {
    AttemptRecord a;
    a.http_status = status;
    a.cause = cause;
    a.wait_before_ms = wait;
    a.request_sent = true;
    r.attempts.push_back(a);
  }
  return r;
}
}  // namespace

TEST(JournalTest, LineIsOneValidJsonObjectWithApiBodyEmbedded) {
  auto line = to_json_line(sample("cat", JobStatus::failed));
  EXPECT_EQ(line.find('\n'), std::string::npos);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(line);
  EXPECT_EQ(std::string_view(doc["id"]), "cat");
  EXPECT_EQ(std::string_view(doc["error"]["api_body"]["error"]), "Invalid request");
  EXPECT_EQ(int64_t(doc["attempt_log"].at(1)["wait_ms"]), 1500);
  EXPECT_EQ(std::string_view(doc["prompt"]), "a \"quoted\" prompt with unicode ✓ and a\nnewline");
}

TEST(JournalTest, ReadBackKeepsLastStatePerIdAndIgnoresTornLastLine) {
  TempDir dir;
  const auto path = dir / "results.jsonl";
  {
    JournalWriter w(path);
    ASSERT_TRUE(w.append(sample("a", JobStatus::failed)));
    ASSERT_TRUE(w.append(sample("b", JobStatus::ok)));
    ASSERT_TRUE(w.append(sample("a", JobStatus::ok)));
  }
  {  // a crash mid-line
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND);
    const char torn[] = "{\"id\":\"c\",\"status\":\"ok\",\"retry";
    ASSERT_EQ(::write(fd, torn, sizeof torn - 1), static_cast<ssize_t>(sizeof torn - 1));
    ::close(fd);
  }
  auto j = read_journal(path);
  EXPECT_EQ(j.jobs.size(), 2u);
  EXPECT_EQ(j.jobs.at("a").status, JobStatus::ok);
  EXPECT_EQ(j.jobs.at("b").status, JobStatus::ok);
  EXPECT_EQ(j.jobs.at("a").request_hash64, 0x0123456789abcdefull);
  EXPECT_EQ(j.unreadable_lines, 1u);
  EXPECT_TRUE(j.ends_without_newline);

  // The next run starts on a fresh line; the torn line stays unreadable, the new one counts.
  {
    JournalWriter w(path);
    ASSERT_TRUE(w.append(sample("c", JobStatus::ok)));
  }
  auto again = read_journal(path);
  EXPECT_EQ(again.jobs.size(), 3u);
  EXPECT_EQ(again.unreadable_lines, 1u);
  EXPECT_FALSE(again.ends_without_newline);
}

TEST(JournalTest, MissingJournalIsEmpty) {
  TempDir dir;
  auto j = read_journal(dir / "nope.jsonl");
  EXPECT_TRUE(j.jobs.empty());
  EXPECT_EQ(j.lines, 0u);
}

TEST(JournalTest, RetryableFlagRoundTrips) {
  TempDir dir;
  auto rec = sample("t", JobStatus::failed);
  rec.error->retryable = true;
  {
    JournalWriter w(dir / "r.jsonl");
    ASSERT_TRUE(w.append(rec));
  }
  auto j = read_journal(dir / "r.jsonl");
  EXPECT_TRUE(j.jobs.at("t").retryable);
}
