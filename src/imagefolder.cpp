#include "venice_batch/imagefolder.hpp"

#include <cmath>
#include <vector>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <simdjson.h>

#include "venice_batch/id_map.hpp"
#include "venice_batch/sink.hpp"
#include "venice_batch/text.hpp"

namespace venice_batch {

std::string imagefolder_line(std::string_view file_name, std::string_view id, unsigned variant,
                             const ImageMetadata& meta) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  auto text = [&w](const char* key, std::string_view value, bool null_if_empty) {
    w.Key(key);
    if (null_if_empty && value.empty()) return (void)w.Null();
    const std::string clean = sanitize_utf8(value);
    w.String(clean.data(), static_cast<rapidjson::SizeType>(clean.size()));
  };
  auto integer = [&w](const char* key, const std::optional<std::int64_t>& value) {
    w.Key(key);
    if (value) w.Int64(*value);
    else w.Null();
  };
  w.StartObject();
  text("file_name", file_name, false);
  text("id", id, false);
  w.Key("variant");
  w.Uint(variant);
  text("prompt", meta.prompt, false);
  text("negative_prompt", meta.negative_prompt, true);
  text("model", meta.model, true);
  integer("seed", meta.seed);
  integer("width", meta.width);
  integer("height", meta.height);
  integer("steps", meta.steps);
  w.Key("cfg_scale");
  if (meta.cfg_scale && std::isfinite(*meta.cfg_scale)) w.Double(*meta.cfg_scale);
  else w.Null();
  text("style_preset", meta.style_preset, true);
  text("server_id", meta.server_id, true);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize()) + "\n";
}

boost::system::result<ImagefolderCompaction> compact_imagefolder_metadata(
    const std::filesystem::path& path, const std::function<bool(std::string_view id, std::string_view file_name)>& keep,
    bool durable) {
  ImagefolderCompaction result;
  std::string text;
  if (int err = read_whole_file(path, text); err != 0) {
    if (err == ENOENT) return result;
    return boost::system::error_code(err, boost::system::generic_category());
  }
  // Lines in file order; a later line of a file_name replaces the earlier one.
  std::vector<std::string_view> lines;
  IdMap<std::size_t> index_of;  // file_name -> index in `lines`
  simdjson::dom::parser parser;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    const bool terminated = end != std::string::npos;
    if (!terminated) end = text.size();
    const std::string_view line(text.data() + start, end - start);
    start = end + 1;
    simdjson::dom::element root;
    std::string_view file_name, id;
    if (!terminated || parser.parse(line.data(), line.size()).get(root) || root["file_name"].get(file_name) ||
        root["id"].get(id) || !keep(id, file_name)) {
      ++result.dropped;
      continue;
    }
    if (auto it = index_of.find(file_name); it != index_of.end()) {
      lines[it->second] = {};  // superseded by this later line
      ++result.dropped;
      lines.push_back(line);
      it->second = lines.size() - 1;
      continue;
    }
    lines.push_back(line);
    index_of.emplace(std::string(file_name), lines.size() - 1);
  }
  std::uint64_t kept = 0;
  std::string out;
  out.reserve(text.size());
  for (auto line : lines) {
    if (line.empty()) continue;
    out.append(line).push_back('\n');
    ++kept;
  }
  result.kept = kept;
  if (result.dropped == 0) return result;
  if (auto w = write_file_atomically(path, out, durable); !w) return w.error();
  return result;
}

}  // namespace venice_batch
