// The OpenAI Batch dialect, results side: batch_output.jsonl and batch_errors.jsonl from the
// journal's deciding line per job, streamed (a million jobs are never held).
#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

#include "venice_batch/journal.hpp"
#include "venice_batch/openai_batch.hpp"
#include "venice_batch/sha256.hpp"
#include "venice_batch/sink.hpp"
#include "venice_batch/webdataset.hpp"

namespace venice_batch {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void text(Writer& w, const char* key, std::string_view value) {
  w.Key(key);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

// Takes the lookup's result (not an element: converting a missing field to one would throw).
std::string_view string_or(simdjson::simdjson_result<simdjson::dom::element> e, std::string_view fallback = {}) {
  std::string_view s;
  return e.get_string().get(s) ? fallback : s;
}

// One job's line for batch_output.jsonl (ok) or batch_errors.jsonl (anything else).
// The journal wrote the record, so it is valid JSON and UTF-8; what a field lacks is left out.
bool batch_line(simdjson::dom::element r, const ShardPaths& where, std::string& out) {
  const std::string_view id = string_or(r["id"]), status = string_or(r["status"]);
  const bool ok = status == "ok";
  std::int64_t http = 0;
  if (r["http_status"].get_int64().get(http)) http = 0;
  // A failed job is never "200": a content violation is the API's refusal (400, as OpenAI's
  // content_policy_violation), a 200 whose images were bad or could not be kept is a 500.
  std::int64_t status_code = ok ? 200 : status == "invalid" || status == "content_violation" ? 400 : http;
  if (!ok && status_code == 200) status_code = 500;
  // Unique per line: two custom_ids may send the same request.
  thread_local Sha256Hasher hasher;
  const std::string line_id = hasher.hex(fmt::format("{}\n{}", id, string_or(r["request_hash"])));
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  text(w, "id", fmt::format("batch_req_{}", std::string_view(line_id).substr(0, 16)));
  text(w, "custom_id", id);
  w.Key("response");
  w.StartObject();
  w.Key("status_code");
  w.Int64(status_code);
  text(w, "request_id", string_or(r["server_id"]));
  w.Key("body");
  w.StartObject();
  if (ok) {
    w.Key("data");
    w.StartArray();
    simdjson::dom::array files;
    if (!r["files"].get_array().get(files)) {
      for (auto f : files) {
        w.StartObject();
        text(w, "path", where(string_or(f["path"])));  // a packed webdataset image: in its shard
        for (const char* k : {"width", "height"}) {
          std::uint64_t n = 0;
          if (!f[k].get_uint64().get(n)) {
            w.Key(k);
            w.Uint64(n);
          }
        }
        text(w, "format", string_or(f["format"]));
        w.EndObject();
      }
    }
    w.EndArray();
  } else {
    const std::string_view kind = string_or(r["error"]["kind"], status), message = string_or(r["error"]["message"]);
    w.Key("error");
    w.StartObject();
    text(w, "message", message);
    text(w, "type", status);
    text(w, "code", kind);
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  w.Key("error");
  if (ok) {
    w.Null();
  } else {  // every failure says why at the line's level too, answered or not
    w.StartObject();
    text(w, "code", string_or(r["error"]["kind"], status));
    text(w, "message", string_or(r["error"]["message"]));
    w.EndObject();
  }
  w.EndObject();
  out.assign(buf.GetString(), buf.GetSize());
  out.push_back('\n');
  return ok;
}

}  // namespace

boost::system::result<BatchResultCounts, std::string> write_openai_batch_results(const std::filesystem::path& out_dir) {
  using Result = boost::system::result<BatchResultCounts, std::string>;
  auto fail = [](std::string what, const boost::system::error_code& ec) {
    return Result(boost::system::in_place_error, fmt::format("{}: {}", what, ec.message()));
  };
  auto output = ReplacementFile::create(out_dir, "batch_output.jsonl");
  if (!output) return fail("cannot create batch_output.jsonl", output.error());
  auto errors = ReplacementFile::create(out_dir, "batch_errors.jsonl");
  if (!errors) return fail("cannot create batch_errors.jsonl", errors.error());
  BatchResultCounts counts;
  std::string out_buf, err_buf, line;
  boost::system::error_code write_error;
  auto flush = [&](ReplacementFile& f, std::string& b) {
    if (!write_error)
      if (auto r = f.write(b); !r) write_error = r.error();
    b.clear();
  };
  simdjson::dom::parser parser;
  try {
    // webdataset: the staged paths records name, first, so each packed one can point at its shard.
    std::vector<std::string> staged;
    std::error_code ec;
    if (std::filesystem::exists(out_dir / "shards", ec))
      for_each_deciding_line(out_dir / "results.jsonl", [&](std::string_view text) {
        simdjson::dom::array files;
        if (parser.parse(text.data(), text.size(), true)["files"].get_array().get(files)) return;
        for (auto f : files)
          if (const auto path = string_or(f["path"]); ShardPaths::is_staged(path)) staged.emplace_back(path);
      });
    const ShardPaths where(out_dir, staged);
    staged = {};
    for_each_deciding_line(out_dir / "results.jsonl", [&](std::string_view text) {
      simdjson::dom::element r;
      if (parser.parse(text.data(), text.size(), true).get(r)) return;  // read once already: not expected
      if (batch_line(r, where, line)) {
        ++counts.output_lines;
        out_buf += line;
        if (out_buf.size() >= (std::size_t{1} << 20)) flush(*output, out_buf);
      } else {
        ++counts.error_lines;
        err_buf += line;
        if (err_buf.size() >= (std::size_t{1} << 20)) flush(*errors, err_buf);
      }
    });
  } catch (const std::runtime_error& e) {
    return Result(boost::system::in_place_error, e.what());
  }
  flush(*output, out_buf);
  flush(*errors, err_buf);
  if (write_error) return fail("cannot write the batch results", write_error);
  if (auto c = output->commit(false); !c) return fail("cannot write batch_output.jsonl", c.error());
  if (auto c = errors->commit(false); !c) return fail("cannot write batch_errors.jsonl", c.error());
  return counts;
}

}  // namespace venice_batch
