#include "venice_batch/mock_server.hpp"

#include <atomic>
#include <deque>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

#include "venice_batch/base64.hpp"
#include "venice_batch/image_encode.hpp"
#include "venice_batch/image_format.hpp"
#include "venice_batch/request_schema.hpp"
#include "venice_batch/tls_cert.hpp"

namespace venice_batch {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
using Stream = beast::ssl_stream<beast::tcp_stream>;

std::int64_t epoch_ms() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string random_hex(std::size_t n) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  static constexpr char hex[] = "0123456789abcdef";
  std::string s(n, '0');
  for (auto& c : s) c = hex[rng() & 15];
  return s;
}

double uniform01() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

struct CachedImage {
  std::vector<std::uint8_t> bytes;
  std::string base64;
};

// What one generate request asks for, read from a validated body.
struct Ask {
  ImageFormat format = ImageFormat::webp;
  std::uint32_t width = 1024, height = 1024;
  int variants = 1;
  bool binary = false;
  std::string prompt;
};

Ask read_ask(simdjson::dom::object o) {
  Ask a;
  std::string_view s;
  if (o["format"].get_string().get(s) == simdjson::SUCCESS) a.format = parse_image_format(s).value_or(ImageFormat::webp);
  int64_t i;
  if (o["variants"].get_int64().get(i) == simdjson::SUCCESS) a.variants = static_cast<int>(i);
  bool b;
  if (o["return_binary"].get_bool().get(b) == simdjson::SUCCESS) a.binary = b;
  if (o["prompt"].get_string().get(s) == simdjson::SUCCESS) a.prompt.assign(s);
  if (o["width"].get_int64().get(i) == simdjson::SUCCESS) a.width = static_cast<std::uint32_t>(i);
  if (o["height"].get_int64().get(i) == simdjson::SUCCESS) a.height = static_cast<std::uint32_t>(i);
  std::string_view ratio;
  if (o["aspect_ratio"].get_string().get(ratio) == simdjson::SUCCESS) {
    // Tier models: the long side from the resolution (4K capped at 2048 to keep the emulator cheap).
    std::uint32_t long_side = 1024;
    if (o["resolution"].get_string().get(s) == simdjson::SUCCESS && (s == "2K" || s == "4K")) long_side = 2048;
    const auto colon = ratio.find(':');
    const double rw = std::stod(std::string(ratio.substr(0, colon)));
    const double rh = std::stod(std::string(ratio.substr(colon + 1)));
    if (rw >= rh) {
      a.width = long_side;
      a.height = std::max<std::uint32_t>(8, static_cast<std::uint32_t>(long_side * rh / rw) / 8 * 8);
    } else {
      a.height = long_side;
      a.width = std::max<std::uint32_t>(8, static_cast<std::uint32_t>(long_side * rw / rh) / 8 * 8);
    }
  }
  return a;
}

std::string error_body(std::string_view message) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("error");
  w.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  w.EndObject();
  return buf.GetString();
}

std::string detailed_error_body(const std::vector<FieldIssue>& issues) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("error");
  w.String("Invalid request parameters");
  w.Key("details");
  w.StartObject();
  w.Key("_errors");
  w.StartArray();
  w.EndArray();
  for (const auto& i : issues) {
    const std::string field = i.path.empty() ? "_root" : i.path.substr(0, i.path.find('.'));
    w.Key(field.c_str());
    w.StartObject();
    w.Key("_errors");
    w.StartArray();
    w.String(i.message.c_str());
    w.EndArray();
    w.EndObject();
  }
  w.EndObject();
  w.Key("issues");
  w.StartArray();
  for (const auto& i : issues) {
    w.StartObject();
    w.Key("code");
    w.String(i.code.c_str());
    w.Key("path");
    w.StartArray();
    if (!i.path.empty()) w.String(i.path.c_str());
    w.EndArray();
    w.Key("message");
    w.String(i.message.c_str());
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return buf.GetString();
}

// The completion handler of every co_spawn here: a coroutine that ends with an exception is
// reported, never silently dropped.
auto log_failure(const char* what) {
  return [what](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      std::fprintf(stderr, "venice-mock: %s failed: %s\n", what, ex.what());
    }
  };
}

}  // namespace

