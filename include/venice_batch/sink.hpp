// The output directory: images/<id>_<k>.<ext>, written so that no partial file
// ever carries a final name (random temp name in the same directory, fsync, rename,
// fsync the directory), and no file is ever opened through a symbolic link someone
// planted there. Safe to call from several threads for different files; durable commits
// made at the same time share their syncs (GroupCommitter).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <unordered_set>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include "venice_batch/echo_check.hpp"
#include "venice_batch/image_format.hpp"
#include "venice_batch/response.hpp"
#include "venice_batch/embed_metadata.hpp"
#include "venice_batch/sidecar.hpp"

namespace venice_batch {

class GroupCommitter;

/// An image file written for a job.
struct FileRecord {
  std::string path;  ///< relative to the out dir, e.g. "images/cat_0.webp"
  std::uint64_t bytes = 0;
  ImageFormat format = ImageFormat::webp;  ///< what the bytes are; names the file
  /// The format asked for, when the API answered with another (VENICE_API.md: the bytes decide).
  std::optional<ImageFormat> requested_format = std::nullopt;
  ImageSize size = {};  ///< from the image header
  /// The width x height asked, when the image has another size (a model that rounds or ignores
  /// width/height): recorded, not hidden.
  std::optional<ImageSize> requested_size = std::nullopt;
};

/// "<id>_<k>.<ext>": the final file name of variant k (0-based) of job `id`.
std::string image_file_name(std::string_view id, unsigned k, ImageFormat format);

/// The most images one request asks for (the API's `variants` is 1-4; request_schema checks it).
inline constexpr unsigned kMaxVariants = 4;
/// "<id>_<k>.txt" / "<id>_<k>.json": the sidecars of image_file_name(id, k, ...).
std::string sidecar_file_name(std::string_view id, unsigned k, std::string_view extension);

/// The job id of an images/ file name "<id>_<k>.<ext>" (an image or a sidecar: webp, png, jpg,
/// txt, json); nullopt for any other name.
std::optional<std::string_view> job_id_of_file_name(std::string_view name);

/// True for the names this sink uses while a file is being written (".<name>.tmp-<random>").
bool is_temp_file_name(std::string_view name);
/// What a temp name adds to a file's name: "." + ".tmp-" + 16 hex digits.
inline constexpr std::size_t kTempNameOverhead = 22;

/// A file written under a random temp name (".<name>.tmp-<random>") in a directory, that takes
/// the place of `name` there only on commit(); destroyed uncommitted, the temp file is removed
/// (a killed process leaves it for remove_stale_temp_files). The temp file is created with
/// O_EXCL|O_NOFOLLOW, so it is never an existing file or a symlink, and the rename replaces a
/// symlink at `name` rather than writing through it.
class ReplacementFile {
 public:
  /// In the directory open as `dir_fd` (not owned: it must outlive this object).
  static boost::system::result<ReplacementFile> create(int dir_fd, std::string name);
  /// In `dir` (opened here, and kept open until destruction).
  static boost::system::result<ReplacementFile> create(const std::filesystem::path& dir, std::string name);
  ReplacementFile(ReplacementFile&& other) noexcept;
  ReplacementFile& operator=(ReplacementFile&&) = delete;
  ~ReplacementFile();

  boost::system::result<void> write(std::span<const std::uint8_t> bytes);
  boost::system::result<void> write(std::string_view text);
  /// Closes the file and renames it over `name`: with `durable`, syncs the file first and the
  /// directory after, returning once both are durable; files that threads commit at the same
  /// time share the syncs (the process's GroupCommitter: one directory sync per batch). On
  /// failure the temp file is removed and `name` is unchanged.
  /// `parent_dir_fd` (durable only; -1: none): the directory holding this one's entry, synced in
  /// the same batch (the directory was made since that was last synced).
  boost::system::result<void> commit(bool durable, int parent_dir_fd = -1);
  /// As commit(true) through `committer` (tests give one with counted or failing syncs).
  boost::system::result<void> commit(GroupCommitter& committer, int parent_dir_fd = -1);

