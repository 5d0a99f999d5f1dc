// Requests per model counted against the API's daily caps (RPD), kept across runs of one out dir.
// The API counts a key's requests per model per day; a run that starts its count at zero would
// send a second run's jobs into 429s the same day. The run keeps the day's counts in
// <out>/daily_usage.json (written with each metrics snapshot and at the end) and seeds Admission
// from it when the day is the same. The day is the UTC calendar day: VENICE_API.md does not say
// when the API's day turns, so a cap may still be met earlier, and then its 429s hold the model.
// Requests of other out dirs or other tools on the same key are not seen. No I/O here.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace venice_batch {

struct DailyUsage {
  std::string day;  ///< "YYYY-MM-DD", UTC
  std::map<std::string, std::uint64_t, std::less<>> requests;  ///< per model, one per image
};

/// The UTC calendar day of `t` as "YYYY-MM-DD".
std::string utc_day(std::chrono::system_clock::time_point t);

/// When the UTC day after `t`'s begins: the daily counts start again there.
std::chrono::system_clock::time_point next_utc_day(std::chrono::system_clock::time_point t);

/// The counts of a daily_usage.json. Anything unreadable (a torn or foreign file, a negative or
/// fractional count, a model id that is not a string) gives empty usage: a count can only be
/// missed, never invented, and the API's own 429s still hold the model.
DailyUsage parse_daily_usage(std::string_view json);

/// `usage` as one JSON object (RapidJSON), for <out>/daily_usage.json.
std::string to_json(const DailyUsage& usage);

/// The counts that still apply on `today`: usage.requests when usage.day == today, else none.
std::map<std::string, std::uint64_t, std::less<>> counts_for_day(const DailyUsage& usage, std::string_view today);

}  // namespace venice_batch