std::vector<std::string> parse_fault_schedule(const std::string& text) {
  static const std::vector<std::string> known = {"ok",   "429",   "500",          "503",            "close", "short",
                                                 "stall", "invalid_json", "invalid_base64", "401",   "402",   "lock"};
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    if (item.empty()) continue;
    std::size_t repeat = 1;
    if (auto x = item.find('x'); x != std::string::npos && x > 0 && item != "invalid_json") {
      const std::string count = item.substr(x + 1);
      if (!count.empty() && count.find_first_not_of("0123456789") == std::string::npos) {
        repeat = std::stoul(count);
        item = item.substr(0, x);
      }
    }
    if (std::find(known.begin(), known.end(), item) == known.end())
      throw std::invalid_argument("unknown fault '" + item + "'");
    out.insert(out.end(), repeat, item);
  }
  return out;
}

struct MockServer::Impl {
  MockOptions options;
  net::io_context io;
  ssl::context tls{ssl::context::tls_server};
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::filesystem::path ca_path;
  std::uint16_t bound_port = 0;
  std::atomic<bool> stopping{false};

  mutable std::mutex mutex;  // guards everything below
  MockStats stats;
  std::map<std::tuple<int, std::uint32_t, std::uint32_t, int>, std::shared_ptr<const CachedImage>> cache;
  std::uint64_t generate_count = 0, id_counter = 0;
  std::int64_t window_end_ms = 0;   // the per-minute window
  std::uint64_t window_used = 0;
  std::deque<Clock::time_point> failures;  // non-2xx answers, for the failure lock
  Clock::time_point locked_until{};
  std::vector<std::weak_ptr<Stream>> sessions;

  explicit Impl(MockOptions o) : options(std::move(o)) {}

  std::shared_ptr<const CachedImage> image(ImageFormat f, std::uint32_t w, std::uint32_t h, int k) {
    const auto key = std::make_tuple(static_cast<int>(f), w, h, k % 4);
    {
      std::lock_guard lock(mutex);
      if (auto it = cache.find(key); it != cache.end()) return it->second;
    }
    auto img = std::make_shared<CachedImage>();
    img->bytes = encode_test_image(f, w, h, static_cast<std::uint32_t>(k % 4));
    img->base64 = base64::encode(img->bytes);
    std::lock_guard lock(mutex);
    if (cache.size() >= 256) cache.clear();
    cache.emplace(key, img);
    return img;
  }

  // Starts a new 60 s quota window when the last one has ended. Call with the mutex held.
  void roll_window() {
    const auto now_ms = epoch_ms();
    if (now_ms >= window_end_ms) {
      window_end_ms = now_ms + 60000;
      window_used = 0;
    }
  }

  // The fault for the request counted as `n` (1-based).
  std::string pick_fault(std::uint64_t n) {
    const auto& f = options.faults;
    if (n <= f.schedule.size()) return f.schedule[n - 1];
    const std::pair<double, const char*> odds[] = {
        {f.p_429, "429"},   {f.p_500, "500"},           {f.p_503, "503"},
        {f.p_close, "close"}, {f.p_short, "short"},     {f.p_stall, "stall"},
        {f.p_invalid_json, "invalid_json"}, {f.p_invalid_base64, "invalid_base64"},
        {f.p_401, "401"},   {f.p_402, "402"}};
    for (const auto& [p, name] : odds)
      if (p > 0 && uniform01() < p) return name;
    return "ok";
  }

  void add_rate_headers(http::fields& h, bool exhausted) {
    const auto& f = options.faults;
    const std::uint64_t limit = f.requests_per_minute ? f.requests_per_minute : 100000;
    h.set("x-ratelimit-limit-requests", std::to_string(limit));
    h.set("x-ratelimit-remaining-requests",
          std::to_string(exhausted ? 0 : (window_used >= limit ? 0 : limit - window_used)));
    h.set("x-ratelimit-reset-requests", std::to_string(window_end_ms));
  }

  void count(int status) {
    ++stats.by_status[status];
    if (status < 200 || status >= 300) {
      failures.push_back(Clock::now());
      const auto now = Clock::now();
      while (!failures.empty() && failures.front() <= now - std::chrono::seconds(30)) failures.pop_front();
      if (options.faults.failure_lock && failures.size() > options.faults.lock_threshold &&
          locked_until <= now)
        locked_until = now + options.faults.lock_duration;
    }
  }

