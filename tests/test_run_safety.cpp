// What a run refuses to do, or survives, that a hostile user found (issue 8): two runs on one
// out dir, a key that injects a header, a journal that is a directory or a symlink, a closed
// stderr pipe, an open-file limit below the concurrency, odd base URLs, and a start-up check
// that stops at once on a wrong key, path or port. Each against the in-process emulator.
#include "hostile_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace hostile_test;
using fault_test::final_state;
using fault_test::Fixture;
using venice_batch::MockFaults;

namespace {

/// Every job of an n-job fixture manifest recorded ok, once.
void expect_all_ok(const Fixture& fx, int n) {
  EXPECT_EQ(fault_test::results(fx.out()).size(), static_cast<std::size_t>(n)) << "one journal line per job";
  auto s = final_state(fx.out());
  EXPECT_EQ(s.size(), static_cast<std::size_t>(n));
  for (auto& [id, l] : s) EXPECT_EQ(l.status, "ok") << id << ": " << l.error_kind;
}

/// Nothing at all reached the emulator: no start-up check, no generate request.
void expect_nothing_sent(const Fixture& fx) {
  const auto st = fx.server->stats();
  EXPECT_EQ(st.requests, 0u) << "generate requests sent";
  EXPECT_EQ(st.key_checks, 0u) << "start-up checks sent";
}

/// The run's argv with --base-url replaced.
std::vector<std::string> with_base_url(std::vector<std::string> args, const std::string& url) {
  for (std::size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == "--base-url") args[i + 1] = url;
  return args;
}

/// A loopback TCP port bound but not listening: a connect there is refused, and no other
/// test can take the port while this object holds it.
class RefusingPort {
 public:
  RefusingPort() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      ADD_FAILURE() << "cannot bind a loopback port";
    port_ = ntohs(a.sin_port);
  }
  ~RefusingPort() {
    if (fd_ >= 0) ::close(fd_);
  }
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;
  std::uint16_t port() const { return port_; }

 private:
  int fd_;
  std::uint16_t port_ = 0;
};

}  // namespace

TEST(RunSafetyTest, SecondRunOnTheSameOutDirIsRefusedWithTheFirstRunsPid) {
  // Before the lock, both ran: 33 of 40 prompts were requested (paid) twice.
  Fixture fx(MockFaults{}, std::chrono::milliseconds(250));
  const int n = 40;
  const auto manifest = fx.manifest(n);
  auto first = fx.start(manifest, {"--concurrency", "2"});
  ASSERT_TRUE(test_support::wait_until([&] { return fx.server->stats().requests >= 1; })) << "first run not under way";
  auto second = fx.run(manifest, {"--concurrency", "2"});
  EXPECT_EQ(second.exit_status, 2) << second.err;
  EXPECT_NE(second.err.find("pid " + std::to_string(first->pid())), std::string::npos)
      << "the refusal should name the first run's pid " << first->pid() << ":\n" << second.err;
  EXPECT_TRUE(std::filesystem::exists(fx.out() / ".venice-batch.lock"));
  ASSERT_EQ(first->wait(), 0) << first->stderr_seen();
  expect_all_ok(fx, n);
  const auto st = fx.server->stats();
  EXPECT_EQ(st.by_prompt.size(), static_cast<std::size_t>(n));
  for (const auto& [prompt, count] : st.by_prompt) EXPECT_EQ(count, 1u) << "'" << prompt << "' requested twice";
}

TEST(RunSafetyTest, KeyHoldingLineFeedOrCarriageReturnIsRefusedBeforeAnyRequest) {
  // A trailing newline made every request malformed; "\r\nX-Injected: yes" reached the server
  // as a header of its own.
  struct Case {
    std::string key, named;
  };
  for (const Case& c : {Case{std::string(kKey) + "\n", "line feed"},
                        Case{std::string(kKey) + "\r\nX-Injected: yes", "carriage return"}}) {
    SCOPED_TRACE(c.named);
    Fixture fx(MockFaults{});
    auto r = test_support::run_process(fx.args(fx.manifest(3)), {{"VENICE_API_KEY", c.key}});
    EXPECT_EQ(r.exit_status, 2) << r.err;
    EXPECT_NE(r.err.find(c.named), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find(kKey), std::string::npos) << "the key was printed:\n" << r.err;
    EXPECT_EQ(r.out.find(kKey), std::string::npos) << "the key was printed:\n" << r.out;
    expect_nothing_sent(fx);
  }
}

