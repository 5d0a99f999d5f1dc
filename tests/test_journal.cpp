#include <gtest/gtest.h>

#include <tuple>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
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
  if (status == JobStatus::ok) r.files.push_back({"images/x_0.webp", 1234, ImageFormat::webp, std::nullopt, {64, 48}});
  if (status != JobStatus::ok)
    r.error = JobError{"http_400", "HTTP 400: Invalid request", R"({"error":"Invalid request","issues":[]})", "", false,
                       false};
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

TEST(JournalTest, ATornLineAnywhereIsSkippedAndTheRestReadBack) {
  TempDir dir;
  const auto path = dir / "results.jsonl";
  auto ok = to_json_line(sample("a", JobStatus::ok));
  test_support::write_file(path, ok.substr(0, ok.size() / 2) + "\n" + to_json_line(sample("b", JobStatus::ok)) + "\n");
  auto j = read_journal(path);
  EXPECT_EQ(j.lines, 2u);
  EXPECT_EQ(j.unreadable_lines, 1u);
  EXPECT_FALSE(j.jobs.contains("a"));  // its job may be requested once more
  EXPECT_EQ(j.jobs.at("b").status, JobStatus::ok);
}

TEST(JournalTest, AnOkJobIsNotUndoneByALaterInvalidRecordOfItsId) {
  // `dup` on two manifest lines: the second line is recorded invalid after the first's ok.
  TempDir dir;
  const auto path = dir / "results.jsonl";
  auto invalid = sample("dup", JobStatus::invalid);
  invalid.request_hash.clear();
  {
    JournalWriter w(path);
    ASSERT_TRUE(w.append(sample("dup", JobStatus::ok)));
    ASSERT_TRUE(w.append(invalid));
    ASSERT_TRUE(w.append(sample("x", JobStatus::invalid)));
  }
  auto j = read_journal(path);
  EXPECT_EQ(j.jobs.at("dup").status, JobStatus::ok);
  EXPECT_EQ(j.jobs.at("dup").request_hash64, 0x0123456789abcdefull);
  EXPECT_EQ(j.jobs.at("x").status, JobStatus::invalid);
  EXPECT_EQ(j.superseded_lines, 1u);
}

TEST(JournalTest, AChangedRequestMovesAnOkJobOn) {
  JournalState ok{JobStatus::ok, false, 1};
  EXPECT_TRUE(replaces(ok, JournalState{JobStatus::failed, true, 2}));  // the line changed and was sent
  EXPECT_TRUE(replaces(ok, JournalState{JobStatus::ok, false, 2}));
  EXPECT_TRUE(replaces(ok, JournalState{JobStatus::content_violation, false, 2}));
  EXPECT_FALSE(replaces(ok, JournalState{JobStatus::invalid, false, 0}));
  EXPECT_FALSE(replaces(ok, JournalState{JobStatus::invalid, false, 2}));
  EXPECT_TRUE(replaces(JournalState{JobStatus::failed, true, 1}, JournalState{JobStatus::invalid, false, 2}));
}

TEST(JournalTest, TextThatIsNotUtf8IsWrittenAsValidJsonAndReadsBack) {
  TempDir dir;
  const auto path = dir / "results.jsonl";
  auto rec = sample("bytes", JobStatus::failed);
  rec.cf_ray = "8c1f\xff\xfe-AMS";
  rec.prompt = "caf\xe9 au lait";  // Latin-1
  rec.error = JobError{"http_502", "HTTP 502: \xc3", "", "<html>\xe2\x9c</html>", true, false};
  {
    JournalWriter w(path);
    ASSERT_TRUE(w.append(rec));
  }
  auto j = read_journal(path);
  EXPECT_EQ(j.unreadable_lines, 0u);
  ASSERT_TRUE(j.jobs.contains("bytes"));
  EXPECT_TRUE(j.jobs.at("bytes").retryable);
  simdjson::dom::parser parser;  // and the report's full parse accepts the line too
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(test_support::read_lines(path).at(0)).get(doc), simdjson::SUCCESS);
  EXPECT_EQ(std::string_view(doc["cf_ray"]), "8c1f\uFFFD\uFFFD-AMS");
  EXPECT_EQ(std::string_view(doc["prompt"]), "caf\uFFFD au lait");
  EXPECT_EQ(std::string_view(doc["error"]["api_body_text"]), "<html>\uFFFD</html>");
}

TEST(JournalTest, ALineWithIllFormedUtf8FromAnOlderVersionStillCounts) {
  TempDir dir;
  const auto path = dir / "results.jsonl";
  test_support::write_file(path, "{\"id\":\"old\",\"status\":\"ok\",\"retryable\":false,\"request_hash\":\""
                                 "0123456789abcdef\",\"cf_ray\":\"\xff\"}\n");
  auto j = read_journal(path);
  ASSERT_TRUE(j.jobs.contains("old"));
  EXPECT_EQ(j.jobs.at("old").status, JobStatus::ok);
}

