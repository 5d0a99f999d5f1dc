// Compressed answers end to end, from a server we did not write: Debian's nginx over TLS with
// its gzip module (and the brotli filter module when installed) compressing a canned Venice
// answer, plus static bodies that claim a Content-Encoding they break (corrupt, cut, a bomb,
// zstd). The pool asks for gzip, br and decodes what comes; identity when the config says no.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include "compression_support.hpp"
#include "test_support.hpp"
#include "venice_batch/base64.hpp"
#include "venice_batch/http_pool.hpp"
#include "venice_batch/image_encode.hpp"
#include "venice_batch/response.hpp"
#include "venice_batch/tls_cert.hpp"

using namespace venice_batch;
using test_support::TempDir;
namespace fs = std::filesystem;

namespace {

const fs::path kNginx = "/usr/sbin/nginx";
const fs::path kBrotliModule = "/usr/lib/nginx/modules/ngx_http_brotli_filter_module.so";
constexpr std::uint64_t kMaxBody = 2 << 20;

std::uint16_t free_loopback_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

// Every prefix serves /api/v1/image/generate from a file; a POST to a file is nginx's 405, turned
// into a GET of the same URI (status 200) by error_page, as bench/nginx_canned.sh does.
std::string nginx_conf(const fs::path& dir, std::uint16_t port, bool brotli) {
  auto served = [&](std::string_view prefix, std::string_view file, std::string_view extra) {
    return fmt::format("    location = /{}/api/v1/image/generate {{ alias {}/{}; {} }}\n", prefix, dir.string(), file,
                       extra);
  };
  std::string locations = served("gzip", "canned.json", "gzip on;") +
                          served("corrupt", "corrupt.gz", "add_header Content-Encoding gzip;") +
                          served("cut", "cut.gz", "add_header Content-Encoding gzip;") +
                          served("bomb", "bomb.gz", "add_header Content-Encoding gzip;") +
                          served("zstd", "canned.json", "add_header Content-Encoding zstd;") +
                          served("binary", "image.png", "gzip on; gzip_types image/png; default_type image/png;");
  if (brotli) locations += served("br", "canned.json", "brotli on; brotli_types application/json;");
  return fmt::format(R"({}{}
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {dir}/client_body;
  proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi;
  scgi_temp_path {dir}/scgi;
  default_type application/json;
  gzip_types application/json;
  gzip_min_length 0;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {dir}/cert.pem;
    ssl_certificate_key {dir}/key.pem;
    error_page 405 =200 $uri;
{locations}  }}
}}
)",
                     brotli ? fmt::format("load_module {};\n", kBrotliModule.string()) : "",
                     ::geteuid() == 0 ? "user root;" : "", fmt::arg("dir", dir.string()), fmt::arg("port", port),
                     fmt::arg("locations", locations));
}

// A canned Venice answer around a real PNG, the files nginx serves, and nginx itself (one
// process: killing it leaves no worker behind).
class NginxCompressing {
 public:
  NginxCompressing() {
    png = encode_test_image(ImageFormat::png, 96, 96, 7);
    canned = fmt::format(R"({{"id":"generate-image-nginx","images":["{}"],"timing":{{"inferenceDuration":900,)"
                         R"("inferencePreprocessingTime":2,"inferenceQueueTime":1,"total":905}},"request":null}})",
                         base64::encode(png));
    write_cert_files(make_self_signed_cert({"127.0.0.1", "localhost"}), dir.path());
    const std::string gz = compression_test::gzip(canned);
    std::string corrupt = gz;
    for (std::size_t i = corrupt.size() / 2; i < corrupt.size() / 2 + 64; ++i) corrupt[i] = '\xff';
    test_support::write_file(dir / "canned.json", canned);
    test_support::write_file(dir / "image.png", std::string(png.begin(), png.end()));
    test_support::write_file(dir / "corrupt.gz", corrupt);
    test_support::write_file(dir / "cut.gz", gz.substr(0, gz.size() / 2));
    test_support::write_file(dir / "bomb.gz", compression_test::gzip(std::string(kMaxBody * 16, '{'), 9));
    brotli = fs::exists(kBrotliModule);
    port = free_loopback_port();
    test_support::write_file(dir / "nginx.conf", nginx_conf(dir.path(), port, brotli));
    process = std::make_unique<test_support::ChildProcess>(std::vector<std::string>{
        kNginx.string(), "-p", dir.path().string(), "-c", (dir / "nginx.conf").string(), "-e",
        (dir / "error.log").string()});
    // The pid file is written once the listening socket is open.
    test_support::wait_until([&] { return fs::exists(dir / "nginx.pid") || process->wait_for(std::chrono::seconds(0)); });
    EXPECT_TRUE(fs::exists(dir / "nginx.pid")) << test_support::read_file(dir / "error.log");
  }

  /// One POST to /<prefix>/api/v1/image/generate through a fresh pool.
  HttpExchange post(std::string_view prefix, bool compressed_responses = true) {
    HttpPoolSettings s = pool_settings_from(default_config());
    s.ca_file = (dir / "cert.pem").string();
    s.request_timeout = std::chrono::seconds(10);
    s.max_body_bytes = kMaxBody;
    s.compressed_responses = compressed_responses;
    boost::asio::io_context io;
    HttpClientPool pool(io.get_executor(),
                        HttpEndpoint::from_base_url(fmt::format("https://127.0.0.1:{}/{}/api/v1", port, prefix)), s);
    auto f = boost::asio::co_spawn(io, pool.post("/image/generate", R"({"model":"m","prompt":"p"})", "Bearer k"),
                                   boost::asio::use_future);
    io.run();
    return f.get();
  }

