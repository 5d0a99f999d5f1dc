// The OpenAI Batch dialect, input side: a batch line mapped to a Venice manifest line.
#include "venice_batch/openai_batch.hpp"

#include <charconv>
#include <cmath>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

namespace venice_batch {
namespace {

using Result = boost::system::result<std::string, std::string>;
using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

Result refuse(std::string why) { return Result(boost::system::in_place_error, std::move(why)); }

void raw(Writer& w, std::string_view key, simdjson::dom::element v) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  const std::string json = simdjson::minify(v);
  w.RawValue(json.data(), json.size(), rapidjson::kObjectType);  // the type only affects pretty printing
}

void text(Writer& w, std::string_view key, std::string_view value) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

// "1536x1024" -> {1536, 1024}
std::optional<std::pair<unsigned, unsigned>> parse_size(std::string_view s) {
  const auto x = s.find('x');
  if (x == std::string_view::npos) return std::nullopt;
  unsigned w = 0, h = 0;
  const auto a = std::from_chars(s.data(), s.data() + x, w);
  const auto b = std::from_chars(s.data() + x + 1, s.data() + s.size(), h);
  if (a.ec != std::errc{} || a.ptr != s.data() + x || b.ec != std::errc{} || b.ptr != s.data() + s.size() || !w || !h)
    return std::nullopt;
  return std::pair{w, h};
}

// The model's listed aspect ratio closest to w:h, within 3% (1792x1024 is 16:9 to a model that
// lists 16:9, not 7:4); empty if none is that close.
std::string closest_aspect_ratio(unsigned w, unsigned h, const std::vector<std::string>& listed) {
  const double want = static_cast<double>(w) / h;
  std::string best;
  double best_error = 0.03;
  for (const auto& r : listed) {
    const auto colon = r.find(':');
    if (colon == std::string::npos) continue;
    double a = 0, b = 0;
    if (std::from_chars(r.data(), r.data() + colon, a).ec != std::errc{} ||
        std::from_chars(r.data() + colon + 1, r.data() + r.size(), b).ec != std::errc{} || a <= 0 || b <= 0)
      continue;
    const double error = std::abs(a / b - want) / want;
    if (error <= best_error) best_error = error, best = r;
  }
  return best;
}

// The smallest listed resolution ("1K", "2K", "4K") covering the long side, else the largest.
std::string resolution_for(unsigned long_side, const std::vector<std::string>& listed) {
  std::string best, largest;
  unsigned best_px = 0, largest_px = 0;
  for (const auto& r : listed) {
    unsigned k = 0;
    if (r.size() < 2 || r.back() != 'K' || std::from_chars(r.data(), r.data() + r.size() - 1, k).ec != std::errc{}) continue;
    const unsigned px = k * 1024;
    if (px >= long_side && (best.empty() || px < best_px)) best = r, best_px = px;
    if (px > largest_px) largest = r, largest_px = px;
  }
  return best.empty() ? largest : best;
}

// An OpenAI images request as Venice request fields.
std::optional<std::string> map_openai_body(Writer& w, simdjson::dom::object body, const ModelSizesLookup& sizes,
                                           std::string_view default_model) {
  std::string_view model = default_model;
  if (simdjson::dom::element m; !body["model"].get(m)) {
    if (m.get_string().get(model)) return "body.model must be a string";
  }
  std::vector<std::string> unmapped;
  for (auto [k, v] : body) {
    std::string_view s;
    if (k == "model") {
      if (!model.empty()) text(w, "model", model);
    } else if (k == "prompt") {
      if (v.get_string().get(s)) return "body.prompt must be a string";
      text(w, "prompt", s);
    } else if (k == "n") {
      std::int64_t n = 0;
      if (v.get_int64().get(n) || n < 1 || n > 4) return "body.n must be 1 to 4 (Venice returns at most 4 images a request)";
      w.Key("variants");
      w.Int64(n);
    } else if (k == "output_format") {
      if (v.get_string().get(s) || (s != "png" && s != "jpeg" && s != "webp"))
        return "body.output_format must be png, jpeg or webp";
      text(w, "format", s);
    } else if (k == "response_format") {
      // Either way the image is saved under images/ and its path given in batch_output.jsonl.
      if (v.get_string().get(s) || (s != "b64_json" && s != "url")) return "body.response_format must be b64_json or url";
    } else if (k == "quality") {
      if (v.get_string().get(s)) return "body.quality must be a string";
      if (s == "low" || s == "medium" || s == "high") text(w, "quality", s);
      else if (s != "auto") return fmt::format("body.quality '{}' has no Venice equivalent (low, medium, high or auto)", s);
    } else if (k == "size") {
      if (v.get_string().get(s)) return "body.size must be a string such as \"1024x1024\"";
      if (s == "auto") continue;
      const auto wh = parse_size(s);
      if (!wh) return fmt::format("body.size '{}' is not WIDTHxHEIGHT", s);
      const auto known = sizes && !model.empty() ? sizes(model) : std::nullopt;
      if (known && known->aspect_ratio) {
        const std::string ratio = closest_aspect_ratio(wh->first, wh->second, known->aspect_ratios);
        if (ratio.empty())
          return fmt::format("body.size '{}' matches none of the aspect ratios model '{}' takes ({})", s, model,
                             fmt::join(known->aspect_ratios, ", "));
        text(w, "aspect_ratio", ratio);
        if (const std::string res = resolution_for(std::max(wh->first, wh->second), known->resolutions); !res.empty())
          text(w, "resolution", res);
      } else {
        w.Key("width");
        w.Uint(wh->first);
        w.Key("height");
        w.Uint(wh->second);
      }
    } else {
      unmapped.emplace_back(k);
    }
  }
  if (!unmapped.empty())
    return fmt::format("body field(s) {} of the OpenAI request cannot be mapped to Venice", fmt::join(unmapped, ", "));
  return std::nullopt;  // no model in the body: the config's defaults give it, as for any line
}

}  // namespace

