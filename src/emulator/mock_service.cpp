#include "mock_service.hpp"

#include <variant>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "venice_batch/base64.hpp"
#include "venice_batch/image_encode.hpp"
#include "venice_batch/request_schema.hpp"

namespace venice_batch::mock {

namespace net = boost::asio;
namespace http = boost::beast::http;
using std::chrono::milliseconds;

namespace {

std::int64_t epoch_ms() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// An answer refusing a request before the policy sees it (auth, content type, validation).
struct Refusal {
  int status = 0;
  std::string body;
};

/// The Bearer check of every /api/v1 endpoint: no Authorization header is a 402 with the x402
/// body (as the API answers), any other key than ours a 401.
std::optional<Refusal> check_key(const Request& req, const std::string& api_key) {
  const std::string_view auth = req[http::field::authorization];
  if (auth.empty()) return Refusal{402, std::string(payment_required_body())};
  if (auth != "Bearer " + api_key) return Refusal{401, error_body("Authentication failed")};
  return std::nullopt;
}

// The size of a tier model's image: the long side from the resolution (4K capped at 2048 to
// keep the emulator cheap), the other from the aspect ratio, a multiple of 8.
void size_from_aspect_ratio(std::string_view ratio, std::string_view resolution, std::uint32_t& width,
                            std::uint32_t& height) {
  const std::uint32_t long_side = resolution == "2K" || resolution == "4K" ? 2048 : 1024;
  const auto colon = ratio.find(':');
  const double rw = std::stod(std::string(ratio.substr(0, colon)));
  const double rh = std::stod(std::string(ratio.substr(colon + 1)));
  const auto short_side = [&](double a, double b) {
    return std::max<std::uint32_t>(8, static_cast<std::uint32_t>(long_side * a / b) / 8 * 8);
  };
  width = rw >= rh ? long_side : short_side(rw, rh);
  height = rw >= rh ? short_side(rh, rw) : long_side;
}

}  // namespace

// What one generate request asks for, read from a validated body.
struct MockService::Ask {
  ImageFormat format = ImageFormat::webp;
  std::uint32_t width = 1024, height = 1024;
  int variants = 1;
  bool binary = false;
  std::string prompt;
  std::string request_json;  // the body, minified, echoed back in the 200

