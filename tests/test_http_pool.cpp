// The HTTP client pool against the real emulator over TLS: keep-alive reuse, transparent
// reconnection when the server closed an idle connection, and the emulator's auth answers.
#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <sstream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "test_support.hpp"
#include "venice_batch/http_pool.hpp"
#include "venice_batch/mock_server.hpp"
#include "venice_batch/response.hpp"

using namespace venice_batch;
using test_support::TempDir;

namespace {

struct PoolFixture {
  explicit PoolFixture(std::chrono::milliseconds idle = std::chrono::milliseconds(60000), MockFaults faults = {},
                       bool compressed = true) {
    MockOptions o;
    o.faults = std::move(faults);
    o.api_key = "pool-key";
    o.cert_dir = dir.path();
    o.idle_timeout = idle;
    mock = std::make_unique<MockServer>(o);
    mock->start();
    HttpPoolSettings s = pool_settings_from(default_config());
    s.ca_file = mock->ca_file().string();
    s.user_agent = "venice-batch-test";
    s.request_timeout = std::chrono::seconds(10);
    s.compressed_responses = compressed;
    pool = std::make_unique<HttpClientPool>(io.get_executor(),
                                            HttpEndpoint::from_base_url("https://127.0.0.1:" + std::to_string(mock->port()) + "/api/v1"), s);
  }
  HttpExchange post(std::string body, std::string auth = "Bearer pool-key", HttpClientPool::MayResend may_resend = {}) {
    auto f = boost::asio::co_spawn(io, pool->post("/image/generate", std::move(body), std::move(auth), std::move(may_resend)),
                                   boost::asio::use_future);
    io.restart();
    io.run();
    return f.get();
  }
  HttpExchange post_with(HttpClientPool::PostOptions options) {
    auto f = boost::asio::co_spawn(io, pool->post("/image/generate", kBodyText, "Bearer pool-key", std::move(options)),
                                   boost::asio::use_future);
    io.restart();
    io.run();
    return f.get();
  }
  static constexpr const char* kBodyText = R"({"model":"m","prompt":"p","width":64,"height":64})";
  TempDir dir;
  std::unique_ptr<MockServer> mock;
  boost::asio::io_context io;
  std::unique_ptr<HttpClientPool> pool;
};

const std::string kBody = R"({"model":"m","prompt":"p","width":64,"height":64})";

}  // namespace

TEST(HttpPoolTest, BaseUrlIsParsedWithPortAndPrefix) {
  auto ep = HttpEndpoint::from_base_url("https://api.venice.ai/api/v1/");
  EXPECT_EQ(ep.host, "api.venice.ai");
  EXPECT_EQ(ep.port, "443");
  EXPECT_EQ(ep.path_prefix, "/api/v1");
  auto local = HttpEndpoint::from_base_url("https://127.0.0.1:8443/x");
  EXPECT_EQ(local.port, "8443");
  EXPECT_THROW(HttpEndpoint::from_base_url("http://api.venice.ai/api/v1"), std::invalid_argument);
  EXPECT_THROW(HttpEndpoint::from_base_url("not a url"), std::invalid_argument);
}

TEST(HttpPoolTest, KeepAliveConnectionIsReusedWithNoNewHandshake) {
  PoolFixture fx;
  auto first = fx.post(kBody);
  ASSERT_TRUE(first.response) << first.error_message;
  EXPECT_EQ(first.response->status, 200);
  EXPECT_FALSE(first.timings.reused_connection);
  EXPECT_GT(first.timings.tls_us, 0);
  for (int i = 0; i < 5; ++i) {
    auto next = fx.post(kBody);
    ASSERT_TRUE(next.response) << next.error_message;
    EXPECT_TRUE(next.timings.reused_connection);
    EXPECT_EQ(next.timings.tls_us, 0) << "a reused connection has no handshake";
    EXPECT_EQ(next.stale_reconnects, 0u) << "a live connection counted as stale";
  }
  EXPECT_EQ(fx.pool->connections_opened(), 1u);
  EXPECT_EQ(fx.mock->stats().connections, 1u);
  // The body keeps simdjson's padding past its end.
  EXPECT_GE(first.response->body.capacity(), first.response->body.size() + 64);
}

namespace {

// Whether this process holds a TCP connection to 127.0.0.1:`port` that the peer has closed
// (state CLOSE_WAIT in /proc/net/tcp): the event a server's idle timeout produces.
bool peer_closed_a_connection_to(std::uint16_t port) {
  static const char* kHex = "0123456789ABCDEF";
  std::string want = ":0000";
  for (int i = 0; i < 4; ++i) want[1 + i] = kHex[(port >> (12 - 4 * i)) & 0xF];
  std::ifstream table("/proc/self/net/tcp");
  std::string line;
  std::getline(table, line);  // the header
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    if (remote.size() > want.size() && remote.compare(remote.size() - want.size(), want.size(), want) == 0 &&
        state == "08")
      return true;
  }
  return false;
}

}  // namespace