TEST(JournalTest, AHugeErrorMakesAShortLineThatSaysItWasCut) {
  auto rec = sample("big", JobStatus::failed);
  rec.error = JobError{"http_400", "HTTP 400: " + std::string(5'000'000, 'e'), "", std::string(5'000'000, 'b'), false,
                       false};
  const auto line = to_json_line(rec);
  EXPECT_LT(line.size(), 3 * kJournalErrorTextBytes);
  simdjson::dom::parser parser;
  simdjson::dom::element doc = parser.parse(line);
  EXPECT_TRUE(bool(doc["error"]["api_body_truncated"]));
  EXPECT_EQ(std::string_view(doc["error"]["api_body_text"]).size(), kJournalErrorTextBytes);
  EXPECT_TRUE(std::string_view(doc["error"]["message"]).ends_with("bytes cut)"));

  rec.error = JobError{"http_400", "x", "{\"error\": \"not minified\"}\n", "", false, false};  // JSON, two lines
  const auto two = to_json_line(rec);
  EXPECT_EQ(two.find('\n'), std::string::npos);
  EXPECT_EQ(std::string_view(parser.parse(two)["error"]["api_body"]["error"]), "not minified");
  rec.error = JobError{"http_400", "x", "{not json", "", false, false};
  EXPECT_EQ(std::string_view(parser.parse(to_json_line(rec))["error"]["api_body_text"]), "{not json");
}

TEST(JournalTest, AnImageInAnotherFormatRecordsWhatWasAsked) {
  auto rec = sample("fmt", JobStatus::ok);
  rec.files = {FileRecord{"images/fmt_0.jpg", 99, ImageFormat::jpeg, ImageFormat::png, {640, 480}}};
  simdjson::dom::parser parser;
  simdjson::dom::element f = parser.parse(to_json_line(rec))["files"].at(0);
  EXPECT_EQ(std::string_view(f["format"]), "jpeg");
  EXPECT_EQ(std::string_view(f["requested_format"]), "png");
  EXPECT_EQ(uint64_t(f["width"]), 640u);
  rec.files[0].requested_format.reset();
  EXPECT_EQ(to_json_line(rec).find("requested_format"), std::string::npos);
}

TEST(JournalTest, WriterRefusesAJournalThatIsASymbolicLink) {
  TempDir dir;
  test_support::write_file(dir / "victim.txt", "precious\n");
  std::filesystem::create_symlink(dir / "victim.txt", dir / "results.jsonl");
  try {
    JournalWriter w(dir / "results.jsonl");
    FAIL() << "a symlinked journal was opened";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("results.jsonl is a symbolic link; refusing to follow it"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(test_support::read_file(dir / "victim.txt"), "precious\n");
}

TEST(JournalTest, AJournalReadByTwoThreadsGivesTheSameStatesAsOneThread) {
  // Records of one id in both halves (the later one decides), torn and ill-formed lines, and a
  // torn last line: split anywhere, the summary is the one a single thread reads.
  test_support::TempDir dir;
  const auto path = dir / "results.jsonl";
  std::string text;
  for (int i = 0; i < 40; ++i) {
    text += to_json_line(sample(fmt::format("job-{}", i % 15), i % 3 ? JobStatus::ok : JobStatus::failed)) + "\n";
    if (i % 7 == 0) text += "{\"id\":\"torn\",\"status\":\"o\n";
  }
  text += to_json_line(sample("late", JobStatus::ok)).substr(0, 30);
  test_support::write_file(path, text);
  const JournalSummary one = read_journal(path, UINT64_MAX);
  ASSERT_EQ(one.jobs.size(), 15u);
  const JournalSummary two = read_journal(path, 1);
  EXPECT_EQ(two.lines, one.lines);
  EXPECT_EQ(two.unreadable_lines, one.unreadable_lines);
  EXPECT_EQ(two.superseded_lines, one.superseded_lines);
  EXPECT_EQ(two.ends_without_newline, one.ends_without_newline);
  ASSERT_EQ(two.jobs.size(), one.jobs.size());
  for (const auto& [id, state] : one.jobs) {
    const auto it = two.jobs.find(id);
    ASSERT_NE(it, two.jobs.end()) << id;
    EXPECT_EQ(it->second.status, state.status) << id;
  }
}

TEST(JournalTest, MetadataIsEmbeddedAsAnObjectAndAnythingElseAsText) {
  JobRecord r = sample("m", JobStatus::ok);
  r.metadata = R"({"template":"a {b|c}","values":{"x":1}})";
  const std::string line = to_json_line(r);
  EXPECT_NE(line.find(R"("metadata":{"template":"a {b|c}","values":{"x":1}})"), std::string::npos) << line;
  r.metadata = "{\"torn\":";  // not what the reader gives, but the line must stay valid JSON
  const std::string odd = to_json_line(r);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(odd).get(doc), simdjson::SUCCESS) << odd;
  std::string_view text;
  EXPECT_EQ(doc["metadata_text"].get_string().get(text), simdjson::SUCCESS);
  EXPECT_EQ(text, "{\"torn\":");
}
