// The JSONL manifest: one generate job per line, read as a stream from a file
// or a pipe (a 1,000,000-line manifest is never held whole). Each line becomes
// either a JobSpec ready to send or an InvalidLine with its reason; a bad line
// never stops the run and nothing is sent for it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "venice_batch/image_format.hpp"

namespace simdjson::dom {
class element;
}
#include "venice_batch/openai_batch.hpp"

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
  std::string line_key;            ///< manifest_line_key of the line: lets a resume skip it unparsed
  ImageFormat format = ImageFormat::webp;  ///< requested format (default webp)
  int variants = 1;                ///< images expected in the response
  bool return_binary = false;
  std::string model;
  std::string prompt;
  std::optional<ImageSize> size;   ///< width x height when the request gives both
  std::optional<std::int64_t> seed;  ///< the request's seed, when it gives one
  /// The line's `metadata` object, minified; empty when it has none. Never sent to the API and
  /// not part of the request (nor of request_hash): it is passed through to results.jsonl and the
  /// report. A line whose metadata alone changed is not requested again.
  std::string metadata;
};

/// A line's `metadata` object is at most this long (minified): it is copied into its journal line.
inline constexpr std::size_t kMaxMetadataBytes = 16 * 1024;

/// A line that cannot be sent, with a reason a user can act on.
struct InvalidLine {
  std::uint64_t line = 0;
  std::string id;         ///< the id if one could be read, else the derived one
  std::string reason;
  std::string line_hash;  ///< manifest_line_hash of the line: tells a later run the line changed
};

using ManifestEntry = std::variant<JobSpec, InvalidLine>;

/// `value` as JSON with every object's keys sorted (nested ones too): equal requests give equal
/// bytes. Integers stay integers, doubles doubles. nullopt if an object repeats a key. The
/// manifest's canonical body and the sweep ids (expand) are both this.
std::optional<std::string> canonical_json(simdjson::dom::element value);

/// True if `id` can name files: [A-Za-z0-9][A-Za-z0-9._-]{0,127}.
bool is_valid_job_id(std::string_view id);

/// The id of a line without one: its 1-based number zero-padded to 8 digits ("00000042").
std::string derived_job_id(std::uint64_t line);

/// Hex SHA-256 (JobSpec::request_hash's format) of a line's text without its line ending. A line
/// too long to read (over 35 MiB) is not kept: it is hashed as "<N bytes>", its length.
std::string manifest_line_hash(std::string_view line);

/// 16 hex digits naming a line's text together with what else shapes its request (the options'
/// defaults and allow_unknown_fields): the same key means the same request, so a resume can skip a
/// finished line without parsing it. The first 64 bits of SHA-256(options, line).
std::string manifest_line_key(const ManifestOptions& options, std::string_view line);

class Sha256Hasher;

/// manifest_line_key for many lines with the same options, reusing its digest context.
class ManifestLineKeyer {
 public:
  explicit ManifestLineKeyer(const ManifestOptions& options);
  std::string key(std::string_view line) const;
  std::uint64_t key64(std::string_view line) const;  ///< the same key as a number

 private:
  std::shared_ptr<Sha256Hasher> digest_;  // primed with the options' fingerprint
};

/// Turns lines into entries (no duplicate-id check: that needs the stream), reusing its
/// parsers' memory from line to line.
class ManifestLineParser {
 public:
  /// Throws std::runtime_error if `defaults_json` is not a JSON object, sets `id` or sets a
  /// field twice.
  explicit ManifestLineParser(const ManifestOptions& options);
  ~ManifestLineParser();
  ManifestLineParser(const ManifestLineParser&) = delete;
  ManifestLineParser& operator=(const ManifestLineParser&) = delete;

  /// `line` without its line ending. Never throws on bad input.
  ManifestEntry parse(std::string_view line, std::uint64_t line_no);
  void set_max_prompt_chars(std::size_t chars);
  /// The catalog's size fields per model, for OpenAI Batch lines (`size` to width/height or
  /// aspect_ratio + resolution); unset, `size` maps to width/height.
  void set_model_sizes(ModelSizesLookup sizes);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Parses one manifest line with a parser made for it (bad defaults give an InvalidLine).
ManifestEntry parse_manifest_line(std::string_view line, std::uint64_t line_no, const ManifestOptions& options);

/// Streams entries from a manifest file or pipe; skips blank lines, tolerates a UTF-8 BOM on
/// line 1, and turns a repeated id into an InvalidLine for the later line.
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

  /// A job id the journal records, as a resume sees it.
  struct RecordedJob {
    /// The line key (hash_prefix64 of JobSpec::line_key) the job finished under; 0 when it is
    /// not finished (or must run again): its line is then read in full.
    std::uint64_t finished_key = 0;
    /// Where the reader keeps the first manifest line naming this id (0: none yet), for the
    /// duplicate check: it lives with the caller's per-id state, so a resume of a million jobs
    /// needs no second map of their ids. Must stay valid while the reader reads.
    std::uint64_t* first_line = nullptr;
  };
  /// For a resume: `recorded(id)` says what the journal records of job `id` (nullopt: nothing).
  /// A line whose id (its `id` field, else its derived id) is recorded finished with this line's
  /// own key is skipped without being parsed, validated or hashed as a request: a 1,000,000-job
  /// resume reads the manifest in a fraction of the time. Its id still counts for the duplicate
  /// check.
  using RecordedKey = std::function<std::optional<RecordedJob>(std::string_view id)>;
  void skip_finished(RecordedKey recorded);
  /// Lines skipped by skip_finished so far.
  std::uint64_t skipped() const;

  /// Raises (or lowers) the prompt cap for lines read from now on (SchemaOptions::max_prompt_chars):
  /// with a model catalog, each model's promptCharacterLimit is checked by preflight instead.
  void set_max_prompt_chars(std::size_t chars);
  /// The catalog's size fields per model, for OpenAI Batch lines (`size` to width/height or
  /// aspect_ratio + resolution); unset, `size` maps to width/height.
  void set_model_sizes(ModelSizesLookup sizes);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Number of non-blank lines, counted fast without parsing (for progress totals), for a regular
/// file only: a pipe can be read once, by the reader. nullopt for anything else and for a
/// file that cannot be read (the reader then reports why). Never throws.
std::optional<std::uint64_t> count_manifest_jobs(const std::filesystem::path& path);

}  // namespace venice_batch