TEST(HttpPoolTest, IdleConnectionClosedByTheServerIsReplacedBeforeAnythingIsWrittenOnIt) {
  PoolFixture fx(std::chrono::milliseconds(200));
  auto first = fx.post(kBody);
  ASSERT_TRUE(first.response) << first.error_message;
  // Wait until the server's close has reached the parked connection, not for a guessed time.
  ASSERT_TRUE(test_support::wait_until([&] { return peer_closed_a_connection_to(fx.mock->port()); }));
  auto again = fx.post(kBody);
  ASSERT_TRUE(again.response) << again.error_message;
  EXPECT_EQ(again.response->status, 200);
  // The close was seen on the parked connection before the request was written: no POST went
  // onto it, so none may have been billed twice.
  EXPECT_EQ(again.stale_reconnects, 0u);
  EXPECT_EQ(fx.pool->idle_connections_dropped(), 1u);
  EXPECT_EQ(fx.pool->connections_opened(), 2u);
  EXPECT_EQ(fx.mock->stats().requests, 2u) << "the request went once, on the fresh connection";
}

// A server that closes a kept-alive connection just as a request comes (here it reads the POST
// and drops the connection without a byte): the POST may have been billed, so the caller (the
// run's spend cap) is asked before it goes again, and a refusal ends the exchange as lost.
TEST(HttpPoolTest, APostIsSentAgainAfterAStaleConnectionOnlyIfTheCallerAgrees) {
  PoolFixture fx(std::chrono::milliseconds(60000), MockFaults{.schedule = parse_fault_schedule("ok,drop,ok,drop,ok")});
  ASSERT_TRUE(fx.post(kBody).response);
  unsigned asked = 0;
  auto refused = fx.post(kBody, "Bearer pool-key", [&] { ++asked; return false; });
  EXPECT_EQ(asked, 1u);
  EXPECT_FALSE(refused.response);
  EXPECT_EQ(refused.error, TransportError::connection_lost);
  EXPECT_TRUE(refused.request_sent) << "the POST was written: its outcome is unknown";
  EXPECT_EQ(refused.stale_reconnects, 0u);
  EXPECT_EQ(fx.mock->stats().requests, 2u) << "not sent again";

  ASSERT_TRUE(fx.post(kBody, "Bearer pool-key", [&] { ++asked; return true; }).response);  // fresh: not asked
  EXPECT_EQ(asked, 1u);
  auto agreed = fx.post(kBody, "Bearer pool-key", [&] { ++asked; return true; });
  ASSERT_TRUE(agreed.response) << agreed.error_message;
  EXPECT_EQ(agreed.response->status, 200);
  EXPECT_EQ(asked, 2u);
  EXPECT_EQ(agreed.stale_reconnects, 1u);
  EXPECT_EQ(fx.mock->stats().requests, 5u);
}

TEST(HttpPoolTest, EmulatorAnswersAuthAndValidationLikeTheApi) {
  PoolFixture fx;
  auto wrong = fx.post(kBody, "Bearer nope");
  ASSERT_TRUE(wrong.response);
  EXPECT_EQ(wrong.response->status, 401);
  EXPECT_EQ(wrong.response->body, R"({"error":"Authentication failed"})");
  auto none = fx.post(kBody, "");
  ASSERT_TRUE(none.response);
  EXPECT_EQ(none.response->status, 402) << "no credentials is a 402 with the x402 body";
  auto bad = fx.post(R"({"model":"m","prompt":"p","width":2000,"variants":2,"return_binary":true})");
  ASSERT_TRUE(bad.response);
  EXPECT_EQ(bad.response->status, 400);
  EXPECT_NE(bad.response->body.find(R"("issues":[)"), std::string::npos) << bad.response->body;
  EXPECT_NE(bad.response->body.find(R"("path":["width"])"), std::string::npos) << bad.response->body;
  EXPECT_NE(bad.response->body.find(R"("variants":{"_errors":[)"), std::string::npos) << bad.response->body;
  auto binary = fx.post(R"({"model":"m","prompt":"p","width":64,"height":32,"format":"jpeg","return_binary":true})");
  ASSERT_TRUE(binary.response);
  EXPECT_EQ(binary.response->header("content-type").value_or(""), "image/jpeg");
  EXPECT_TRUE(binary.response->header("x-ratelimit-limit-requests"));
  EXPECT_TRUE(binary.response->header("cf-ray"));
}