  using Response = http::response<http::string_body>;

  Response make(int status, std::string body, std::string_view content_type, unsigned version, bool keep_alive) {
    Response res{static_cast<http::status>(status), version};
    res.set(http::field::server, "venice-mock");
    res.set(http::field::content_type, content_type);
    res.set("CF-RAY", random_hex(16) + "-MOCK");
    res.set("x-venice-version", "mock-1");
    res.keep_alive(keep_alive);
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
  }

  // Decides the answer to a generate request. Returns the response, and in `fault` any
  // transport-level misbehaviour the session must act out (close, short, stall).
  net::awaitable<Response> generate(const http::request<http::string_body>& req, std::string& fault) {
    const unsigned version = req.version();
    const bool keep = req.keep_alive();
    std::string auth(req[http::field::authorization]);
    std::uint64_t n;
    bool locked = false, limited = false;
    {
      std::lock_guard lock(mutex);
      ++stats.requests;
      n = ++generate_count;
      roll_window();
      if (Clock::now() < locked_until) {
        locked = true;
        ++stats.locked;
      }
    }
    auto answer = [&](int status, std::string body, bool exhausted = false) {
      auto res = make(status, std::move(body), "application/json", version, keep);
      std::lock_guard lock(mutex);
      add_rate_headers(res, exhausted);
      count(status);
      return res;
    };
    if (locked) {
      co_return answer(429, R"({"error":"Too many failed attempts. Please try again in 30 seconds."})");
    }
    if (auth.empty()) {
      co_return answer(402, R"({"error":"Payment required","x402Version":1,"accepts":[{"scheme":"exact","network":"base"}]})");
    }
    if (auth != "Bearer " + options.api_key) co_return answer(401, error_body("Authentication failed"));
    auto ct = req[http::field::content_type];
    if (ct.substr(0, 16) != "application/json") co_return answer(415, error_body("Unsupported content type"));

    thread_local simdjson::dom::parser parser;
    simdjson::dom::element root;
    simdjson::dom::object obj;
    if (parser.parse(req.body()).get(root) || root.get_object().get(obj))
      co_return answer(400, error_body("Invalid JSON body"));
    auto issues = validate_request(obj, {});
    if (!issues.empty()) co_return answer(400, detailed_error_body(issues));
    const Ask ask = read_ask(obj);
    {
      // Like the API, each variant counts against the per-minute limit as one image.
      std::lock_guard lock(mutex);
      if (options.track_prompts) ++stats.by_prompt[ask.prompt];
      roll_window();
      window_used += ask.binary ? 1 : static_cast<std::uint64_t>(ask.variants);
      if (options.faults.requests_per_minute && window_used > options.faults.requests_per_minute) {
        window_used -= ask.binary ? 1 : static_cast<std::uint64_t>(ask.variants);  // refused: not counted
        limited = true;
      }
    }
    if (limited) co_return answer(429, error_body("Rate limit exceeded for requests per minute"), true);

    fault = pick_fault(n);
    if (fault != "ok") {
      std::lock_guard lock(mutex);
      ++stats.faults[fault];
    }
    if (fault == "429") {
      auto res = answer(429, error_body("Rate limit exceeded"), true);
      std::lock_guard lock(mutex);
      res.set("x-ratelimit-reset-requests", std::to_string(epoch_ms() + options.faults.reset_after_429.count()));
      co_return res;
    }
    if (fault == "lock") co_return answer(429, R"({"error":"Too many failed attempts. Please try again in 30 seconds."})");
    if (fault == "500") co_return answer(500, error_body("Inference processing failed"));
    if (fault == "503") co_return answer(503, error_body("The model is at capacity. Please try again later."));
    if (fault == "401") co_return answer(401, error_body("Authentication failed"));
    if (fault == "402") co_return answer(402, error_body("Insufficient USD or Diem balance to complete request"));

    // Added latency, on a timer: never blocks the thread.
    milliseconds wait{0};
    if (options.latency_max.count() > 0) {
      const auto lo = options.latency_min.count(), hi = std::max(options.latency_max.count(), lo);
      wait = milliseconds(lo + static_cast<std::int64_t>(uniform01() * static_cast<double>(hi - lo)));
      net::steady_timer t(co_await net::this_coro::executor);
      t.expires_after(wait);
      co_await t.async_wait(use_tuple);
    }

    std::vector<std::shared_ptr<const CachedImage>> images;
    const int count_images = ask.binary ? 1 : ask.variants;
    for (int k = 0; k < count_images; ++k) images.push_back(image(ask.format, ask.width, ask.height, k));
    {
      std::lock_guard lock(mutex);
      stats.images += images.size();
    }
    if (ask.binary) {
      const auto& b = images[0]->bytes;
      co_return success(make(200, std::string(b.begin(), b.end()), content_type(ask.format), version, keep));
    }
    std::string body;
    std::size_t size = 512 + req.body().size();
    for (const auto& img : images) size += img->base64.size() + 3;
    body.reserve(size);
    {
      std::lock_guard lock(mutex);
      body += "{\"id\":\"generate-image-" + std::to_string(++id_counter) + "\",\"images\":[";
    }
    for (std::size_t k = 0; k < images.size(); ++k) {
      body += k ? ",\"" : "\"";
      if (fault == "invalid_base64") {
        std::string broken = images[k]->base64;
        broken[broken.size() / 2] = '!';
        body += broken;
      } else {
        body += images[k]->base64;
      }
      body += '"';
    }
    // The server's own timing tells the truth about this emulator: its added latency, split
    // into queue (a tenth), preprocessing (a twentieth) and inference (the rest).
    const auto total = wait.count();
    const auto queue = total / 10, pre = total / 20, inference = total - queue - pre;
    body += "],\"timing\":{\"inferenceDuration\":" + std::to_string(inference) +
            ",\"inferencePreprocessingTime\":" + std::to_string(pre) + ",\"inferenceQueueTime\":" + std::to_string(queue) +
            ",\"total\":" + std::to_string(total) + "},\"request\":{\"success\":true,\"data\":" +
            simdjson::minify(obj) + "}}";
    if (fault == "invalid_json") body.resize(body.size() / 2);
    co_return success(make(200, std::move(body), "application/json", version, keep));
  }