TEST(RunSafetyTest, BenchRefusesAKeyHoldingCarriageReturnToo) {
  // `bench` sends the same Authorization header as `run`: the injection must be refused there too.
  Fixture fx(MockFaults{});
  const std::vector<std::string> args = {VENICE_BATCH_EXE, "bench",     "--manifest", fx.manifest(1).string(),
                                         "--requests",     "1",         "--concurrency", "1",
                                         "--discard-images", "--base-url", fx.base_url(), "--ca-file",
                                         fx.ca_file().string()};
  auto r = test_support::run_process(args, {{"VENICE_API_KEY", std::string(kKey) + "\r\nX-Injected: yes"}});
  EXPECT_EQ(r.exit_status, 2) << r.out << r.err;
  EXPECT_NE(r.err.find("carriage return"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(kKey), std::string::npos) << "the key was printed:\n" << r.err;
  expect_nothing_sent(fx);
}

TEST(RunSafetyTest, JournalThatIsADirectoryEndsWithExit2NotACrash) {
  // Was std::terminate: SIGABRT, exit 134, and a core dump that would hold the key.
  Fixture fx(MockFaults{});
  std::filesystem::create_directories(fx.out() / "results.jsonl");
  auto r = fx.run(fx.manifest(3));
  EXPECT_EQ(r.exit_status, 2) << r.err;
  EXPECT_NE(r.err.find("results.jsonl"), std::string::npos) << "the message should name the file:\n" << r.err;
  EXPECT_EQ(fx.server->stats().requests, 0u) << "requests sent whose results cannot be recorded";
}

TEST(RunSafetyTest, JournalThatIsASymlinkIsRefused) {
  // Depends on the journal's symlink fix (issue 8 item 12): a planted link must not make the
  // run append to (or truncate) a file outside the out dir.
  Fixture fx(MockFaults{});
  std::filesystem::create_directories(fx.out());
  const auto outside = fx.dir / "outside.txt";
  test_support::write_file(outside, "not a journal\n");
  std::filesystem::create_symlink(outside, fx.out() / "results.jsonl");
  auto r = fx.run(fx.manifest(3));
  EXPECT_EQ(r.exit_status, 2) << r.err;
  EXPECT_NE(r.err.find("results.jsonl"), std::string::npos) << r.err;
  EXPECT_EQ(test_support::read_file(outside), "not a journal\n") << "wrote through the symlink";
  EXPECT_EQ(fx.server->stats().requests, 0u);
}

TEST(RunSafetyTest, StderrPipeClosedEarlyDoesNotKillTheRun) {
  // `venice-batch run ... 2>&1 | head -c 1`: the reader goes away after one byte. The run was
  // killed by SIGPIPE (exit 141) on its next progress line, before the jobs were done.
  Fixture fx(MockFaults{}, std::chrono::milliseconds(30));
  fx.config(R"({"retry": {"max_attempts": 4, "base_delay_ms": 20, "max_delay_ms": 200},
                "timeouts": {"request_s": 3}, "progress_interval_s": 0.05})");
  const int n = 30;
  const auto status_file = fx.dir / "status";
  const std::string cmd = "{ " + shell_words(fx.args(fx.manifest(n), {"--concurrency", "2"})) + " 2>&1; echo $? > " +
                          shell_words({status_file.string()}) + "; } | head -c 1";
  auto sh = test_support::run_process({"/bin/sh", "-c", cmd}, {{"VENICE_API_KEY", kKey}});
  EXPECT_EQ(sh.out.size(), 1u) << "head should have read one byte";
  ASSERT_TRUE(std::filesystem::exists(status_file)) << sh.err;
  EXPECT_EQ(test_support::read_file(status_file), "0\n") << "venice-batch's exit status (141 = SIGPIPE)";
  expect_all_ok(fx, n);
  EXPECT_EQ(fx.server->stats().requests, static_cast<std::uint64_t>(n));
  fault_test::expect_clean_images(fx.out());
}

TEST(RunSafetyTest, ClosedStderrDoesNotSendTheLogIntoTheOutDir) {
  // `venice-batch run ... 2>&-` (a cron line, a daemon wrapper): the first file the run keeps
  // open gets descriptor 2, and every log line lands in it. Since the out-dir lock, that is
  // the lock file, whose pid the log overwrites (a second run then names no pid).
  Fixture fx(MockFaults{});
  const int n = 3;
  const std::string cmd = "exec " + shell_words(fx.args(fx.manifest(n))) + " 2>&-";
  auto r = test_support::run_process({"/bin/sh", "-c", cmd}, {{"VENICE_API_KEY", kKey}});
  EXPECT_EQ(r.exit_status, 0) << r.out;
  expect_all_ok(fx, n);
  for (auto& e : std::filesystem::recursive_directory_iterator(fx.out()))
    if (e.is_regular_file()) {
      EXPECT_EQ(test_support::read_file(e.path()).find("venice-batch:"), std::string::npos)
          << "the log was written into " << e.path();
    }
}

