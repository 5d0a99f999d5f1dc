#include "venice_batch/regenerate.hpp"

#include <algorithm>
#include <cmath>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace venice_batch {

std::string_view to_string(ImageFlag flag) {
  switch (flag) {
    case ImageFlag::none: return "";
    case ImageFlag::blurred: return "blurred";
    case ImageFlag::content_violation: return "content_violation";
  }
  return "";
}

RegenerationDecision decide_regeneration(ImageFlag flag, unsigned done, unsigned max, const RandomSource& random) {
  if (flag == ImageFlag::none || done >= max) return {};
  return {true, random_seed(random)};
}

std::int64_t random_seed(const RandomSource& random) {
  constexpr std::int64_t kMaxSeed = 999'999'999;
  const double u = std::clamp(random(), 0.0, 0.999999999999);
  return 1 + static_cast<std::int64_t>(std::floor(u * static_cast<double>(kMaxSeed)));
}

unsigned resume_regeneration(const JournalState* previous, std::uint64_t request_hash64) {
  if (!previous || previous->regenerating == 0) return 0;
  if (previous->status != JobStatus::failed || !previous->retryable) return 0;
  if (previous->request_hash64 == 0 || previous->request_hash64 != request_hash64) return 0;
  return previous->regenerating;
}

std::string request_with_seed(std::string_view body, std::int64_t seed) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) return std::string(body);
  if (auto it = doc.FindMember("seed"); it != doc.MemberEnd()) it->value.SetInt64(seed);
  else doc.AddMember("seed", rapidjson::Value(static_cast<std::int64_t>(seed)), doc.GetAllocator());
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  doc.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace venice_batch