TEST(HttpPoolTest, NothingListeningIsAConnectFailureNotAHang) {
  PoolFixture fx;
  const auto port = fx.mock->port();
  fx.mock->stop();
  HttpPoolSettings s = pool_settings_from(default_config());
  s.ca_file = fx.mock->ca_file().string();
  HttpClientPool pool(fx.io.get_executor(), HttpEndpoint::from_base_url("https://127.0.0.1:" + std::to_string(port) + "/api/v1"), s);
  auto f = boost::asio::co_spawn(fx.io, pool.post("/image/generate", kBody, "Bearer x"), boost::asio::use_future);
  fx.io.restart();
  fx.io.run();
  auto ex = f.get();
  EXPECT_FALSE(ex.response);
  EXPECT_EQ(ex.error, TransportError::connect_failed);
  EXPECT_FALSE(ex.request_sent);
}

TEST(HttpPoolTest, CompressedResponsesFollowTheConfig) {
  Config c = default_config();
  EXPECT_TRUE(pool_settings_from(c).compressed_responses) << "on by default (config/default.json)";
  c.compressed_responses = false;
  EXPECT_FALSE(pool_settings_from(c).compressed_responses);
}

TEST(HttpPoolTest, AnUncompressedBodyCountsTheSameOnTheWireAndDecoded) {
  PoolFixture fx;
  HttpPoolSettings s = pool_settings_from(default_config());
  s.ca_file = fx.mock->ca_file().string();
  s.compressed_responses = false;
  HttpClientPool pool(fx.io.get_executor(), fx.pool->endpoint(), s);
  auto f = boost::asio::co_spawn(fx.io, pool.post("/image/generate", kBody, "Bearer pool-key"), boost::asio::use_future);
  fx.io.restart();
  fx.io.run();
  auto ex = f.get();
  ASSERT_TRUE(ex.response) << ex.error_message;
  EXPECT_FALSE(ex.response->header("content-encoding"));
  EXPECT_GT(ex.body_wire_bytes, 0u);
  EXPECT_EQ(ex.body_wire_bytes, ex.response->body.size());
  EXPECT_EQ(ex.body_decoded_bytes, ex.response->body.size());
}

TEST(HttpPoolTest, EmulatorCompressedAnswerDecodesAndCountsBothSizes) {
  PoolFixture fx;  // the default config asks for gzip, br: the emulator prefers br
  auto ex = fx.post(R"({"model":"z-image-turbo","prompt":"p","width":64,"height":64,"format":"png"})");
  ASSERT_TRUE(ex.response) << ex.error_message;
  ASSERT_EQ(ex.response->status, 200) << ex.response->body;
  EXPECT_EQ(ex.response->header("content-encoding").value_or(""), "br");
  EXPECT_EQ(ex.body_decoded_bytes, ex.response->body.size());
  EXPECT_LT(ex.body_wire_bytes, ex.body_decoded_bytes);
  ResponseDecoder decoder;
  auto decoded = decoder.decode(*ex.response, ExpectedImages{ImageFormat::png, 1, false});
  ASSERT_TRUE(decoded) << decoded.error().message();
  EXPECT_EQ(decoded->images.at(0).size.width, 64u);
}

TEST(HttpPoolTest, DamagedCompressedAnswersAreTransportErrorsAndThePoolGoesOn) {
  PoolFixture fx(std::chrono::milliseconds(60000),
                 MockFaults{.schedule = parse_fault_schedule("corrupt_compressed,cut_compressed,ok")});
  const std::string job = R"({"model":"z-image-turbo","prompt":"p","width":64,"height":64,"format":"png"})";
  auto corrupt = fx.post(job);
  EXPECT_EQ(corrupt.error, TransportError::body_corrupt) << corrupt.error_message;
  EXPECT_TRUE(corrupt.request_sent);
  auto cut = fx.post(job);
  EXPECT_EQ(cut.error, TransportError::body_truncated) << cut.error_message;
  auto ok = fx.post(job);
  ASSERT_TRUE(ok.response) << ok.error_message;
  EXPECT_EQ(ok.response->status, 200);
}

