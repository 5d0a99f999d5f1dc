// When nothing reaches the API -- a refused connection, a connect that times out, a TLS
// handshake that fails -- the run pauses instead of spending jobs' attempts, and goes on when
// the API is back; an outage longer than max_outage_s ends the run, resumably.
#include "fault_fixture.hpp"

#include <atomic>
#include <thread>
#include <functional>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "venice_batch/journal.hpp"

using namespace fault_test;

namespace {

// Something other than the API on its port while the emulator is away.
class StandIn {
 public:
  enum class Kind {
    blackhole,  ///< a listener whose accept queue is full: connects time out (SYNs are dropped)
    not_tls,    ///< accepts, answers in plain HTTP and closes: the TLS handshake fails
  };
  StandIn(std::uint16_t port, Kind kind) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    const sockaddr_in addr = loopback(port);
    if (::bind(listen_fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 0) != 0) {
      ADD_FAILURE() << "cannot listen on port " << port;
      return;
    }
    if (kind == Kind::blackhole) {
      // Backlog 0 holds one connection: ours. Every later SYN is dropped.
      for (int i = 0; i < 2; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
        fillers_.push_back(fd);
      }
    } else {
      thread_ = std::thread([this] { serve_plain_http(); });
    }
  }
  ~StandIn() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (int fd : fillers_) ::close(fd);
    if (listen_fd_ >= 0) ::close(listen_fd_);
  }
  StandIn(const StandIn&) = delete;
  StandIn& operator=(const StandIn&) = delete;

 private:
  static sockaddr_in loopback(std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
  }
  void serve_plain_http() {
    static const char kAnswer[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      [[maybe_unused]] auto n = ::write(fd, kAnswer, sizeof kAnswer - 1);
      ::close(fd);
    }
  }

  int listen_fd_ = -1;
  std::vector<int> fillers_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
};

// Short connect and handshake deadlines, snapshots of metrics.json every tick.
constexpr const char* kOutageConfig = R"({"retry": {"max_attempts": 4, "base_delay_ms": 20, "max_delay_ms": 200},
  "timeouts": {"connect_s": 0.5, "tls_handshake_s": 0.5, "request_s": 10}, "metrics_interval_s": 0.25})";

std::uint64_t unreachable_count(const Fixture& fx) {
  const auto m = read_metrics(fx.out());
  return m && m->retry_causes.count("unreachable") ? m->retry_causes.at("unreachable") : 0;
}

// 8 jobs paced two a second. After the second is recorded the API goes away (and `stand_in`,
// if any, takes its port) until the client has found it unreachable twice; then it is back.
// Every job must end ok without the outage costing attempts.
void expect_outage_pauses_the_run(const std::function<std::unique_ptr<StandIn>(std::uint16_t)>& stand_in) {
  Fixture fx(MockFaults{});
  fx.config(kOutageConfig);
  auto child = fx.start(fx.manifest(8), {"--concurrency", "1", "--rpm", "120"});
  ASSERT_TRUE(wait_until([&] { return test_support::read_lines(fx.out() / "results.jsonl").size() >= 2; }))
      << child->stderr_seen();
  fx.stop_server();
  auto away = stand_in ? stand_in(fx.port) : nullptr;
  // The event: the client's own count of attempts that reached nothing.
  ASSERT_TRUE(wait_until([&] { return unreachable_count(fx) >= 2; }, std::chrono::seconds(60))) << child->stderr_seen();
  away.reset();
  fx.restart_server();
  const auto status = child->wait_for(std::chrono::seconds(90));
  ASSERT_TRUE(status) << "the run did not go on when the API came back:\n" << child->stderr_seen();
  EXPECT_EQ(*status, 0) << child->stderr_seen();
  EXPECT_GE(unreachable_count(fx), 2u) << "no connect failed: the test did not test an outage";
  const auto s = final_state(fx.out());
  ASSERT_EQ(s.size(), 8u);
  std::size_t lost = 0;  // attempts cut when the API went away, if one was in flight then
  for (auto& [id, l] : s) {
    EXPECT_EQ(l.status, "ok") << id;
    for (auto& a : l.attempts) lost += a.cause != "ok";
  }
  EXPECT_LE(lost, 1u) << "the outage used up attempts";
}

}  // namespace

TEST(FaultTest, AnOutageOfTheApiPausesTheRunInsteadOfFailingJobs) {
  expect_outage_pauses_the_run(nullptr);  // nothing listening: connections are refused
}

TEST(FaultTest, AConnectTimeoutPausesTheRunLikeARefusedConnection) {
  expect_outage_pauses_the_run([](std::uint16_t port) { return std::make_unique<StandIn>(port, StandIn::Kind::blackhole); });
}

TEST(FaultTest, AFailedTlsHandshakePausesTheRunLikeARefusedConnection) {
  expect_outage_pauses_the_run([](std::uint16_t port) { return std::make_unique<StandIn>(port, StandIn::Kind::not_tls); });
}

TEST(FaultTest, AnOutageLongerThanMaxOutageEndsTheRunResumably) {
  Fixture fx(MockFaults{});
  fx.config(R"({"retry": {"max_attempts": 4, "base_delay_ms": 20, "max_delay_ms": 200}, "max_outage_s": 1})");
  auto child = fx.start(fx.manifest(8), {"--concurrency", "1", "--rpm", "120"});
  ASSERT_TRUE(wait_until([&] { return test_support::read_lines(fx.out() / "results.jsonl").size() >= 2; }))
      << child->stderr_seen();
  fx.stop_server();
  const auto status = child->wait_for(std::chrono::seconds(60));
  ASSERT_TRUE(status) << "an outage past max_outage_s did not end the run:\n" << child->stderr_seen();
  EXPECT_EQ(*status, 3) << child->stderr_seen();
  EXPECT_NE(child->stderr_seen().find("unreachable"), std::string::npos) << "the user is not told why:\n"
                                                                         << child->stderr_seen();
  std::size_t done_before = 0;
  for (auto& [id, l] : final_state(fx.out())) done_before += l.status == "ok";
  for (auto& [id, st] : read_journal(fx.out() / "results.jsonl").jobs) {
    if (st.status != JobStatus::ok) {
      EXPECT_TRUE(st.retryable) << id << " failed for good in an outage";
    }
  }
  // Resumable: the same command finishes the rest and requests nothing done already.
  fx.restart_server();
  auto again = fx.run(fx.dir / "m.jsonl");
  EXPECT_EQ(again.exit_status, 0) << again.err;
  const auto s = final_state(fx.out());
  ASSERT_EQ(s.size(), 8u);
  for (auto& [id, l] : s) EXPECT_EQ(l.status, "ok") << id;
  EXPECT_EQ(fx.server->stats().requests, 8u - done_before) << "a job recorded ok was requested again";
}