bool is_openai_batch_line(simdjson::dom::object line) {
  return !line["custom_id"].error() || !line["body"].error();
}

Result map_openai_batch_line(simdjson::dom::object line, const ModelSizesLookup& sizes, std::string_view default_model) {
  std::string_view custom_id, method, url;
  simdjson::dom::object body;
  if (line["custom_id"].get_string().get(custom_id)) return refuse("custom_id is required and must be a string");
  if (!line["method"].error() && (line["method"].get_string().get(method) || method != "POST"))
    return refuse("method must be \"POST\"");
  if (line["url"].get_string().get(url)) return refuse("url is required and must be a string");
  if (line["body"].get_object().get(body)) return refuse("body is required and must be a JSON object");
  for (auto [k, v] : line)
    if (k != "custom_id" && k != "method" && k != "url" && k != "body" && k != "metadata")
      return refuse(fmt::format("field '{}' is not part of an OpenAI Batch line", k));
  const bool venice = url == "/api/v1/image/generate" || url == "/image/generate";
  if (!venice && url != "/v1/images/generations")
    return refuse(fmt::format("url '{}' is not an image generation route (/v1/images/generations, "
                              "/api/v1/image/generate or /image/generate)",
                              url));
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  text(w, "id", custom_id);
  if (simdjson::dom::element m; !line["metadata"].get(m)) raw(w, "metadata", m);
  if (venice) {
    for (auto [k, v] : body) {
      if (k == "id" || k == "metadata") return refuse(fmt::format("body.{} is not a request field", k));
      raw(w, k, v);
    }
  } else if (auto why = map_openai_body(w, body, sizes, default_model)) {
    return refuse(std::move(*why));
  }
  w.EndObject();
  return Result(boost::system::in_place_value, buf.GetString(), buf.GetSize());
}

}  // namespace venice_batch