TEST(HttpPoolTest, RequestsWaitingForAConnectionDoNotSpin) {
  // One connection, three requests, each answer 300 ms late: two requests wait for the slot.
  // A waiter must sleep until a release wakes it. io_context::run() returns how many handlers
  // ran: a few hundred for three TLS exchanges, hundreds of thousands if the waiters woke each
  // other in a loop (they did: re-arming the shared timer cancelled the other waiter's wait).
  MockOptions o;
  o.api_key = "pool-key";
  TempDir dir;
  o.cert_dir = dir.path();
  o.latency_min = o.latency_max = std::chrono::milliseconds(300);
  MockServer mock(o);
  mock.start();
  HttpPoolSettings s = pool_settings_from(default_config());
  s.ca_file = mock.ca_file().string();
  s.max_connections = 1;
  boost::asio::io_context io;
  HttpClientPool pool(io.get_executor(),
                      HttpEndpoint::from_base_url("https://127.0.0.1:" + std::to_string(mock.port()) + "/api/v1"), s);
  const std::string job = R"({"model":"z-image-turbo","prompt":"p","width":64,"height":64})";
  std::vector<std::future<HttpExchange>> answers;
  for (int i = 0; i < 3; ++i)
    answers.push_back(boost::asio::co_spawn(io, pool.post("/image/generate", job, "Bearer pool-key"),
                                            boost::asio::use_future));
  const std::size_t handlers = io.run();
  for (auto& f : answers) {
    auto ex = f.get();
    ASSERT_TRUE(ex.response) << ex.error_message;
    EXPECT_EQ(ex.response->status, 200);
  }
  EXPECT_EQ(pool.connections_opened(), 1u);
  EXPECT_LT(handlers, 5000u) << "the waiting requests spun";
}

TEST(HttpPoolTest, ARecycledBodyBufferHoldsExactlyTheNextAnswerAndKeepsItsPadding) {
  // A large answer's buffer is given back and the next, smaller answer is read into it: the body
  // must be that answer's bytes exactly (nothing of the old one past its end), padded for simdjson.
  for (bool compressed : {true, false}) {  // the decoder's buffer, and the identity fast path's
  SCOPED_TRACE(compressed ? "gzip or br" : "identity");
  PoolFixture fx(std::chrono::milliseconds(60000), {}, compressed);
  auto large = fx.post(R"({"model":"m","prompt":"big","width":512,"height":512})");
  ASSERT_TRUE(large.response) << large.error_message;
  const std::size_t large_size = large.response->body.size();
  const char* buffer = large.response->body.data();
  fx.pool->recycle_body(std::move(large.response->body));
  auto small = fx.post(kBody);
  ASSERT_TRUE(small.response) << small.error_message;
  EXPECT_EQ(small.response->body.data(), buffer) << "the buffer was not reused";
  ASSERT_LT(small.response->body.size(), large_size);
  simdjson::dom::parser p;
  simdjson::dom::element e;
  ASSERT_EQ(p.parse(small.response->body).get(e), simdjson::SUCCESS) << "not the small answer alone";
  EXPECT_EQ(small.response->body.back(), '}');
  EXPECT_GE(small.response->body.capacity(), small.response->body.size() + 64);
  // The emulator's answer, byte for byte, as a fresh buffer would have held it.
  auto again = fx.post(kBody);
  ASSERT_TRUE(again.response);
  EXPECT_EQ(again.response->body.size(), small.response->body.size());
  }
}

TEST(HttpPoolTest, AHeldConnectionIsNotReusedUntilReleasedAndOneReleasedAsUnusableNeverIs) {
  // The run holds a connection until its answer's echo is checked: a connection parked at once
  // was taken by the next job before the first could close it (the stray answer's successor
  // then went to the wrong job as well).
  PoolFixture fx;
  HttpClientPool::PostOptions hold;
  hold.hold_connection = true;
  auto first = fx.post_with(hold);
  ASSERT_TRUE(first.response) << first.error_message;
  ASSERT_TRUE(first.held_connection);
  auto second = fx.post_with(hold);  // the first's connection is held: a new one
  ASSERT_TRUE(second.response) << second.error_message;
  EXPECT_EQ(fx.pool->connections_opened(), 2u);
  EXPECT_NE(second.connection, first.connection);
  fx.pool->release(first, false);  // closed: another request's answer came on it
  fx.pool->release(second, true);  // parked
  EXPECT_FALSE(first.held_connection);
  auto third = fx.post_with({});
  ASSERT_TRUE(third.response) << third.error_message;
  EXPECT_EQ(third.connection, second.connection) << "the connection released as unusable was reused, or the parked one not";
  EXPECT_EQ(fx.pool->connections_opened(), 2u);
  HttpClientPool::PostOptions fresh;
  fresh.fresh_connection = true;
  auto fourth = fx.post_with(fresh);  // a parked one is there: not taken
  ASSERT_TRUE(fourth.response) << fourth.error_message;
  EXPECT_NE(fourth.connection, second.connection);
  EXPECT_EQ(fx.pool->connections_opened(), 3u);
}
