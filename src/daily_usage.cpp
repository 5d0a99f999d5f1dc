// daily_usage.json: read with simdjson (tolerant: unreadable means no counts), written with RapidJSON.
#include "venice_batch/daily_usage.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

#include "venice_batch/text.hpp"

namespace venice_batch {

std::string utc_day(std::chrono::system_clock::time_point t) {
  const auto days = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd{days};
  return fmt::format("{:04}-{:02}-{:02}", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                     static_cast<unsigned>(ymd.day()));
}

std::chrono::system_clock::time_point next_utc_day(std::chrono::system_clock::time_point t) {
  return std::chrono::floor<std::chrono::days>(t) + std::chrono::days(1);
}

DailyUsage parse_daily_usage(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size(), true).get(root)) return {};
  std::string_view day;
  simdjson::dom::object requests;
  if (root["day"].get(day) || root["requests"].get(requests)) return {};
  DailyUsage usage;
  usage.day = std::string(day);
  for (auto field : requests) {
    std::uint64_t n = 0;
    if (field.value.get(n)) return {};  // negative, fractional or not a number: the file is not ours
    usage.requests[std::string(field.key)] = n;
  }
  return usage;
}

std::string to_json(const DailyUsage& usage) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  auto text = [&w](std::string_view s) {
    const std::string clean = sanitize_utf8(s);
    w.String(clean.data(), static_cast<rapidjson::SizeType>(clean.size()));
  };
  w.StartObject();
  w.Key("day");
  text(usage.day);
  w.Key("requests");
  w.StartObject();
  for (const auto& [model, n] : usage.requests) {
    text(model);
    w.Uint64(n);
  }
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

std::map<std::string, std::uint64_t, std::less<>> counts_for_day(const DailyUsage& usage, std::string_view today) {
  if (usage.day != today) return {};
  return usage.requests;
}

}  // namespace venice_batch
