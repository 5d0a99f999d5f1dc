// layout.json: written once with RapidJSON, read with simdjson (strict: a file we cannot read
// is a refusal, not a silent switch to another layout).
#include "venice_batch/layout.hpp"

#include <system_error>

#include <fmt/format.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

#include "venice_batch/config.hpp"
#include "venice_batch/sha256.hpp"
#include "venice_batch/sink.hpp"
#include "venice_batch/webdataset.hpp"

namespace venice_batch {

std::optional<LayoutKind> parse_layout_kind(std::string_view name) {
  if (name == "files") return LayoutKind::files;
  if (name == "webdataset") return LayoutKind::webdataset;
  if (name == "imagefolder") return LayoutKind::imagefolder;
  return std::nullopt;
}

std::string_view layout_kind_name(LayoutKind kind) {
  switch (kind) {
    case LayoutKind::files: return "files";
    case LayoutKind::webdataset: return "webdataset";
    case LayoutKind::imagefolder: return "imagefolder";
  }
  return "files";
}

std::string_view flagged_folder(LayoutKind kind) { return kind == LayoutKind::imagefolder ? ".flagged" : "flagged"; }

bool is_flagged_path(std::string_view path) {
  for (auto kind : {LayoutKind::files, LayoutKind::imagefolder}) {
    const auto folder = flagged_folder(kind);
    if (path.size() > folder.size() && path.starts_with(folder) && path[folder.size()] == '/') return true;
  }
  return false;
}

std::string describe_layout(const LayoutSettings& s) {
  if (s.kind == LayoutKind::webdataset)
    return fmt::format("layout webdataset (shard_size {}, shard_max_mb {})", s.shard_samples, s.shard_bytes >> 20);
  if (s.fanout_digits == 0) return fmt::format("layout {} (flat images/)", layout_kind_name(s.kind));
  return fmt::format("layout {}", layout_kind_name(s.kind));
}

std::string layout_json(const LayoutSettings& s) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  const auto kind = layout_kind_name(s.kind);
  w.StartObject();
  w.Key("layout");
  w.String(kind.data(), static_cast<rapidjson::SizeType>(kind.size()));
  w.Key("fanout_digits");
  w.Uint(s.fanout_digits);
  if (s.kind == LayoutKind::webdataset) {
    w.Key("shard_size");
    w.Uint64(s.shard_samples);
    w.Key("shard_max_bytes");
    w.Uint64(s.shard_bytes);
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

std::optional<LayoutSettings> parse_layout_json(std::string_view text) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(text.data(), text.size(), true).get(root)) return std::nullopt;
  std::string_view kind_name;
  std::uint64_t digits = 0;
  if (root["layout"].get(kind_name) || root["fanout_digits"].get(digits) || digits > 8) return std::nullopt;
  auto kind = parse_layout_kind(kind_name);
  if (!kind) return std::nullopt;
  LayoutSettings s;
  s.kind = *kind;
  s.fanout_digits = static_cast<unsigned>(digits);
  if (s.kind == LayoutKind::webdataset) {
    if (root["shard_size"].get(s.shard_samples) || root["shard_max_bytes"].get(s.shard_bytes) || s.shard_samples == 0)
      return std::nullopt;
  }
  return s;
}

namespace {

// What only a run with layouts leaves in an out dir (shards, staging, metadata.jsonl, a fan-out
// folder in images/), named for a message; nullopt when there is none of it.
std::optional<std::string> sign_of_a_layout(const std::filesystem::path& out_dir) {
  std::error_code ec;
  for (const char* made : {"shards", "staging", "metadata.jsonl"})
    if (std::filesystem::exists(std::filesystem::symlink_status(out_dir / made, ec))) return std::string(made);
  std::filesystem::directory_iterator it(out_dir / "images", ec), end;
  for (; !ec && it != end; it.increment(ec))
    if (it->is_directory(ec)) return fmt::format("the folder images/{}/", it->path().filename().string());
  return std::nullopt;
}

}  // namespace

LayoutSettings settle_layout(const std::filesystem::path& out_dir, const LayoutSettings& wanted, bool durable) {
  const auto path = out_dir / "layout.json";
  std::string text;
  const int err = read_whole_file(path, text);
  if (err == 0) {
    auto recorded = parse_layout_json(text);
    if (!recorded)
      throw ConfigError(fmt::format("{} is not a layout this version knows; it was not changed", path.string()));
    LayoutSettings asked = wanted;
    asked.fanout_digits = recorded->fanout_digits;  // the out dir's, never the user's
    if (asked.kind != LayoutKind::webdataset) asked.shard_samples = recorded->shard_samples, asked.shard_bytes = recorded->shard_bytes;
    if (!(asked == *recorded))
      throw ConfigError(fmt::format("{} holds {} (recorded in {}); this run asks for {}. Use another --out, or the "
                                    "recorded layout",
                                    out_dir.string(), describe_layout(*recorded), path.string(), describe_layout(asked)));
    return *recorded;
  }
  if (err != ENOENT)
    throw ConfigError(fmt::format("cannot read {}: {}", path.string(), std::generic_category().message(err)));
  LayoutSettings chosen = wanted;
  if (chosen.kind == LayoutKind::webdataset) chosen.fanout_digits = 0;  // staging/ is emptied shard by shard
  std::error_code ec;
  if (std::filesystem::exists(out_dir / "results.jsonl", ec)) {
    // A journal without layout.json: made before layouts, or layout.json was lost. Only the
    // first keeps its images flat in images/; guessing wrong for the second would mix layouts.
    if (auto sign = sign_of_a_layout(out_dir))
      throw ConfigError(fmt::format("{} has a journal and {}, but no layout.json: a run with layouts made it, and "
                                    "which layout cannot be told for sure. Restore its layout.json, or use another "
                                    "--out; nothing was changed",
                                    out_dir.string(), *sign));
    // Made before layouts: its images are flat in images/, and they stay where they are.
    if (wanted.kind != LayoutKind::files)
      throw ConfigError(fmt::format("{} holds a run made before layouts (flat images/, no layout.json); this run asks "
                                    "for {}. Use another --out",
                                    out_dir.string(), describe_layout(wanted)));
    chosen.fanout_digits = 0;
  }
  if (auto w = write_file_atomically(path, layout_json(chosen), durable); !w)
    throw ConfigError(fmt::format("cannot write {}: {}", path.string(), w.error().message()));
  return chosen;
}

std::string fanout_folder(std::string_view id, unsigned digits) {
  if (digits == 0) return {};
  thread_local Sha256Hasher hasher;  // file work runs on several threads; one context each
  return hasher.hex(id).substr(0, digits);
}

std::string webdataset_key_stem(std::string_view id) {
  std::string key = webdataset_key(id, 0);  // one mapping: the shard writer's
  key.resize(key.size() - 2);             // without "_0"
  return key;
}

std::string webdataset_id_of(std::string_view key) {
  const auto underscore = key.rfind('_');
  if (underscore == std::string_view::npos || underscore + 1 == key.size()) return {};
  std::string id;
  const std::string_view stem = key.substr(0, underscore);
  for (std::size_t i = 0; i < stem.size(); ++i) {
    auto hex = [](char c) { return (c >= '0' && c <= '9') ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1; };
    if (stem[i] == '%' && i + 2 < stem.size() + 0 && hex(stem[i + 1]) >= 0 && hex(stem[i + 2]) >= 0) {
      id += static_cast<char>(hex(stem[i + 1]) * 16 + hex(stem[i + 2]));
      i += 2;
    } else {
      id += stem[i];
    }
  }
  return id;
}

}  // namespace venice_batch
