// From one HTTP exchange to what the run and bench need: the phases recorded in
// the metrics, the 200's body decoded and stored off the io thread, and the
// attempt's outcome for the attempt policy. One path, shared by `run` and `bench`.
#pragma once

#include <cstdint>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "venice_batch/attempt_policy.hpp"
#include "venice_batch/http_pool.hpp"
#include "venice_batch/manifest.hpp"
#include "venice_batch/metrics.hpp"
#include "venice_batch/response.hpp"
#include "venice_batch/sink.hpp"

namespace venice_batch {

/// Records the client phases of `ex` (connect and TLS only for a new connection).
void record_exchange(RunMetrics& metrics, const HttpExchange& ex);

/// Decodes a 200's body and writes its images through `sink` (nullptr: check only) on
/// `cpu` (a thread pool), one decoder per thread. Returns an empty StoredResponse for
/// anything but a 200.
boost::asio::awaitable<StoredResponse> store_response(boost::asio::any_io_executor cpu, const HttpExchange& ex,
                                                      ExpectedImages expected, std::string file_prefix,
                                                      const OutputSink* sink, const SidecarSource* sidecars = nullptr);
/// The same with a whole StoreTarget, which must outlive the call (it lives in the caller's frame).
boost::asio::awaitable<StoredResponse> store_response(boost::asio::any_io_executor cpu, const HttpExchange& ex,
                                                      ExpectedImages expected, const StoreTarget* target);

/// What the attempt policy needs of one attempt. `api` is the parsed error body (non-2xx).
AttemptOutcome attempt_outcome(const HttpExchange& ex, const StoredResponse& stored, const ApiError& api,
                               std::int64_t now_epoch_ms);

/// The manifest reader's options from the run's config (defaults, unknown fields).
ManifestOptions manifest_options_from(const Config& config);

/// Milliseconds since the Unix epoch (for reset headers given as timestamps).
std::int64_t epoch_ms_now();

}  // namespace venice_batch
