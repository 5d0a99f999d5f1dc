// The JSONL manifest: one generate job per line, read as a stream (a
// 1,000,000-line manifest is never held whole). Each line becomes either a
// JobSpec ready to send or an InvalidLine with its reason; a bad line never
// stops the run and nothing is sent for it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <variant>

#include "venice_batch/image_format.hpp"

namespace venice_batch {

struct ManifestOptions {
  /// A JSON object whose fields fill the fields a line leaves out (config `defaults`).
  std::string defaults_json = "{}";
  /// Pass fields the project does not know through unchanged instead of refusing the line.
  bool allow_unknown_fields = false;
};

/// A valid job: the request body to send and what the client needs to check the answer.
struct JobSpec {
  std::string id;                  ///< the line's `id`, or the zero-padded line number
  std::uint64_t line = 0;          ///< 1-based manifest line number
  std::string body;                ///< request JSON (defaults merged, `id` removed, keys sorted)
  std::string request_hash;        ///< hex SHA-256 of `body`: detects a changed line on resume
  ImageFormat format = ImageFormat::webp;  ///< requested format (default webp)
  int variants = 1;                ///< images expected in the response
  bool return_binary = false;
  std::string model;
  std::string prompt;
};

/// A line that cannot be sent, with a reason a user can act on.
struct InvalidLine {
  std::uint64_t line = 0;
  std::string id;      ///< the id if one could be read, else the derived one
  std::string reason;
};

using ManifestEntry = std::variant<JobSpec, InvalidLine>;

/// True if `id` can name files: [A-Za-z0-9][A-Za-z0-9._-]{0,127}.
bool is_valid_job_id(std::string_view id);

/// The id of a line without one: its 1-based number zero-padded to 8 digits ("00000042").
std::string derived_job_id(std::uint64_t line);

/// Parses one manifest line (no duplicate-id check: that needs the stream). `line` must not
/// contain the trailing newline. Never throws on bad input.
ManifestEntry parse_manifest_line(std::string_view line, std::uint64_t line_no, const ManifestOptions& options);

/// Streams entries from a manifest file; skips blank lines, tolerates a UTF-8 BOM on line 1,
/// and turns a repeated id into an InvalidLine for the later line.
class ManifestReader {
 public:
  /// Throws std::runtime_error if the file cannot be opened or `defaults_json` is not an object
  /// (or sets `id`: each job needs its own).
  ManifestReader(const std::filesystem::path& path, ManifestOptions options);
  ~ManifestReader();
  ManifestReader(const ManifestReader&) = delete;
  ManifestReader& operator=(const ManifestReader&) = delete;

  /// The next entry, or nullopt at the end of the file. Throws std::runtime_error on a read error.
  std::optional<ManifestEntry> next();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Number of non-blank lines, counted fast without parsing (for progress totals).
std::uint64_t count_manifest_jobs(const std::filesystem::path& path);

}  // namespace venice_batch