 private:
  ReplacementFile(int dir_fd, bool owns_dir_fd, int fd, std::string temp_name, std::string name);
  int dir_fd_ = -1;
  bool owns_dir_fd_ = false;
  int fd_ = -1;
  std::string temp_name_, name_;
};

class OutputSink {
 public:
  /// Creates `out_dir` and `out_dir/<images_name>` if missing and keeps the latter open, so files
  /// land in the directory checked here even if a path component is swapped later. Throws
  /// std::runtime_error naming the directory if it cannot be created or written to, or if it is
  /// a symbolic link (a usage error for the CLI): the out dir is what the user named, anything
  /// inside it is ours, and a link there would send images to a place nobody chose. To keep
  /// images on another disk, point the out dir there. `images_name` is "images", or "staging"
  /// for the webdataset layout (samples wait there for their shard).
  OutputSink(std::filesystem::path out_dir, bool durable, std::string images_name = "images");
  ~OutputSink();
  OutputSink(const OutputSink&) = delete;
  OutputSink& operator=(const OutputSink&) = delete;

  const std::filesystem::path& out_dir() const { return out_dir_; }
  const std::filesystem::path& images_dir() const { return images_dir_; }
  /// "images" or "staging": how file records name the images directory.
  const std::string& images_name() const { return images_name_; }

  /// Writes `bytes` to <images dir>/<name> atomically. `name` may start with one folder
  /// ("a3f/cat_0.webp", the fan-out), created on first use and never followed if it is a link.
  /// Returns the error (ENOSPC, EACCES...) on failure, in which case no file with the final name
  /// was created or changed.
  boost::system::result<void> write_image(const std::string& name, std::span<const std::uint8_t> bytes) const;

  /// The same, into <out>/<flagged_name()>/ (blurred images, never in the dataset), and never over
  /// a file already there: each is an image someone paid for (an earlier run's try of the job,
  /// before --retry-failed or a changed line asked again). When `name` is taken the image is
  /// written as <stem>.<n>.<ext>, the first n from 2 that is free. Returns the name used.
  boost::system::result<std::string> write_flagged(const std::string& name, std::span<const std::uint8_t> bytes) const;
  /// "flagged", or ".flagged" in the imagefolder layout: Hugging Face's loader skips hidden
  /// folders, and an image there without a metadata.jsonl line would fail the whole load.
  const std::string& flagged_name() const { return flagged_name_; }
  void set_flagged_name(std::string name) { flagged_name_ = std::move(name); }

  /// Why blurred images could not be kept in <out>/<flagged_name()>/, checked before anything is
  /// paid for (a blurred image is found only once bought): a symbolic link there (never
  /// followed), not a directory, or one this process cannot create files in. nullopt: fine, or
  /// not made yet (made on first use, as the out dir is writable).
  std::optional<std::string> flagged_folder_problem() const;
  /// Why images could not be written into `folder` (a fan-out folder of the images dir), checked
  /// before a job is paid for: something other than a directory there (a symbolic link, never
  /// followed, or a file). nullopt: a directory, or not made yet (made on the first write). A
  /// folder found fine is not looked at again.
  std::optional<std::string> folder_problem(const std::string& folder) const;
  /// Removes these files of the images dir ("<file>" or "<folder>/<file>", as write_image takes
  /// them), missing ones skipped: a folder is opened with O_NOFOLLOW, so a link planted at a
  /// folder's name never leads a removal out of the out dir. Returns how many were removed.
  std::size_t remove_images(const std::vector<std::string>& names) const;
  /// The files of the images dir and of its folders (one level down; links never followed) that
  /// `select` picks, as write_image names them ("<file>" or "<folder>/<file>"); temp files never.
  std::vector<std::string> image_files_where(const std::function<bool(std::string_view folder, std::string_view file)>& select) const;
  /// Removes leftover temp files of a crashed run (in the out dir, the images dir and its
  /// fan-out folders, flagged/); returns how many were removed.
  std::size_t remove_stale_temp_files() const;