  int images() const { return binary ? 1 : variants; }
  static std::variant<Ask, Refusal> read(const Request& req, simdjson::dom::parser& parser, const MockOptions& o);
};

// Authentication, content type, JSON and schema, in the API's order; then the fields the
// emulator needs.
std::variant<MockService::Ask, Refusal> MockService::Ask::read(const Request& req, simdjson::dom::parser& parser,
                                                              const MockOptions& o) {
  if (auto refused = check_key(req, o.api_key)) return *refused;
  if (!std::string_view(req[http::field::content_type]).starts_with("application/json"))
    return Refusal{415, error_body("Unsupported content type")};
  simdjson::dom::element root;
  simdjson::dom::object obj;
  if (parser.parse(req.body()).get(root) || root.get_object().get(obj))
    return Refusal{400, error_body("Invalid JSON body")};
  if (auto issues = validate_request(obj, {}); !issues.empty()) return Refusal{400, detailed_error_body(issues)};
  Ask a;
  std::string_view s, resolution;
  std::int64_t i;
  bool b;
  if (obj["format"].get_string().get(s) == simdjson::SUCCESS)
    a.format = parse_image_format(s).value_or(ImageFormat::webp);
  if (obj["variants"].get_int64().get(i) == simdjson::SUCCESS) a.variants = static_cast<int>(i);
  if (obj["return_binary"].get_bool().get(b) == simdjson::SUCCESS) a.binary = b;
  if (obj["prompt"].get_string().get(s) == simdjson::SUCCESS) a.prompt.assign(s);
  if (obj["width"].get_int64().get(i) == simdjson::SUCCESS) a.width = static_cast<std::uint32_t>(i);
  if (obj["height"].get_int64().get(i) == simdjson::SUCCESS) a.height = static_cast<std::uint32_t>(i);
  if (obj["aspect_ratio"].get_string().get(s) == simdjson::SUCCESS) {
    if (obj["resolution"].get_string().get(resolution) != simdjson::SUCCESS) resolution = {};
    size_from_aspect_ratio(s, resolution, a.width, a.height);
  }
  a.request_json = simdjson::minify(obj);
  return a;
}

std::shared_ptr<const ImageCache::Image> ImageCache::get(ImageFormat format, std::uint32_t width,
                                                         std::uint32_t height, int pattern) {
  const auto key = std::make_tuple(static_cast<int>(format), width, height, pattern % 4);
  {
    std::lock_guard lock(mutex_);
    if (auto it = images_.find(key); it != images_.end()) return it->second;
  }
  auto img = std::make_shared<Image>();
  img->bytes = encode_test_image(format, width, height, static_cast<std::uint32_t>(pattern % 4));
  img->base64 = base64::encode(img->bytes);
  std::lock_guard lock(mutex_);
  if (images_.size() >= 256) images_.clear();
  images_.emplace(key, img);
  return img;
}

MockService::MockService(const MockOptions& options)
    : options_(options),
      policy_(options.faults, [this] { return std::uniform_real_distribution<double>(0.0, 1.0)(random_); }) {}

net::awaitable<GenerateAnswer> MockService::generate(const Request& req, simdjson::dom::parser& parser) {
  MockPolicy::Arrival arrival;
  {
    std::lock_guard lock(mutex_);
    ++stats_.requests;
    arrival = policy_.on_request(MockClock::now());
    if (arrival.locked) ++stats_.locked;
  }
  if (arrival.locked) co_return GenerateAnswer{answer(req, 429, std::string(failure_lock_body()))};
  auto read = Ask::read(req, parser, options_);
  if (auto* refused = std::get_if<Refusal>(&read))
    co_return GenerateAnswer{answer(req, refused->status, std::move(refused->body))};
  const Ask& ask = std::get<Ask>(read);

  MockDecision decision;
  milliseconds latency{0};
  {
    std::lock_guard lock(mutex_);
    if (options_.track_prompts) ++stats_.by_prompt[ask.prompt];
    decision = policy_.decide(MockClock::now(), arrival.number, static_cast<unsigned>(ask.images()));
    if (decision.fault != MockFault::ok) ++stats_.faults[std::string(to_string(decision.fault))];
    latency = draw_latency();
  }
  if (decision.over_quota)
    co_return GenerateAnswer{answer(req, 429, error_body("Rate limit exceeded for requests per minute"), decision)};
  if (auto f = fault_answer(decision.fault))
    co_return GenerateAnswer{answer(req, f->status, std::move(f->body), decision), decision.fault};
  if (latency.count() > 0) {  // on a timer: never blocks the thread
    net::steady_timer t(co_await net::this_coro::executor);
    t.expires_after(latency);
    co_await t.async_wait(net::as_tuple(net::use_awaitable));
  }
  co_return GenerateAnswer{success(req, ask, latency, decision.fault), decision.fault};
}

Response MockService::answer(const Request& req, int status, std::string body, const MockDecision& decision) {
  auto res = json_response(status, std::move(body), req);
  std::lock_guard lock(mutex_);
  const auto now = MockClock::now();
  set_quota_headers(res, policy_.quota(now, decision), epoch_ms());
  ++stats_.by_status[status];
  policy_.on_answer(now, status);
  return res;
}

Response MockService::success(const Request& req, const Ask& ask, milliseconds latency, MockFault fault) {
  std::vector<std::shared_ptr<const ImageCache::Image>> images;
  for (int k = 0; k < ask.images(); ++k) images.push_back(images_.get(ask.format, ask.width, ask.height, k));
  std::uint64_t id = 0;
  {
    std::lock_guard lock(mutex_);
    stats_.images += images.size();
    id = ++ids_;
  }
  Response res;
  if (ask.binary) {
    const auto& b = images[0]->bytes;
    res = make_response(200, std::string(b.begin(), b.end()), content_type(ask.format), req);
  } else {
    GenerateBody body;
    body.id = id;
    body.latency = latency;
    body.request_json = ask.request_json;
    for (const auto& img : images) body.images_base64.push_back(&img->base64);
    res = json_response(200, generate_body(body, fault), req);
  }
  set_success_headers(res);
  std::lock_guard lock(mutex_);
  const auto now = MockClock::now();
  set_quota_headers(res, policy_.quota(now), epoch_ms());
  ++stats_.by_status[200];
  policy_.on_answer(now, 200);
  return res;
}

milliseconds MockService::draw_latency() {
  if (options_.latency_max.count() <= 0) return milliseconds(0);
  const auto lo = options_.latency_min.count(), hi = std::max(options_.latency_max.count(), lo);
  return milliseconds(lo + std::uniform_int_distribution<std::int64_t>(0, hi - lo)(random_));
}

Response MockService::rate_limits(const Request& req) {
  {
    std::lock_guard lock(mutex_);
    ++stats_.key_checks;
  }
  if (auto refused = check_key(req, options_.api_key)) return json_response(refused->status, std::move(refused->body), req);
  std::uint64_t rpm;
  {
    std::lock_guard lock(mutex_);
    rpm = policy_.stated_limit();
  }
  return json_response(200, rate_limits_body(options_.models, rpm, options_.balance_usd, options_.balance_diem), req);
}

Response MockService::stats_page(const Request& req) const { return json_response(200, stats_json(stats()), req); }

void MockService::on_connection() {
  std::lock_guard lock(mutex_);
  ++stats_.connections;
}

MockStats MockService::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace venice_batch::mock
