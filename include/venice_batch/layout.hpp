// How an out dir holds its images (`--layout`, issue 11), fixed for the out dir by its first
// run: layout.json records the layout and its settings, and a later run that asks for others
// is refused (exit 2, both named), since a second layout would scatter one dataset over two.
//   files        images/<fan-out>/<id>_<k>.<ext>: the fan-out folder is a hash of the id, so no
//                folder holds more than ~10,000 images up to tens of millions, and a growing
//                manifest keeps every file where it was. Out dirs from before the fan-out keep
//                their flat images/ (fan-out 0, recorded as such).
//   webdataset   shards/NNNNN.tar of samples <key>.<ext|txt|json> (webdataset.hpp); images are
//                staged in staging/ until their shard is complete.
//   imagefolder  the files layout plus metadata.jsonl (Hugging Face ImageFolder): one line per
//                kept image, `file_name` relative to the out dir.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace venice_batch {

enum class LayoutKind { files, webdataset, imagefolder };

std::optional<LayoutKind> parse_layout_kind(std::string_view name);
std::string_view layout_kind_name(LayoutKind kind);

struct LayoutSettings {
  LayoutKind kind = LayoutKind::files;
  /// files and imagefolder: hex digits of the id's hash naming the image's folder (3: 4,096
  /// folders); 0: every image directly in images/ (out dirs made before the fan-out).
  unsigned fanout_digits = 3;
  std::uint64_t shard_samples = 10000;  ///< webdataset: samples per shard
  std::uint64_t shard_bytes = 0;        ///< webdataset: byte cap per shard, 0 = none
  bool operator==(const LayoutSettings&) const = default;
};

/// The folder in the out dir where blurred images are kept apart: flagged/, or .flagged/ with
/// imagefolder (a loader of the out dir must not take it for a class).
std::string_view flagged_folder(LayoutKind kind);
/// A journal file path (relative to the out dir) in either flagged folder: not the dataset's.
bool is_flagged_path(std::string_view path);

/// "layout webdataset (shard_size 10000, shard_max_mb 0)": how messages name a layout.
std::string describe_layout(const LayoutSettings& settings);

/// layout.json's text, and back (nullopt for text that is not a layout this version knows).
std::string layout_json(const LayoutSettings& settings);
std::optional<LayoutSettings> parse_layout_json(std::string_view text);

/// The out dir's layout for this run. The first run records `wanted` in layout.json; an out dir
/// that already has a journal but no layout.json was made before layouts and is `files` with a
/// flat images/ (recorded now). A later run must want the same kind and shard settings: if not,
/// throws ConfigError naming both (exit 2). The fan-out is never the user's to change: it is
/// whatever the out dir has.
LayoutSettings settle_layout(const std::filesystem::path& out_dir, const LayoutSettings& wanted, bool durable);

/// The folder (relative to images/) of job `id`'s images: the first `digits` hex digits of the
/// SHA-256 of the id; "" for digits 0. Fixed forever: changing it would move every file.
std::string fanout_folder(std::string_view id, unsigned digits);

/// The webdataset key stem of job `id`: webdataset_key(id, k) without its "_<k>" (the id with
/// each '.' written "%2E": WebDataset splits a member's name at its first dot).
std::string webdataset_key_stem(std::string_view id);
/// The id of a sample key "<stem>_<k>" (the inverse of webdataset_key_stem); "" if it is not one.
std::string webdataset_id_of(std::string_view key);

}  // namespace venice_batch
