// The output directory: images/<id>_<k>.<ext>, written so that no partial file
// ever carries a final name (temp name in the same directory, fsync, rename,
// fsync the directory). Safe to call from several threads for different files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include "venice_batch/image_format.hpp"
#include "venice_batch/response.hpp"

namespace venice_batch {

/// An image file written for a job.
struct FileRecord {
  std::string path;  ///< relative to the out dir, e.g. "images/cat_0.webp"
  std::uint64_t bytes = 0;
  ImageFormat format = ImageFormat::webp;
};

/// "<id>_<k>.<ext>": the final file name of variant k (0-based) of job `id`.
std::string image_file_name(std::string_view id, unsigned k, ImageFormat format);

/// True for the names this sink uses while a file is being written (".<name>.tmp-<pid>-<n>").
bool is_temp_file_name(std::string_view name);

class OutputSink {
 public:
  /// Creates `out_dir` and `out_dir/images` if missing. Throws std::runtime_error naming the
  /// directory if they cannot be created or written to (a usage error for the CLI).
  OutputSink(std::filesystem::path out_dir, bool durable);

  const std::filesystem::path& out_dir() const { return out_dir_; }
  const std::filesystem::path& images_dir() const { return images_dir_; }

  /// Writes `bytes` to images/<name> atomically. Returns the error (ENOSPC, EACCES...) on failure,
  /// in which case no file with the final name was created or changed.
  boost::system::result<void> write_image(const std::string& name, std::span<const std::uint8_t> bytes) const;

  /// Removes leftover temp files of a crashed run; returns how many were removed.
  std::size_t remove_stale_temp_files() const;

 private:
  std::filesystem::path out_dir_;
  std::filesystem::path images_dir_;
  bool durable_;
};

/// What became of one 200 response: decoded, checked, and its images written.
struct StoredResponse {
  bool ok = false;
  bool content_violation = false;  ///< the API's placeholder: nothing written
  bool write_failed = false;       ///< the disk failed, not the response: stop the run
  bool retryable = false;
  std::string error_kind, error_message;
  std::vector<FileRecord> files;
  std::string server_id;
  std::optional<ServerTiming> server_timing;
  std::uint64_t images = 0, image_bytes = 0;
  std::int64_t decode_us = 0, write_us = 0;
};

/// Decodes `response` with `decoder` and writes its images as images/<file_prefix>_<k>.<ext>
/// through `sink` (nullptr: decode and check only, write nothing). CPU and disk work: run it
/// off the io thread, one decoder per thread.
StoredResponse decode_and_store(ResponseDecoder& decoder, const HttpResponse& response, const ExpectedImages& expected,
                                std::string_view file_prefix, const OutputSink* sink);

/// Writes `text` to `path` atomically (temp + rename; fsync when `durable`). For snapshots
/// such as metrics.json and report.html.
boost::system::result<void> write_file_atomically(const std::filesystem::path& path, std::string_view text,
                                                  bool durable);

/// Appends `line` to `path` with one write(2) (creating the file). Errors are ignored: for
/// side outputs such as timeline.jsonl that must never stop a run.
void append_text_line(const std::filesystem::path& path, std::string_view line);

}  // namespace venice_batch
