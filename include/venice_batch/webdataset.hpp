// The webdataset layout's shard writer (issue 11): samples staged in OUT/staging/ as
// <key>.<ext>, <key>.txt, <key>.json are packed, in the order added, into tar shards
// OUT/shards/00000.tar, 00001.tar, ... each with a 00000_stats.json beside it. A shard is
// written under a temp name and renamed when complete; its staged files are deleted only after
// that, so a process killed at any moment loses nothing and packs nothing twice (the argument
// is in src/webdataset.cpp, at finish_shard). Packing runs on one background thread: add()
// only enqueues.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

namespace venice_batch {

/// When a shard is complete: at `samples` samples, or before the next sample would take the
/// tar past `bytes` (0 = no cap; a sample bigger than the cap gets a shard of its own).
struct ShardLimits {
  std::uint64_t samples = 10000;
  std::uint64_t bytes = 0;
};

/// One sample waiting in staging/: its files there, the image first (then <key>.txt and
/// <key>.json when present). Each file's name is its member name in the shard.
struct StagedSample {
  std::string key;                 ///< "<stem>_<k>", no '.' (webdataset_key)
  std::vector<std::string> files;  ///< names inside staging/
  std::uint64_t bytes = 0;         ///< what the files hold (informational; packing stats them)
};

/// "<id>_<k>" with every byte of `id` outside [A-Za-z0-9_-] written %XX (upper-case hex), so
/// the key holds no '.' (WebDataset splits a member name at its first dot) and no '/'. For a
/// valid job id (A-Z a-z 0-9 . _ -) that means '.' -> "%2E" only. One-to-one: see the .cpp.
/// Each escape adds two bytes: a 128-byte id with more than about 60 dots makes a key too long
/// for the staged file names (255 bytes with ".json"); such ids need refusing for this layout.
std::string webdataset_key(std::string_view id, unsigned k);

/// Which finished shard in `shards_dir` holds each of `members` ("<key>.webp" -> "00003.tar"),
/// for those found. Reads tar headers only, shard by shard in order, and stops once all are
/// found; a shard that cannot be read is skipped, temp shards (not finished) are not read.
std::map<std::string, std::string> locate_in_shards(const std::filesystem::path& shards_dir,
                                                    const std::set<std::string>& members);

/// Where the images jobs' records name are now. A webdataset record names its image as staged
/// ("staging/<key>.webp", true when it was recorded); once its shard is packed the staged file is
/// gone and the image is a member of one tar: "shards/<tar>#<member>". Other paths, and staged
/// files still there, are given back as they are. One pass over the shards' headers, at build.
class ShardPaths {
 public:
  /// `record_paths`: the paths that will be asked about (only the staged ones matter).
  ShardPaths(const std::filesystem::path& out_dir, const std::vector<std::string>& record_paths);
  std::string operator()(std::string_view record_path) const;
  /// A path under staging/: the only kind a ShardPaths may change.
  static bool is_staged(std::string_view record_path) { return record_path.starts_with("staging/"); }

 private:
  std::map<std::string, std::string, std::less<>> where_;  // member -> its shard
};

/// Packs staged samples into shards; owns the background thread that does it. Not copyable.
/// Thread-safety: add(), note_failed(), error() may be called from any one thread while the
/// packer runs; close() once, from the same thread.
class ShardWriter {
 public:
  /// Start-up recovery: creates OUT/staging and OUT/shards (refusing symbolic links: ELOOP),
  /// removes temp shards of a killed run, continues numbering after the highest finished shard,
  /// deletes the staged files of samples that shard already holds (a kill between its rename
  /// and that cleanup) and writes its stats if missing. Errors: the errno of what failed (EIO
  /// when that shard cannot be read: refusing beats packing a sample twice), and in `culprit`
  /// (when given) the file or folder it failed on, as a user should be told it.
  static boost::system::result<std::unique_ptr<ShardWriter>> open(const std::filesystem::path& out_dir,
                                                                  ShardLimits limits, bool durable,
                                                                  std::string* culprit = nullptr);
  ~ShardWriter();  ///< without close(): stops after the sample being packed; the shard in progress is dropped (its samples stay staged)
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  /// Samples in staging/, grouped by key (a file's name up to its first dot), each with an image
  /// (a file that is not .txt or .json); temp files are ignored. After open() these are samples
  /// no finished shard holds: the run add()s those of jobs recorded ok and discards the others.
  std::vector<StagedSample> list_staged() const;

  /// Called on the packer's thread just before each shard's rename, its commit; an error keeps the
  /// shard from being committed (like a failed write). The run makes its journal durable there:
  /// a power cut must not leave a committed shard holding a sample whose ok line was lost, or a
  /// rerun would pay for the job again and put it in a second shard. Set before the first add().
  void set_before_commit(std::function<boost::system::result<void>()> hook);

  /// Queues a sample (its job recorded ok) for the current shard. Never blocks on I/O; blocks
  /// only if the packer is 100,000 samples behind (bounded memory). After an error it is a no-op:
  /// the sample stays staged and a later run packs it.
  void add(StagedSample sample);
  /// Counts a failed job in the stats of the shard in progress at this point of the stream.
  void note_failed();

  /// The first error (ENOSPC ...), as a message naming the file; once set, no shard is committed.
  std::optional<std::string> error() const;
  /// Packs what is queued, the last shard too (possibly small), and stops the thread. Returns
  /// the first error; staged samples of uncommitted shards stay for the next run.
  boost::system::result<void> close();

  const std::filesystem::path& staging_dir() const;
  const std::filesystem::path& shards_dir() const;
  /// The number the next shard will get (00000.tar is 0).
  std::uint64_t next_shard() const;

  struct Impl;

 private:
  explicit ShardWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace venice_batch