  TempDir dir;
  std::vector<std::uint8_t> png;
  std::string canned;
  bool brotli = false;
  std::uint16_t port = 0;
  std::unique_ptr<test_support::ChildProcess> process;
};

class CompressedNginxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kNginx)) GTEST_SKIP() << kNginx << " is not installed (Debian package nginx)";
    server = std::make_unique<NginxCompressing>();
  }
  std::unique_ptr<NginxCompressing> server;
};

// The answer decodes to the canned JSON byte for byte, and its image to the PNG that was put in.
void expect_exact_answer(const NginxCompressing& s, const HttpExchange& ex, std::string_view coding) {
  ASSERT_TRUE(ex.response) << ex.error_message;
  EXPECT_EQ(ex.response->status, 200);
  EXPECT_EQ(ex.response->header("content-encoding").value_or("identity"), coding);
  EXPECT_EQ(ex.response->body, s.canned);
  EXPECT_GE(ex.response->body.capacity(), ex.response->body.size() + 64);
  EXPECT_EQ(ex.body_decoded_bytes, s.canned.size());
  ResponseDecoder decoder;
  auto decoded = decoder.decode(*ex.response, ExpectedImages{ImageFormat::png, 1, false});
  ASSERT_TRUE(decoded) << decoded.error().message();
  ASSERT_EQ(decoded->images.size(), 1u);
  EXPECT_EQ(decoded->images[0].bytes, s.png);
}

}  // namespace

TEST_F(CompressedNginxTest, GzipAnswerDecodesToTheExactImage) {
  const auto ex = server->post("gzip");
  expect_exact_answer(*server, ex, "gzip");
  EXPECT_EQ(ex.response->header("transfer-encoding").value_or(""), "chunked") << "nginx streams what it compresses";
  EXPECT_LT(ex.body_wire_bytes, ex.body_decoded_bytes);
}

TEST_F(CompressedNginxTest, BrotliAnswerDecodesToTheExactImage) {
  if (!server->brotli) GTEST_SKIP() << kBrotliModule << " is not installed (libnginx-mod-http-brotli-filter)";
  const auto ex = server->post("br");
  expect_exact_answer(*server, ex, "br");
  EXPECT_LT(ex.body_wire_bytes, ex.body_decoded_bytes);
}

TEST_F(CompressedNginxTest, IdentityWhenCompressedResponsesIsOff) {
  const auto ex = server->post("gzip", false);
  expect_exact_answer(*server, ex, "identity");
  EXPECT_EQ(ex.body_wire_bytes, server->canned.size());
}

TEST_F(CompressedNginxTest, CompressedBinaryAnswerIsToleratedAndDecoded) {
  const auto ex = server->post("binary");
  ASSERT_TRUE(ex.response) << ex.error_message;
  EXPECT_EQ(ex.response->header("content-encoding").value_or(""), "gzip");
  ResponseDecoder decoder;
  auto decoded = decoder.decode(*ex.response, ExpectedImages{ImageFormat::png, 1, true});
  ASSERT_TRUE(decoded) << decoded.error().message();
  EXPECT_EQ(decoded->images.at(0).bytes, server->png);
}

TEST_F(CompressedNginxTest, CorruptGzipBodyIsARetryableTransportError) {
  const auto ex = server->post("corrupt");
  EXPECT_FALSE(ex.response);
  EXPECT_EQ(ex.error, TransportError::body_corrupt) << ex.error_message;
  EXPECT_TRUE(ex.request_sent) << "sent and answered: the attempt policy retries it";
  EXPECT_NE(ex.error_message.find("gzip: "), std::string::npos) << ex.error_message;
}

TEST_F(CompressedNginxTest, CutGzipBodyIsTruncated) {
  const auto ex = server->post("cut");
  EXPECT_EQ(ex.error, TransportError::body_truncated) << ex.error_message;
  EXPECT_EQ(ex.error_message, "the compressed body was cut short (gzip: the body ended before the compressed "
                              "stream did)");
}

TEST_F(CompressedNginxTest, GzipBombStopsAtMaxResponseBytes) {
  const auto ex = server->post("bomb");
  EXPECT_EQ(ex.error, TransportError::body_too_large) << ex.error_message;
  EXPECT_LE(ex.body_decoded_bytes, kMaxBody + 1);
  EXPECT_LT(ex.body_wire_bytes, kMaxBody / 8) << "the bomb is small on the wire";
}

TEST_F(CompressedNginxTest, UnknownContentEncodingIsAnErrorNamingIt) {
  const auto ex = server->post("zstd");
  EXPECT_EQ(ex.error, TransportError::unsupported_encoding) << ex.error_message;
  EXPECT_EQ(ex.error_message, "the answer (HTTP 200) is in Content-Encoding 'zstd', which venice-batch cannot "
                              "decode (it asks for gzip or br)");
}
