#include "mock_service.hpp"

#include <algorithm>
#include <variant>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "venice_batch/base64.hpp"
#include "venice_batch/image_encode.hpp"

namespace venice_batch::mock {

namespace net = boost::asio;
using std::chrono::milliseconds;

namespace {

std::int64_t epoch_ms() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

MockCatalog load_catalog(const MockOptions& o) {
  return o.catalog_file.empty() ? MockCatalog(builtin_catalog_sources()) : MockCatalog::from_file(o.catalog_file);
}

// The value of `name` in the request's query string ("" when absent).
std::string_view query_value(const Request& req, std::string_view name) {
  std::string_view target = req.target();
  const auto q = target.find('?');
  std::string_view query = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.starts_with(name) && pair.size() > name.size() && pair[name.size()] == '=') return pair.substr(name.size() + 1);
  }
  return {};
}

// The refusal of a decided request, if the policy refused it.
std::optional<Refusal> refusal_of(const MockDecision& d) {
  if (d.over_daily_quota) return Refusal{429, error_body("Rate limit exceeded for requests per day")};
  if (d.over_quota) return Refusal{429, error_body("Rate limit exceeded for requests per minute")};
  if (d.insufficient_balance) return Refusal{402, error_body("Insufficient USD or Diem balance to complete request")};
  return std::nullopt;
}

}  // namespace

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
      catalog_(load_catalog(options)),
      policy_(options.faults, [this] { return std::uniform_real_distribution<double>(0.0, 1.0)(random_); },
              to_micros(options.balance_usd)) {
  stats_.balance = policy_.balance();
}

net::awaitable<GenerateAnswer> MockService::generate(const Request& req, simdjson::dom::parser& parser) {
  MockPolicy::Arrival arrival;
  {
    std::lock_guard lock(mutex_);
    ++stats_.requests;
    arrival = policy_.on_request(MockClock::now());
    if (arrival.locked) ++stats_.locked;
  }
  auto read = read_generate_request(req, parser, {options_.api_key, catalog_, options_.extra_models,
                                                  options_.accept_unknown_models});
  if (auto* refused = std::get_if<Refusal>(&read)) {
    if (arrival.locked) co_return GenerateAnswer{answer(req, 429, std::string(failure_lock_body()), {refused->model})};
    co_return GenerateAnswer{answer(req, refused->status, std::move(refused->body), {refused->model})};
  }
  const Ask& ask = std::get<Ask>(read);
  if (arrival.locked) co_return GenerateAnswer{answer(req, 429, std::string(failure_lock_body()), {ask.model})};

  MockDecision decision;
  milliseconds latency{0};
  {
    std::lock_guard lock(mutex_);
    if (options_.track_prompts) ++stats_.by_prompt[ask.prompt];
    decision = policy_.decide(MockClock::now(), arrival.number,
                              {ask.model, static_cast<unsigned>(ask.images()), ask.price});
    if (decision.fault != MockFault::ok) ++stats_.faults[std::string(to_string(decision.fault))];
    latency = draw_latency();
  }
  if (auto refused = refusal_of(decision))
    co_return GenerateAnswer{answer(req, refused->status, std::move(refused->body), {ask.model, decision})};
  if (auto f = fault_answer(decision.fault))
    co_return GenerateAnswer{answer(req, f->status, std::move(f->body), {ask.model, decision}), decision.fault};
  if (latency.count() > 0) {  // on a timer: never blocks the thread
    net::steady_timer t(co_await net::this_coro::executor);
    t.expires_after(latency);
    co_await t.async_wait(net::as_tuple(net::use_awaitable));
  }
  co_return GenerateAnswer{success(req, ask, latency, decision), decision.fault};
}

Response MockService::answer(const Request& req, int status, std::string body, const Judged& judged) {
  auto res = json_response(status, std::move(body), req);
  std::lock_guard lock(mutex_);
  conclude(res, status, judged);
  return res;
}

