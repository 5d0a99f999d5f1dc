#include "venice_batch/webdataset.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <span>
#include <thread>
#include <unordered_set>
#include <utility>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>

#include "venice_batch/sink.hpp"

namespace venice_batch {
namespace {

using boost::system::error_code;

// The packer may fall this far behind the run before add() waits: about 20 MB of names, far
// more than the disk ever lags the network, so in practice add() never waits.
constexpr std::size_t kMaxQueued = 100'000;
// Staged files are streamed into the tar in pieces of this size: memory does not grow with images.
constexpr std::size_t kChunk = 1 << 20;
constexpr std::uint64_t kBlock = 512;  // tar's record size
constexpr std::uint64_t kEndOfArchive = 2 * kBlock;

error_code last_error() { return {errno, boost::system::system_category()}; }
error_code errno_code(int e) { return {e, boost::system::system_category()}; }

std::uint64_t round_up_to_block(std::uint64_t n) { return (n + kBlock - 1) / kBlock * kBlock; }

/// An upper bound of the bytes member `name` of `size` bytes takes in the tar: a ustar header,
/// a pax header before it when the name does not fit ustar's 100 bytes (our names hold no '/',
/// so ustar's prefix field never helps), the data padded to a block.
std::uint64_t member_footprint(std::string_view name, std::uint64_t size) {
  std::uint64_t bytes = kBlock + round_up_to_block(size);
  if (name.size() >= 100) bytes += kBlock + round_up_to_block(name.size() + 64);
  return bytes;
}

std::string shard_stem(std::uint64_t number) { return fmt::format("{:05}", number); }

/// The number of a finished shard's name ("00042.tar" -> 42); nullopt for any other name.
std::optional<std::uint64_t> finished_shard_number(std::string_view name) {
  if (name.size() < 9 || !name.ends_with(".tar")) return std::nullopt;
  const std::string_view digits = name.substr(0, name.size() - 4);
  if (digits.size() > 18) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

/// WebDataset's key of a member name: everything before the first dot.
std::string_view key_of(std::string_view member) { return member.substr(0, member.find('.')); }

double unix_seconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

/// An fd closed on destruction.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

/// The names in the directory open as `dir_fd` (its own open file description, so concurrent
/// listings do not share a position). Empty on error.
std::vector<std::string> list_directory(int dir_fd) {
  std::vector<std::string> names;
  int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return names;
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    ::close(fd);
    return names;
  }
  while (const dirent* e = ::readdir(dir)) {
    const std::string_view name = e->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  ::closedir(dir);
  return names;
}

/// Creates `dir` if missing and opens it; a symbolic link there is refused (ELOOP), as
/// OutputSink does: anything inside the out dir is ours, a link would send shards elsewhere.
boost::system::result<Fd> open_own_directory(const std::filesystem::path& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return last_error();
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) return errno == ENOTDIR ? errno_code(ELOOP) : last_error();  // O_NOFOLLOW on a link to a dir: ENOTDIR or ELOOP
  return fd;
}

struct ShardStats {
  std::uint64_t successes = 0, failed = 0, bytes = 0;
  double start_time = 0, end_time = 0;
  bool recovered = false;
};

/// <shard>_stats.json, with img2dataset's names: count is every job the shard accounts for
/// (successes + failed), bytes what its members hold.
std::string stats_json(std::uint64_t number, const ShardStats& s) {
  return fmt::format(
      "{{\"shard\": \"{}.tar\", \"count\": {}, \"successes\": {}, \"failed\": {}, \"bytes\": {}, "
      "\"start_time\": {:.3f}, \"end_time\": {:.3f}, \"duration\": {:.3f}{}}}\n",
      shard_stem(number), s.successes + s.failed, s.successes, s.failed, s.bytes, s.start_time, s.end_time,
      s.end_time - s.start_time, s.recovered ? ", \"recovered\": true" : "");
}

boost::system::result<void> write_stats(int shards_fd, std::uint64_t number, const ShardStats& stats, bool durable) {
  auto file = ReplacementFile::create(shards_fd, shard_stem(number) + "_stats.json");
  if (!file) return file.error();
  if (auto w = file->write(stats_json(number, stats)); !w) return w.error();
  return file->commit(durable);
}

struct MemberHeader {
  std::string name;
  std::uint64_t size = 0;
};

/// The members of a finished shard (headers only: the data is skipped, not read).
boost::system::result<std::vector<MemberHeader>> read_member_headers(int shards_fd, const std::string& name) {
  Fd fd(::openat(shards_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) return last_error();
  archive* reader = ::archive_read_new();
  ::archive_read_support_format_tar(reader);
  std::vector<MemberHeader> members;
  int rc = ::archive_read_open_fd(reader, fd.get(), 64 * 1024);
  archive_entry* entry = nullptr;
  while (rc == ARCHIVE_OK && (rc = ::archive_read_next_header(reader, &entry)) == ARCHIVE_OK) {
    const char* path = ::archive_entry_pathname(entry);
    members.push_back({path ? path : "", static_cast<std::uint64_t>(::archive_entry_size(entry))});
    rc = ::archive_read_data_skip(reader);
  }
  ::archive_read_free(reader);
  if (rc != ARCHIVE_EOF) return errno_code(EIO);  // truncated or not a tar: never one we renamed
  return members;
}

}  // namespace

std::map<std::string, std::string> locate_in_shards(const std::filesystem::path& shards_dir,
                                                    const std::set<std::string>& members) {
  std::map<std::string, std::string> found;
  Fd dir(::open(shards_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dir.get() < 0 || members.empty()) return found;
  std::vector<std::string> shards;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(shards_dir, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.ends_with(".tar") && !is_temp_file_name(name)) shards.push_back(std::move(name));
  }
  std::sort(shards.begin(), shards.end());  // 00000.tar first: a report's gallery is of the first lines
  for (const auto& shard : shards) {
    auto headers = read_member_headers(dir.get(), shard);
    if (!headers) continue;
    for (const auto& m : *headers)
      if (members.contains(m.name)) found.emplace(m.name, shard);
    if (found.size() == members.size()) break;
  }
  return found;
}

ShardPaths::ShardPaths(const std::filesystem::path& out_dir, const std::vector<std::string>& record_paths) {
  std::set<std::string> packed;
  for (const auto& path : record_paths) {
    std::error_code ec;
    if (is_staged(path) && !std::filesystem::exists(out_dir / path, ec)) packed.insert(path.substr(8));
  }
  for (auto& [member, shard] : locate_in_shards(out_dir / "shards", packed)) where_.emplace(member, shard);
}

std::string ShardPaths::operator()(std::string_view record_path) const {
  if (!is_staged(record_path)) return std::string(record_path);
  const auto it = where_.find(record_path.substr(8));
  return it == where_.end() ? std::string(record_path) : fmt::format("shards/{}#{}", it->second, it->first);
}

std::string webdataset_key(std::string_view id, unsigned k) {
  // One-to-one on (id, k): each byte of the id becomes itself when in [A-Za-z0-9_-], else "%XX".
  // '%' itself is always escaped, so the stem reads back left to right in one way only (no two
  // ids share a stem). k's decimal digits hold no '_', so the key's last '_' splits stem from
  // k, and std::to_string writes no leading zeros: (id, k) is recovered from the key. The key
  // holds no '.', nor '/'. For valid ids this is layout.hpp's webdataset_key_stem + "_k".
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string key;
  key.reserve(id.size() + 8);
  for (char c : id) {
    const auto u = static_cast<unsigned char>(c);
    const bool plain = (u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || u == '_' || u == '-';
    if (plain) {
      key += c;
    } else {
      key += '%';
      key += hex[u >> 4];
      key += hex[u & 15];
    }
  }
  key += '_';
  key += std::to_string(k);
  return key;
}

// ---------------------------------------------------------------------------------------------

struct ShardWriter::Impl {
  // Set at open(), read-only afterwards.
  std::filesystem::path staging_dir, shards_dir;
  Fd staging_fd, shards_fd;
  ShardLimits limits;
  bool durable = false;
  std::atomic<std::uint64_t> next_shard{0};

  // The queue between the run and the packer, and the first error.
  struct Item {
    enum class Kind { sample, failed, finish } kind = Kind::sample;
    StagedSample sample;
  };
  mutable std::mutex mu;
  std::condition_variable not_empty, not_full;
  std::deque<Item> queue;
  bool aborting = false;  // destroyed without close(): stop, commit nothing more
  std::optional<std::string> error_message;
  error_code error_code_;
  std::atomic<bool> failed{false};
  std::thread packer;
  bool closed = false;

  // The packer thread's own state.
  struct OpenShard {
    std::uint64_t number = 0;
    ReplacementFile file;
    archive* tar = nullptr;
    error_code write_error;  // what the write callback met (libarchive only says "fatal")
    std::uint64_t samples = 0;
    std::uint64_t tar_bytes = 0;  // upper bound of the tar's size so far (member_footprint)
    std::vector<std::string> staged_files;
    std::unordered_set<std::string> keys;
    ShardStats stats;
    explicit OpenShard(ReplacementFile f) : file(std::move(f)) {}
    ~OpenShard() {
      if (!tar) return;
      // An abandoned shard (an error, or destroyed unfinished): close() flushes into the temp
      // file, which `file` then removes. free() alone, after a failed write, leaks the block
      // buffer in libarchive 3.6 (seen by LeakSanitizer); archive_write_fail() would too.
      ::archive_write_close(tar);
      ::archive_write_free(tar);  // before `file` goes
    }
  };
  std::unique_ptr<OpenShard> current;
  std::function<boost::system::result<void>()> before_commit;  // set before the first add()
  std::uint64_t failed_before_shard = 0;  // failed jobs noted while no shard was open
  std::vector<char> chunk;

  void fail(error_code ec, std::string message) {
    std::lock_guard lock(mu);
    if (error_message) return;
    error_code_ = ec;
    error_message = std::move(message);
    failed = true;
  }
  std::string shard_path(std::uint64_t number) const { return (shards_dir / (shard_stem(number) + ".tar")).string(); }

  void run();
  void pack(const StagedSample& sample);
  bool start_shard();
  void finish_shard();
};

void ShardWriter::Impl::run() {
  for (;;) {
    Item item;
    {
      std::unique_lock lock(mu);
      not_empty.wait(lock, [&] { return aborting || !queue.empty(); });
      if (aborting) break;
      item = std::move(queue.front());
      queue.pop_front();
      not_full.notify_all();
    }
    if (item.kind == Item::Kind::finish) {
      if (current && !failed) finish_shard();
      break;
    }
    if (failed) continue;  // the samples stay staged: a later run packs them
    if (item.kind == Item::Kind::failed) {
      if (current) ++current->stats.failed;
      else ++failed_before_shard;
      continue;
    }
    pack(item.sample);
  }
  current.reset();  // an unfinished shard: its temp file is removed, its samples stay staged
}

bool ShardWriter::Impl::start_shard() {
  const std::uint64_t number = next_shard;
  auto file = ReplacementFile::create(shards_fd.get(), shard_stem(number) + ".tar");
  if (!file) {
    fail(file.error(), fmt::format("cannot create {}: {}", shard_path(number), file.error().message()));
    return false;
  }
  auto shard = std::make_unique<OpenShard>(std::move(*file));
  shard->number = number;
  shard->stats.start_time = unix_seconds();
  shard->stats.failed = std::exchange(failed_before_shard, 0);
  shard->tar = ::archive_write_new();
  // pax_restricted: plain ustar headers, plus a pax header only for a member that needs one (a
  // name over 100 bytes: ids may be 128 bytes, three times that escaped). Every tar reads it.
  ::archive_write_set_format_pax_restricted(shard->tar);
  ::archive_write_set_bytes_in_last_block(shard->tar, 1);  // no padding past the end-of-archive blocks
  auto write_cb = [](archive* a, void* client, const void* buffer, std::size_t length) -> la_ssize_t {
    auto* s = static_cast<OpenShard*>(client);
    auto written = s->file.write(std::span<const std::uint8_t>(static_cast<const std::uint8_t*>(buffer), length));
    if (!written) {
      s->write_error = written.error();
      ::archive_set_error(a, written.error().value(), "%s", written.error().message().c_str());
      return -1;
    }
    return static_cast<la_ssize_t>(length);
  };
  if (::archive_write_open(shard->tar, shard.get(), nullptr, write_cb, nullptr) != ARCHIVE_OK) {
    fail(errno_code(EIO), fmt::format("cannot start {}: {}", shard_path(number), ::archive_error_string(shard->tar)));
    return false;
  }
  current = std::move(shard);
  return true;
}

void ShardWriter::Impl::pack(const StagedSample& sample) {
  auto sample_error = [&](int e, std::string_view what) {
    fail(errno_code(e), fmt::format("cannot pack sample '{}': {}", sample.key, what));
  };
  // The run's contract: a key without '.' or '/', files named <key>.<ext> in staging/. A sample
  // twice in a shard would be a sample packed twice: refused rather than written.
  if (sample.key.empty() || sample.key.find_first_of("./") != std::string::npos || sample.files.empty())
    return sample_error(EINVAL, "not a webdataset key, or no files");
  if (current && current->keys.contains(sample.key)) return sample_error(EEXIST, "added twice");

  struct Member {
    const std::string* name;
    Fd fd;
    struct stat st;
  };
  std::vector<Member> members;
  std::uint64_t footprint = 0, content = 0;
  for (const auto& name : sample.files) {
    if (name.size() <= sample.key.size() + 1 || !name.starts_with(sample.key) || name[sample.key.size()] != '.' ||
        name.find('/') != std::string::npos)
      return sample_error(EINVAL, fmt::format("file '{}' is not named <key>.<ext>", name));
    Member m{&name, Fd(::openat(staging_fd.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)), {}};
    if (m.fd.get() < 0 || ::fstat(m.fd.get(), &m.st) != 0) {
      const error_code ec = last_error();
      return fail(ec, fmt::format("cannot read {}: {}", (staging_dir / name).string(), ec.message()));
    }
    if (!S_ISREG(m.st.st_mode)) return sample_error(EINVAL, fmt::format("'{}' is not a regular file", name));
    footprint += member_footprint(name, static_cast<std::uint64_t>(m.st.st_size));
    content += static_cast<std::uint64_t>(m.st.st_size);
    members.push_back(std::move(m));
  }

  if (current && limits.bytes && current->tar_bytes + footprint + kEndOfArchive > limits.bytes) {
    finish_shard();  // this sample would take the shard past the cap: it starts the next one
    if (failed) return;
  }
  if (!current && !start_shard()) return;
  OpenShard& shard = *current;

  for (auto& m : members) {
    archive_entry* entry = ::archive_entry_new();
    ::archive_entry_set_pathname(entry, m.name->c_str());
    ::archive_entry_set_filetype(entry, AE_IFREG);
    ::archive_entry_set_perm(entry, 0644);
    ::archive_entry_set_size(entry, m.st.st_size);
    ::archive_entry_set_mtime(entry, m.st.st_mtim.tv_sec, 0);  // whole seconds: no pax header for it
    ::archive_entry_set_uid(entry, 0);
    ::archive_entry_set_gid(entry, 0);
    const int rc = ::archive_write_header(shard.tar, entry);
    ::archive_entry_free(entry);
    bool ok = rc == ARCHIVE_OK;
    for (std::uint64_t left = static_cast<std::uint64_t>(m.st.st_size); ok && left > 0;) {
      const ssize_t got = ::read(m.fd.get(), chunk.data(), std::min<std::uint64_t>(left, chunk.size()));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {  // shorter than its size said: libarchive would pad it with zeros, silently
        const error_code ec = got < 0 ? last_error() : errno_code(EIO);
        return fail(ec, fmt::format("cannot read {}: {}", (staging_dir / *m.name).string(), ec.message()));
      }
      ok = ::archive_write_data(shard.tar, chunk.data(), static_cast<std::size_t>(got)) == got;
      left -= static_cast<std::uint64_t>(got);
    }
    if (!ok) {
      const error_code ec = shard.write_error ? shard.write_error : errno_code(EIO);
      return fail(ec, fmt::format("cannot write {}: {}", shard_path(shard.number),
                                  shard.write_error ? ec.message() : std::string(::archive_error_string(shard.tar))));
    }
    shard.staged_files.push_back(*m.name);
  }
  shard.keys.insert(sample.key);
  ++shard.samples;
  ++shard.stats.successes;
  shard.stats.bytes += content;
  shard.tar_bytes += footprint;
  if (shard.samples >= limits.samples) finish_shard();
}

// Exactly once, with shards. Invariants, each enforced here or in open():
//  1. A sample's staged files exist from before its job's ok line (the run stages, then
//     records, then add()s) until after the shard holding it has its final name: they are
//     deleted below, after the commit, and nowhere else but open()'s step 3.
//  2. A final name NNNNN.tar appears only by rename of a complete tar, flushed (and fsynced when
//     durable) first: no finished shard holds a half-written member. Temp shards are never read
//     and open() removes them.
//  3. Shards are committed one at a time, and the next one starts only after this one's staged
//     files are gone (and staging/ synced when durable): only the highest-numbered finished
//     shard can share samples with staging/.
//  4. open() deletes the staged files of every key in that shard before anyone lists staging/.
// So after a SIGKILL at any moment, a job recorded ok is either in a finished shard, once (it was
// added once, keys are unique within a shard, and by 3 and 4 no staged copy of it survives to be
// packed again), or still staged (by 1): list_staged() returns it, the run re-adds it, and a later
// shard gets it. A job recorded ok is never requested again, so nothing stages its key anew.
void ShardWriter::Impl::finish_shard() {
  std::unique_ptr<OpenShard> shard = std::move(current);
  if (::archive_write_close(shard->tar) != ARCHIVE_OK) {
    const error_code ec = shard->write_error ? shard->write_error : errno_code(EIO);
    return fail(ec, fmt::format("cannot write {}: {}", shard_path(shard->number), ec.message()));
  }
  ::archive_write_free(std::exchange(shard->tar, nullptr));
  if (before_commit) {
    if (auto ready = before_commit(); !ready)
      return fail(ready.error(), fmt::format("cannot finish {}: the journal could not be synced first: {}",
                                             shard_path(shard->number), ready.error().message()));
  }
  // THE COMMIT POINT: the rename. Before it the shard does not exist; after it, it is whole.
  if (auto committed = shard->file.commit(durable); !committed)
    return fail(committed.error(), fmt::format("cannot finish {}: {}", shard_path(shard->number),
                                               committed.error().message()));
  next_shard = shard->number + 1;
  shard->stats.end_time = unix_seconds();
  // A stats file that cannot be written does not undo the shard; open() writes a missing one.
  if (auto stats = write_stats(shards_fd.get(), shard->number, shard->stats, durable); !stats)
    fail(stats.error(), fmt::format("cannot write {}_stats.json in {}: {}", shard_stem(shard->number),
                                    shards_dir.string(), stats.error().message()));
  for (const auto& name : shard->staged_files) {
    if (::unlinkat(staging_fd.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
      const error_code ec = last_error();
      return fail(ec, fmt::format("cannot remove {}: {}", (staging_dir / name).string(), ec.message()));
    }
  }
  if (durable && ::fsync(staging_fd.get()) != 0) {
    const error_code ec = last_error();
    fail(ec, fmt::format("cannot sync {}: {}", staging_dir.string(), ec.message()));
  }
}

// ---------------------------------------------------------------------------------------------

boost::system::result<std::unique_ptr<ShardWriter>> ShardWriter::open(const std::filesystem::path& out_dir,
                                                                       ShardLimits limits, bool durable,
                                                                       std::string* culprit) {
  const auto blame = [&](std::string what) {
    if (culprit) *culprit = std::move(what);
  };
  auto impl = std::make_unique<Impl>();
  impl->staging_dir = out_dir / "staging";
  impl->shards_dir = out_dir / "shards";
  impl->limits = limits;
  if (impl->limits.samples == 0) impl->limits.samples = 1;
  impl->durable = durable;
  impl->chunk.resize(kChunk);

  std::error_code created;
  std::filesystem::create_directories(out_dir, created);
  if (created) return error_code(created.value(), boost::system::system_category());
  blame(impl->staging_dir.string());
  auto staging = open_own_directory(impl->staging_dir);
  if (!staging) return staging.error();
  impl->staging_fd = std::move(*staging);
  blame(impl->shards_dir.string());
  auto shards = open_own_directory(impl->shards_dir);
  if (!shards) return shards.error();
  impl->shards_fd = std::move(*shards);
  if (durable) {  // the two directories' entries in the out dir outlive a power cut
    Fd out(::open(out_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (out.get() < 0 || ::fsync(out.get()) != 0) return last_error();
  }

  // 1. Temp shards of a killed run: never finished, so their samples are all still staged.
  // 2. Numbering continues after the highest finished shard.
  std::optional<std::uint64_t> highest;
  std::unordered_set<std::string> names;
  for (auto& name : list_directory(impl->shards_fd.get())) {
    if (is_temp_file_name(name)) {
      if (::unlinkat(impl->shards_fd.get(), name.c_str(), 0) != 0 && errno != ENOENT) return last_error();
      continue;
    }
    if (auto n = finished_shard_number(name); n && (!highest || *n > *highest)) highest = n;
    names.insert(std::move(name));
  }
  // 3. The highest finished shard may have been killed between its rename and the removal of
  //    its staged files (finish_shard's invariant 3: no other shard can): remove them now.
  if (highest) {
    impl->next_shard = *highest + 1;
    const std::string tar_name = shard_stem(*highest) + ".tar";
    auto members = read_member_headers(impl->shards_fd.get(), tar_name);
    if (!members) {
      blame(fmt::format("{}, the newest shard, which must be a whole tar file (restore it from a copy: "
                        "without it its samples are in no shard, though their jobs stay recorded ok)",
                        (impl->shards_dir / tar_name).string()));
      return members.error();
    }
    blame(impl->shards_dir.string());
    std::unordered_set<std::string_view> keys;
    for (const auto& m : *members) keys.insert(key_of(m.name));
    for (const auto& name : list_directory(impl->staging_fd.get())) {
      if (is_temp_file_name(name) || !keys.contains(key_of(name))) continue;
      if (::unlinkat(impl->staging_fd.get(), name.c_str(), 0) != 0 && errno != ENOENT) return last_error();
    }
    if (durable && ::fsync(impl->staging_fd.get()) != 0) return last_error();
    // 4. Its stats, if the kill came before them: what the tar tells (no failed-job count).
    if (!names.contains(shard_stem(*highest) + "_stats.json")) {
      ShardStats stats;
      stats.recovered = true;
      stats.successes = keys.size();
      for (const auto& m : *members) stats.bytes += m.size;
      struct stat st {};
      if (::fstatat(impl->shards_fd.get(), tar_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
        stats.start_time = stats.end_time = static_cast<double>(st.st_mtim.tv_sec);  // when it was finished
      if (auto w = write_stats(impl->shards_fd.get(), *highest, stats, durable); !w) return w.error();
    }
  }
  Impl* raw = impl.get();
  std::unique_ptr<ShardWriter> writer(new ShardWriter(std::move(impl)));
  raw->packer = std::thread([raw] { raw->run(); });
  return writer;
}

ShardWriter::ShardWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ShardWriter::~ShardWriter() {
  if (impl_->packer.joinable()) {
    {
      std::lock_guard lock(impl_->mu);
      impl_->aborting = true;
    }
    impl_->not_empty.notify_all();
    impl_->packer.join();
  }
}

std::vector<StagedSample> ShardWriter::list_staged() const {
  struct Group {
    std::vector<std::string> images, txt, json;
    std::uint64_t bytes = 0;
  };
  std::map<std::string, Group, std::less<>> groups;  // by key: a stable order
  for (auto& name : list_directory(impl_->staging_fd.get())) {
    if (name.empty() || name[0] == '.' || is_temp_file_name(name)) continue;
    const auto dot = name.find('.');
    if (dot == std::string::npos || dot == 0) continue;
    struct stat st {};
    if (::fstatat(impl_->staging_fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
      continue;
    Group& g = groups[name.substr(0, dot)];
    g.bytes += static_cast<std::uint64_t>(st.st_size);
    const std::string_view ext = std::string_view(name).substr(dot);
    (ext == ".txt" ? g.txt : ext == ".json" ? g.json : g.images).push_back(std::move(name));
  }
  std::vector<StagedSample> samples;
  for (auto& [key, g] : groups) {
    if (g.images.empty()) continue;  // no image: not a sample (a job staged halfway, not recorded ok)
    StagedSample s;
    s.key = key;
    s.bytes = g.bytes;
    for (auto* part : {&g.images, &g.txt, &g.json})
      for (auto& f : *part) s.files.push_back(std::move(f));
    samples.push_back(std::move(s));
  }
  return samples;
}

void ShardWriter::set_before_commit(std::function<boost::system::result<void>()> hook) {
  impl_->before_commit = std::move(hook);
}

void ShardWriter::add(StagedSample sample) {
  if (impl_->failed) return;
  {
    std::unique_lock lock(impl_->mu);
    impl_->not_full.wait(lock, [&] { return impl_->queue.size() < kMaxQueued || impl_->failed; });
    if (impl_->failed || impl_->closed) return;
    impl_->queue.push_back({Impl::Item::Kind::sample, std::move(sample)});
  }
  impl_->not_empty.notify_one();
}

void ShardWriter::note_failed() {
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->closed) return;
    impl_->queue.push_back({Impl::Item::Kind::failed, {}});
  }
  impl_->not_empty.notify_one();
}

std::optional<std::string> ShardWriter::error() const {
  std::lock_guard lock(impl_->mu);
  return impl_->error_message;
}

boost::system::result<void> ShardWriter::close() {
  bool first = false;
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->closed) {
      impl_->closed = true;
      first = true;
      impl_->queue.push_back({Impl::Item::Kind::finish, {}});
    }
  }
  if (first) {
    impl_->not_empty.notify_one();
    impl_->packer.join();
  }
  std::lock_guard lock(impl_->mu);
  if (impl_->error_message) return impl_->error_code_;
  return {};
}

const std::filesystem::path& ShardWriter::staging_dir() const { return impl_->staging_dir; }
const std::filesystem::path& ShardWriter::shards_dir() const { return impl_->shards_dir; }
std::uint64_t ShardWriter::next_shard() const { return impl_->next_shard; }

}  // namespace venice_batch
