// The imagefolder layout's metadata.jsonl (Hugging Face ImageFolder): one line per kept image,
// `file_name` relative to the out dir, then the job's id, variant, and the request's prompt and
// parameters, so `load_dataset("imagefolder", data_dir=OUT)` loads images and columns as they are.
// Exactly once: an image's line is appended before its job's journal line, so a kill between the
// two leaves a line for a job not recorded ok; compaction at the next start drops every line of
// a job the journal does not record ok and keeps one line (the last) per file_name.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include <boost/system/result.hpp>

#include "venice_batch/embed_metadata.hpp"

namespace venice_batch {

/// One line of metadata.jsonl, with its newline. Every line has the same columns (null where the
/// request had none): a loader infers one schema.
std::string imagefolder_line(std::string_view file_name, std::string_view id, unsigned variant,
                             const ImageMetadata& meta);

struct ImagefolderCompaction {
  std::uint64_t kept = 0, dropped = 0;
};

/// Rewrites `path` (atomically, only if a line goes) keeping the last line of each file_name that
/// `keep(id, file_name)` accepts; unreadable lines (a torn last line) go too. A missing file is empty.
boost::system::result<ImagefolderCompaction> compact_imagefolder_metadata(
    const std::filesystem::path& path, const std::function<bool(std::string_view id, std::string_view file_name)>& keep,
    bool durable);

}  // namespace venice_batch