void MockService::conclude(Response& res, int status, const Judged& judged) {
  const auto now = MockClock::now();
  if (!judged.model.empty()) {
    set_quota_headers(res, policy_.quota(now, judged.model, judged.decision.value_or(MockDecision{})), epoch_ms());
    auto& model = stats_.by_model[std::string(judged.model)];
    ++model.requests;
    if (status == 429) ++model.rate_limited;
    if (judged.decision) model.spent += judged.decision->charged;
  }
  const Micros before = judged.decision ? judged.decision->balance_before : policy_.balance();
  set_balance_headers(res, before, to_micros(options_.balance_diem));
  stats_.spent = policy_.spent();
  stats_.balance = policy_.balance();
  ++stats_.by_status[status];
  policy_.on_answer(now, status);
}

Response MockService::success(const Request& req, const Ask& ask, milliseconds latency, const MockDecision& decision) {
  const bool violation = decision.fault == MockFault::content_violation;
  // A content violation's binary body is a PNG placeholder, whatever format was asked.
  const ImageFormat format = violation && ask.binary ? ImageFormat::png : ask.format;
  std::vector<std::shared_ptr<const ImageCache::Image>> images;
  for (int k = 0; k < ask.images(); ++k) images.push_back(images_.get(format, ask.width, ask.height, k));
  std::uint64_t id = 0;
  {
    std::lock_guard lock(mutex_);
    stats_.images += images.size();
    stats_.by_model[ask.model].images += images.size();
    id = ++ids_;
  }
  Response res;
  if (ask.binary) {
    const auto& b = images[0]->bytes;
    res = make_response(200, std::string(b.begin(), b.end()), content_type(format), req);
  } else {
    GenerateBody body;
    body.id = id;
    body.latency = latency;
    body.request_json = ask.request_json;
    for (const auto& img : images) body.images_base64.push_back(&img->base64);
    res = json_response(200, generate_body(body, decision.fault), req);
  }
  set_success_headers(res, violation, decision.fault == MockFault::blurred);
  if (ask.spec && ask.spec->deprecation)
    set_deprecation_headers(res, ask.spec->id, ask.spec->deprecation->date, ask.spec->deprecation->replacement);
  std::lock_guard lock(mutex_);
  conclude(res, 200, {ask.model, decision});
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
  std::vector<std::string> ids;
  const auto add = [&ids](std::string_view id) {
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.emplace_back(id);
  };
  for (const auto& m : catalog_.models()) add(m.id);
  for (const auto& id : options_.extra_models) add(id);
  for (const auto* limits : {&options_.faults.model_rpm, &options_.faults.model_rpd})
    for (const auto& [id, limit] : *limits) add(id);
  std::vector<ModelRateLimit> limits;
  Micros balance = 0;
  {
    std::lock_guard lock(mutex_);
    for (const auto& id : ids) limits.push_back({id, policy_.stated_limit(id), policy_.daily_limit(id)});
    balance = policy_.balance();
  }
  auto res = json_response(200, rate_limits_body(limits, balance, to_micros(options_.balance_diem)), req);
  set_balance_headers(res, balance, to_micros(options_.balance_diem));
  return res;
}

std::optional<Response> MockService::catalog(const Request& req, std::string_view path) {
  const std::string* body = nullptr;
  if (path == "/api/v1/models") {
    // The emulator has image models only: any other type lists none.
    const auto type = query_value(req, "type");
    static const std::string none = R"({"object":"list","data":[]})";
    body = type.empty() || type == "image" || type == "all" ? &catalog_.models_body() : &none;
  } else if (path == "/api/v1/models/traits") {
    body = &catalog_.traits_body();
  } else if (path == "/api/v1/models/compatibility_mapping") {
    body = &catalog_.compatibility_body();
  } else if (path == "/api/v1/image/styles") {
    body = &catalog_.styles_body();
  } else {
    return std::nullopt;
  }
  {
    std::lock_guard lock(mutex_);
    ++stats_.catalog_requests;
  }
  return json_response(200, *body, req);
}

Response MockService::stats_page(const Request& req) const { return json_response(200, stats_json(stats()), req); }

void MockService::on_connection() {
  std::lock_guard lock(mutex_);
  ++stats_.connections;
}

void MockService::on_coding(MockCoding coding) {
  std::lock_guard lock(mutex_);
  ++stats_.by_coding[std::string(to_string(coding))];
}

MockStats MockService::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace venice_batch::mock
