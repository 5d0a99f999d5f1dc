// The catalog's GETs: one straight line per part, a short backoff between attempts.
#include "venice_batch/catalog_fetch.hpp"

#include <chrono>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "venice_batch/endpoint.hpp"
#include "venice_batch/exchange.hpp"

namespace venice_batch {
namespace net = boost::asio;
namespace {

// A part of the catalog is worth a few attempts, not a run's patience: 3 tries, 1 s then 2 s apart.
constexpr unsigned kAttempts = 3;
constexpr std::chrono::milliseconds kFirstBackoff{1000};

// Retried: no answer (the network), or a 5xx. A 4xx (404: the endpoint is not there; 429: the
// key is being paced) will answer the same again, and each retry would count against the key.
bool worth_retrying(const HttpExchange& ex) {
  if (ex.error == TransportError::cancelled) return false;
  if (!ex.response) return true;
  return ex.response->status >= 500;
}

std::string problem(std::string_view path, const HttpExchange& ex) {
  if (!ex.response) return fmt::format("GET {}: {}", path, ex.error_message);
  return fmt::format("GET {}: HTTP {}", path, ex.response->status);
}

net::awaitable<HttpExchange> get_with_retries(HttpClientPool& pool, std::string path, const std::string& authorization) {
  net::steady_timer timer(co_await net::this_coro::executor);
  auto backoff = kFirstBackoff;
  for (unsigned attempt = 1;; ++attempt) {
    HttpExchange ex = co_await pool.get(path, authorization);
    if (attempt == kAttempts || !worth_retrying(ex)) co_return ex;
    timer.expires_after(backoff);
    auto [ec] = co_await timer.async_wait(net::as_tuple(net::use_awaitable));
    if (ec) co_return ex;
    backoff *= 2;
  }
}

// The body when the GET answered 200, else empty with the reason added to `problems`.
std::string body_of(std::string_view path, const HttpExchange& ex, std::vector<std::string>& problems) {
  if (ex.response && ex.response->status == 200) return ex.response->body;
  problems.push_back(problem(path, ex));
  return {};
}

}  // namespace

net::awaitable<CatalogFetch> fetch_catalog(HttpClientPool& pool, std::string authorization, bool whole_catalog) {
  CatalogFetch out;
  out.sources.fetched_at_ms = epoch_ms_now();
  constexpr std::string_view kRateLimits = "/api_keys/rate_limits";
  out.rate_limits = co_await get_with_retries(pool, std::string(kRateLimits), authorization);
  out.sources.rate_limits = body_of(kRateLimits, out.rate_limits, out.problems);
  if (!whole_catalog) co_return out;
  // The key was refused or the host is wrong: the other parts would only say so again.
  const auto& first = out.rate_limits;
  if ((!first.response && !first.request_sent) || (first.response && (first.response->status == 401 || first.response->status == 403)))
    co_return out;
  for (auto [path, body] : {std::pair{"/models?type=image", &out.sources.models},
                            std::pair{"/models/compatibility_mapping", &out.sources.compatibility_mapping},
                            std::pair{"/image/styles", &out.sources.styles}}) {
    HttpExchange ex = co_await get_with_retries(pool, path, authorization);
    *body = body_of(path, ex, out.problems);
  }
  co_return out;
}

boost::system::result<CatalogSources, std::string> fetch_catalog_sources(const Config& config,
                                                                         const std::string& api_key) {
  auto endpoint = parse_base_url(config.base_url);
  using Fetched = boost::system::result<CatalogSources, std::string>;
  auto failure = [](std::string message) { return Fetched(boost::system::in_place_error, std::move(message)); };
  if (!endpoint) return failure(endpoint.error());
  net::io_context io;
  std::optional<CatalogFetch> fetched;
  try {
    HttpClientPool pool(io.get_executor(), *endpoint, pool_settings_from(config, "plan"));
    net::co_spawn(io, fetch_catalog(pool, "Bearer " + api_key, true), [&](std::exception_ptr e, CatalogFetch f) {
      if (!e) fetched = std::move(f);
    });
    io.run();
  } catch (const std::exception& e) {
    return failure(e.what());
  }
  if (!fetched) return failure("the catalog could not be fetched (internal error)");
  if (fetched->sources.models.empty())
    return failure(fmt::format("the model catalog could not be had ({})", fmt::join(fetched->problems, "; ")));
  return std::move(fetched->sources);
}

}  // namespace venice_batch
