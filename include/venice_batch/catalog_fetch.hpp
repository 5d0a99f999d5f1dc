// Fetching the model catalog: the four GETs catalog.hpp parses, each with the pool's deadlines and
// a few retries on what a retry can fix (no answer, 5xx). A part that cannot be had is left empty
// and named; what to do about a missing catalog is the caller's (run warns, plan refuses).
#pragma once

#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include "venice_batch/catalog.hpp"
#include "venice_batch/config.hpp"
#include "venice_batch/http_pool.hpp"

namespace venice_batch {

struct CatalogFetch {
  CatalogSources sources;              ///< a body is empty when its GET did not answer 200
  std::vector<std::string> problems;   ///< "GET /image/styles: HTTP 404", one per part not had
  HttpExchange rate_limits;            ///< the /api_keys/rate_limits exchange: the run's start-up check
};

/// GETs /api_keys/rate_limits first (it checks the URL and the key); then, if `whole_catalog`,
/// /models?type=image, /models/compatibility_mapping and /image/styles. Never throws.
boost::asio::awaitable<CatalogFetch> fetch_catalog(HttpClientPool& pool, std::string authorization, bool whole_catalog);

/// The whole catalog, blocking (for `plan`): its own io_context and pool from `config`. Fails
/// with a message when /models could not be had (without it there are no prices).
boost::system::result<CatalogSources, std::string> fetch_catalog_sources(const Config& config,
                                                                         const std::string& api_key);

}  // namespace venice_batch