 private:
  boost::system::result<void> write_in(int parent_fd, std::string_view name, std::span<const std::uint8_t> bytes) const;
  std::filesystem::path out_dir_;
  std::filesystem::path images_dir_;
  std::string images_name_;
  std::string flagged_name_ = "flagged";
  mutable std::mutex synced_mutex_;
  mutable std::unordered_set<std::string> synced_folders_;  // folders whose entry was fsynced in its parent
  mutable std::unordered_set<std::string> fine_folders_;    // folders folder_problem() found to be directories
  int images_fd_ = -1;
  int out_fd_ = -1;
  bool durable_;
};

/// Where and how decode_and_store writes one job's images.
struct StoreTarget {
  std::string_view file_prefix;  ///< "<id>" (or the webdataset key's stem): files are <prefix>_<k>.<ext>
  std::string_view folder;       ///< the fan-out folder inside the images dir ("" for none)
  const OutputSink* sink = nullptr;          ///< nullptr: decode and check only, write nothing
  const SidecarSource* sidecars = nullptr;   ///< <prefix>_<k>.txt / .json beside each image
  /// The sidecars are members of the sample (webdataset): one that cannot be written fails the
  /// write as the image's would, instead of being a warning.
  bool sidecars_required = false;
  const ImageMetadata* embed = nullptr;      ///< written inside each image (never a placeholder)
  bool keep_flagged = true;                  ///< a blurred image: kept in flagged/, or not written
  /// The try's regeneration (--regenerate-flagged; 0: the line's own request). A blurred image of
  /// regeneration r is kept as flagged/<prefix>_<k>.regen<r>.<ext>, beside the earlier tries'.
  unsigned regeneration = 0;
  /// The run's echo check (nullptr: none) and what it is given: the model the request was paced
  /// under (the catalog id), what the request said (prompt, seed, model as the line names it), and
  /// whether the answer came on a connection that had carried answers before. An answer it refuses
  /// (another request's) is not written.
  EchoCheck* echo_check = nullptr;
  std::string_view paced_model;
  RequestEcho sent;
  bool reused_connection = false;
};

/// What became of one 200 response: decoded, checked, and its images written.
struct StoredResponse {
  bool ok = false;
  bool content_violation = false;  ///< the API's placeholder: nothing written
  bool blurred = false;            ///< x-venice-is-blurred: true: images in flagged/ (or none), not the dataset
  bool write_failed = false;       ///< the disk failed, not the response: stop the run
  bool retryable = false;
  std::string error_kind, error_message;
  std::vector<FileRecord> files;
  std::vector<std::string> warnings;  ///< a sidecar that could not be written: the images are kept
  std::string server_id;
  std::optional<ServerTiming> server_timing;
  std::uint64_t images = 0, image_bytes = 0;
  std::int64_t decode_us = 0, write_us = 0;
  /// The echo check's judgement of the answer (accept when there is no check).
  EchoCheck::Judgement echo;
};

/// Decodes `response` with `decoder` and writes its images as images/<file_prefix>_<k>.<ext>
/// through `sink` (nullptr: decode and check only, write nothing). An image in another format
/// than `expected.format` is kept, named by its bytes, with `requested_format` set. With
/// `sidecars`, each image's <file_prefix>_<k>.txt / .json are written after it, the same way; one
/// that cannot be written is a warning, not a failure (the paid image is kept, never bought again),
/// unless the target says they are required. CPU and disk work: run it off the io thread, one decoder per thread.
StoredResponse decode_and_store(ResponseDecoder& decoder, const HttpResponse& response, const ExpectedImages& expected,
                                std::string_view file_prefix, const OutputSink* sink,
                                const SidecarSource* sidecars = nullptr);
/// The same with every choice of the target: fan-out folder, embedded metadata, flagged images.
/// A blurred answer's images go to flagged/<prefix>_<k>.<ext> (or nowhere), without sidecars;
/// a regeneration's to flagged/<prefix>_<k>.regen<r>.<ext>, so no try overwrites another's (nor
/// an earlier run's: a taken name gets a number, see OutputSink::write_flagged).
StoredResponse decode_and_store(ResponseDecoder& decoder, const HttpResponse& response, const ExpectedImages& expected,
                                const StoreTarget& target);

/// Writes `text` to `path` atomically (temp + rename; fsync when `durable`). For snapshots
/// such as metrics.json and report.html.
boost::system::result<void> write_file_atomically(const std::filesystem::path& path, std::string_view text,
                                                  bool durable);

/// Reads a whole (small) file into `out`: 0, or the errno of what failed (EIO for a read error).
/// For side inputs: catalog.json, daily_usage.json, wildcard and spec files.
int read_whole_file(const std::filesystem::path& path, std::string& out);

/// Calls write(2) until all `size` bytes are written (EINTR retried). On an error (ENOSPC) part
/// of them may be written already. POSIX rather than std::ofstream: an exact errno, and fsync.
boost::system::result<void> write_fully(int fd, const void* data, std::size_t size);

/// Appends `line` to `path` with one write(2) (creating the file; never through a symlink).
/// Errors are ignored: for side outputs such as timeline.jsonl that must never stop a run.
void append_text_line(const std::filesystem::path& path, std::string_view line);

}  // namespace venice_batch