TEST(RunSafetyTest, ConcurrencyAboveTheOpenFileLimitIsLoweredAndEveryJobKept) {
  // With 256 open files at most (soft and hard) and --concurrency 1000, answered requests
  // failed "Too many open files" while their images were written: paid for, thrown away.
  Fixture fx(MockFaults{});
  const int n = 300;
  const std::string cmd =
      "ulimit -n 256 || exit 99; exec " + shell_words(fx.args(fx.manifest(n, 16), {"--concurrency", "1000"}));
  auto r = test_support::run_process({"/bin/sh", "-c", cmd}, {{"VENICE_API_KEY", kKey}});
  ASSERT_NE(r.exit_status, 99) << "the shell could not set the limit";
  EXPECT_EQ(r.exit_status, 0) << r.err;
  EXPECT_NE(r.err.find("concurrency 1000"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("ulimit -n"), std::string::npos) << "the warning should say how to raise the limit:\n" << r.err;
  EXPECT_EQ(r.err.find("Too many open files"), std::string::npos) << r.err;
  expect_all_ok(fx, n);
  EXPECT_EQ(fx.server->stats().requests, static_cast<std::uint64_t>(n)) << "requests paid twice or not sent";
  fault_test::expect_clean_images(fx.out());
}

TEST(RunSafetyTest, UpperCaseSchemeInTheBaseUrlWorks) {
  // URI schemes are case-insensitive (RFC 3986 3.1); "HTTPS://" was refused.
  Fixture fx(MockFaults{});
  const auto args = with_base_url(fx.args(fx.manifest(2)), "HTTPS://127.0.0.1:" + std::to_string(fx.port) + "/api/v1");
  auto r = test_support::run_process(args, {{"VENICE_API_KEY", kKey}});
  EXPECT_EQ(r.exit_status, 0) << r.err;
  expect_all_ok(fx, 2);
}

TEST(RunSafetyTest, BaseUrlWithQueryOrUserInfoIsRefusedBeforeAnyRequest) {
  // Both were dropped silently: the user's "?x=1" or credentials never reached the server.
  for (const std::string& why : {std::string("query"), std::string("user")}) {
    SCOPED_TRACE(why);
    Fixture fx(MockFaults{});
    const std::string host = "127.0.0.1:" + std::to_string(fx.port);
    const std::string url = why == "query" ? "https://" + host + "/api/v1?x=1" : "https://user:pw@" + host + "/api/v1";
    auto r = test_support::run_process(with_base_url(fx.args(fx.manifest(2)), url), {{"VENICE_API_KEY", kKey}});
    EXPECT_EQ(r.exit_status, 2) << r.err;
    EXPECT_NE(r.err.find(why == "query" ? "query" : "user name"), std::string::npos) << r.err;
    expect_nothing_sent(fx);
  }
}

TEST(RunSafetyTest, StartupCheckStopsOnAWrongKeyBeforeAnyGenerateRequest) {
  Fixture fx(MockFaults{});
  auto r = test_support::run_process(fx.args(fx.manifest(5), {"--concurrency", "4"}),
                                     {{"VENICE_API_KEY", "wrong-key-0000"}});
  EXPECT_EQ(r.exit_status, 3) << r.err;
  EXPECT_NE(r.err.find("401"), std::string::npos) << r.err;
  EXPECT_EQ(fx.server->stats().requests, 0u) << "generate requests sent with a refused key";
  EXPECT_EQ(fx.server->stats().key_checks, 1u);
}

TEST(RunSafetyTest, StartupCheckStopsOnAWrongBasePathWithExit2) {
  // /api/v2 is no API root: every job used to fail 404, one by one.
  Fixture fx(MockFaults{});
  const auto args = with_base_url(fx.args(fx.manifest(5)), "https://127.0.0.1:" + std::to_string(fx.port) + "/api/v2");
  auto r = test_support::run_process(args, {{"VENICE_API_KEY", kKey}});
  EXPECT_EQ(r.exit_status, 2) << r.err;
  EXPECT_NE(r.err.find("--base-url"), std::string::npos) << "the message should point at --base-url:\n" << r.err;
  EXPECT_EQ(fx.server->stats().requests, 0u);
  EXPECT_TRUE(fault_test::results(fx.out()).empty()) << "jobs recorded as failed for a wrong URL";
}

TEST(RunSafetyTest, StartupCheckStopsAtOnceWhenNothingListens) {
  // A port that refuses connections: the run used to pause as in an outage (up to
  // max_outage_s, 30 min by default) instead of saying the URL is wrong. The default
  // max_outage_s stays; the run must end well inside this test's time limit.
  Fixture fx(MockFaults{});
  RefusingPort refusing;
  const auto args =
      with_base_url(fx.args(fx.manifest(5)), "https://127.0.0.1:" + std::to_string(refusing.port()) + "/api/v1");
  auto r = test_support::run_process(args, {{"VENICE_API_KEY", kKey}}, std::chrono::seconds(60));
  EXPECT_EQ(r.exit_status, 3) << r.err;
  EXPECT_NE(r.err.find("cannot be reached"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--base-url"), std::string::npos) << r.err;
  EXPECT_TRUE(fault_test::results(fx.out()).empty()) << "jobs recorded for a run that never reached the API";
}
