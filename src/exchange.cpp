#include "venice_batch/exchange.hpp"

#include <chrono>

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace venice_batch {

namespace net = boost::asio;

void record_exchange(RunMetrics& m, const HttpExchange& ex) {
  const auto& t = ex.timings;
  if (!t.reused_connection && ex.error != TransportError::resolve_failed) {
    m.record(Phase::connect, t.connect_us);
    if (ex.error != TransportError::connect_failed) m.record(Phase::tls, t.tls_us);
  }
  if (ex.request_sent) m.record(Phase::write, t.write_us);
  if (ex.response) {
    m.record(Phase::ttfb, t.ttfb_us);
    m.record(Phase::download, t.download_us);
  }
}

namespace {
// Runs on the CPU pool. A plain function taking its parameters by value (GCC 12 and
// coroutine lambdas don't mix); `response` lives in the awaiting caller's frame, which is
// suspended until this ends.
net::awaitable<StoredResponse> decode_to_target(const HttpResponse* response, ExpectedImages expected,
                                                 const StoreTarget* target) {
  thread_local ResponseDecoder decoder;
  co_return decode_and_store(decoder, *response, expected, *target);
}
}  // namespace

net::awaitable<StoredResponse> store_response(net::any_io_executor cpu, const HttpExchange& ex, ExpectedImages expected,
                                              const StoreTarget* target) {
  if (!ex.response || ex.response->status != 200) co_return StoredResponse{};
  co_return co_await net::co_spawn(cpu, decode_to_target(&*ex.response, expected, target), net::use_awaitable);
}

net::awaitable<StoredResponse> store_response(net::any_io_executor cpu, const HttpExchange& ex, ExpectedImages expected,
                                              std::string file_prefix, const OutputSink* sink,
                                              const SidecarSource* sidecars) {
  StoreTarget target;  // in this frame, suspended until the decode ends
  target.file_prefix = file_prefix;
  target.sink = sink;
  target.sidecars = sidecars;
  co_return co_await store_response(cpu, ex, expected, &target);
}

AttemptOutcome attempt_outcome(const HttpExchange& ex, const StoredResponse& stored, const ApiError& api,
                               std::int64_t now_epoch_ms) {
  AttemptOutcome o;
  o.transport = ex.error;
  o.transport_message = ex.error_message;
  o.request_sent = ex.request_sent;
  o.stale_resends = ex.stale_reconnects;
  if (!ex.response) return o;
  o.http_status = ex.response->status;
  o.limits = parse_rate_limit_headers(*ex.response, now_epoch_ms);
  o.failure_lock = api.failure_lock;
  o.api_message = api.message;
  if (o.http_status >= 201 && o.http_status < 300) {
    // Only a 200 carries the images: another success status is an answer without them.
    o.body = BodyOutcome::bad_response;
    o.body_error_kind = "unexpected_status";
    o.body_error_message = fmt::format("HTTP {}: an answer without images (only a 200 carries them)", o.http_status);
    o.body_retryable = true;
    return o;
  }
  if (o.http_status != 200) return o;
  if (stored.ok) o.body = BodyOutcome::stored;
  else if (stored.content_violation) o.body = BodyOutcome::content_violation;
  else if (stored.write_failed) o.body = BodyOutcome::write_failed;
  else o.body = BodyOutcome::bad_response;
  o.body_error_kind = stored.error_kind;
  o.body_error_message = stored.error_message;
  o.body_retryable = stored.retryable;
  return o;
}

ManifestOptions manifest_options_from(const Config& c) {
  ManifestOptions mo;
  mo.defaults_json = c.defaults_json;
  mo.allow_unknown_fields = c.allow_unknown_fields;
  return mo;
}

std::int64_t epoch_ms_now() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace venice_batch