  // The headers and counting every 200 gets.
  Response success(Response res) {
    std::lock_guard lock(mutex);
    add_rate_headers(res, false);
    res.set("x-venice-is-blurred", "false");
    res.set("x-venice-is-content-violation", "false");
    count(200);
    return res;
  }

  std::string stats_json() {
    std::lock_guard lock(mutex);
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w(buf);
    w.StartObject();
    w.Key("requests");
    w.Uint64(stats.requests);
    w.Key("images");
    w.Uint64(stats.images);
    w.Key("connections");
    w.Uint64(stats.connections);
    w.Key("locked");
    w.Uint64(stats.locked);
    w.Key("by_status");
    w.StartObject();
    for (const auto& [s, c] : stats.by_status) {
      w.Key(std::to_string(s).c_str());
      w.Uint64(c);
    }
    w.EndObject();
    w.Key("faults");
    w.StartObject();
    for (const auto& [s, c] : stats.faults) {
      w.Key(s.c_str());
      w.Uint64(c);
    }
    w.EndObject();
    w.EndObject();
    return buf.GetString();
  }

  net::awaitable<void> session(std::shared_ptr<Stream> stream) {
    auto& tcp_stream = beast::get_lowest_layer(*stream);
    tcp_stream.expires_after(std::chrono::seconds(10));
    auto [hec] = co_await stream->async_handshake(ssl::stream_base::server, use_tuple);
    if (hec) co_return;
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(40u << 20);
      tcp_stream.expires_after(options.idle_timeout);  // idle keep-alive connections close
      auto [rec, n] = co_await http::async_read(*stream, buffer, parser, use_tuple);
      if (rec) break;
      auto req = parser.release();
      std::string fault = "ok";
      Response res;
      if (req.method() == http::verb::post && req.target() == "/api/v1/image/generate") {
        tcp_stream.expires_never();
        res = co_await generate(req, fault);
      } else if (req.method() == http::verb::get && req.target() == "/__mock/stats") {
        res = make(200, stats_json(), "application/json", req.version(), req.keep_alive());
      } else {
        res = make(404, error_body("Not found"), "application/json", req.version(), req.keep_alive());
      }
      tcp_stream.expires_after(std::chrono::seconds(60));
      if (fault == "close" || fault == "short") {
        // Serialize by hand so we can send only part of the body.
        std::ostringstream head;
        head << res.base();
        std::string raw = head.str();
        raw.append(res.body(), 0, res.body().size() / 2);
        co_await net::async_write(*stream, net::buffer(raw), use_tuple);
        if (fault == "short") {
          tcp_stream.expires_after(std::chrono::seconds(2));
          co_await stream->async_shutdown(use_tuple);  // clean close_notify: a short body, not a reset
        }
        break;  // "close": drop the TCP connection without close_notify
      }
      if (fault == "stall") {
        net::steady_timer t(co_await net::this_coro::executor);
        t.expires_after(options.faults.stall);
        co_await t.async_wait(use_tuple);
        break;
      }
      auto [wec, written] = co_await http::async_write(*stream, res, use_tuple);
      if (wec || !res.keep_alive()) break;
    }
    boost::system::error_code ignored;
    tcp_stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    tcp_stream.close();
  }

  net::awaitable<void> listen() {
    for (;;) {
      auto [ec, socket] = co_await acceptor->async_accept(use_tuple);
      if (ec) {
        if (stopping) co_return;
        continue;  // EMFILE and the like: keep serving the connections we have
      }
      socket.set_option(tcp::no_delay(true), ec);
      auto stream = std::make_shared<Stream>(std::move(socket), tls);
      {
        std::lock_guard lock(mutex);
        ++stats.connections;
        std::erase_if(sessions, [](const auto& w) { return w.expired(); });
        sessions.push_back(stream);
      }
      net::co_spawn(acceptor->get_executor(), session(stream), log_failure("session"));
    }
  }
};

MockServer::MockServer(MockOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

MockServer::~MockServer() { stop(); }

void MockServer::start() {
  auto& s = *impl_;
  auto& o = s.options;
  if (!o.cert_file.empty()) {
    s.ca_path = o.cert_file;
    s.tls.use_certificate_chain_file(o.cert_file.string());
    s.tls.use_private_key_file(o.key_file.string(), ssl::context::pem);
  } else {
    auto dir = o.cert_dir;
    if (dir.empty()) {
      std::string tmpl = (std::filesystem::temp_directory_path() / "venice-mock-XXXXXX").string();
      if (!::mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a temp dir for the certificate");
      dir = tmpl;
    }
    auto cert = make_self_signed_cert(o.cert_hosts);
    s.ca_path = write_cert_files(cert, dir);
    s.tls.use_certificate_chain(net::buffer(cert.cert_pem));
    s.tls.use_private_key(net::buffer(cert.key_pem), ssl::context::pem);
  }
  s.tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3);
  tcp::endpoint ep(net::ip::make_address(o.bind_address), o.port);
  s.acceptor.emplace(s.io);
  s.acceptor->open(ep.protocol());
  s.acceptor->set_option(net::socket_base::reuse_address(true));
  s.acceptor->bind(ep);
  s.acceptor->listen(net::socket_base::max_listen_connections);
  s.bound_port = s.acceptor->local_endpoint().port();
  net::co_spawn(s.io, s.listen(), log_failure("listener"));
  for (unsigned i = 0; i < std::max(1u, o.threads); ++i) s.threads.emplace_back([&s] { s.io.run(); });
}

void MockServer::stop() {
  auto& s = *impl_;
  if (s.stopping.exchange(true)) return;
  net::post(s.io, [&s] {
    boost::system::error_code ignored;
    if (s.acceptor) s.acceptor->close(ignored);
    std::lock_guard lock(s.mutex);
    for (auto& w : s.sessions)
      if (auto st = w.lock()) beast::get_lowest_layer(*st).close();
    // Whatever is still pending (a stall timer, a latency wait) must not keep stop() waiting.
    s.io.stop();
  });
  for (auto& t : s.threads)
    if (t.joinable()) t.join();
}

std::uint16_t MockServer::port() const { return impl_->bound_port; }
std::filesystem::path MockServer::ca_file() const { return impl_->ca_path; }
MockStats MockServer::stats() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->stats;
}

}  // namespace venice_batch
