#include "venice_batch/sink.hpp"
#include "venice_batch/text.hpp"

#include <cerrno>
#include <cstdio>
#include <chrono>
#include <random>
#include <stdexcept>
#include <utility>

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "venice_batch/group_commit.hpp"

namespace venice_batch {
namespace {

boost::system::error_code last_error() { return {errno, boost::system::system_category()}; }

// 16 hex digits from the kernel's random source: temp names nobody can guess and plant first.
std::string random_token() {
  std::uint64_t v = 0;
  if (::getrandom(&v, sizeof v, 0) != static_cast<ssize_t>(sizeof v)) {
    std::random_device rd;  // no getrandom(2) (an old kernel): the library's own source
    v = (std::uint64_t{rd()} << 32) ^ rd();
  }
  return fmt::format("{:016x}", v);
}

// One for the process: every durable commit joins the batch under way, whichever sink or
// directory it is for, so concurrent writers share syncs (and each directory is synced once).
GroupCommitter& shared_group_committer() {
  static GroupCommitter committer;
  return committer;
}

boost::system::result<void> fill_and_commit(boost::system::result<ReplacementFile> file,
                                            std::span<const std::uint8_t> bytes, bool durable,
                                            int parent_dir_fd = -1) {
  if (!file) return file.error();
  if (auto w = file->write(bytes); !w) return w.error();
  return file->commit(durable, parent_dir_fd);
}

}  // namespace

boost::system::result<void> write_fully(int fd, const void* data, std::size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error();
    }
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return {};
}

ReplacementFile::ReplacementFile(int dir_fd, bool owns_dir_fd, int fd, std::string temp_name, std::string name)
    : dir_fd_(dir_fd), owns_dir_fd_(owns_dir_fd), fd_(fd), temp_name_(std::move(temp_name)), name_(std::move(name)) {}

ReplacementFile::ReplacementFile(ReplacementFile&& o) noexcept
    : dir_fd_(std::exchange(o.dir_fd_, -1)), owns_dir_fd_(std::exchange(o.owns_dir_fd_, false)),
      fd_(std::exchange(o.fd_, -1)), temp_name_(std::move(o.temp_name_)), name_(std::move(o.name_)) {}

boost::system::result<ReplacementFile> ReplacementFile::create(int dir_fd, std::string name) {
  for (int tries = 0;; ++tries) {
    std::string temp_name = fmt::format(".{}.tmp-{}", name, random_token());
    int fd = ::openat(dir_fd, temp_name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0) return ReplacementFile(dir_fd, false, fd, std::move(temp_name), std::move(name));
    if (errno != EEXIST || tries == 3) return last_error();  // EEXIST: a name taken (or planted) already
  }
}

boost::system::result<ReplacementFile> ReplacementFile::create(const std::filesystem::path& dir, std::string name) {
  int dir_fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return last_error();
  auto file = create(dir_fd, std::move(name));
  if (!file) {
    ::close(dir_fd);
    return file.error();
  }
  file->owns_dir_fd_ = true;
  return file;
}

ReplacementFile::~ReplacementFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlinkat(dir_fd_, temp_name_.c_str(), 0);
  }
  if (owns_dir_fd_) ::close(dir_fd_);
}

boost::system::result<void> ReplacementFile::write(std::span<const std::uint8_t> bytes) {
  return write_fully(fd_, bytes.data(), bytes.size());
}

boost::system::result<void> ReplacementFile::write(std::string_view text) {
  return write_fully(fd_, text.data(), text.size());
}

boost::system::result<void> ReplacementFile::commit(bool durable, int parent_dir_fd) {
  if (durable) return commit(shared_group_committer(), parent_dir_fd);
  boost::system::error_code ec;
  if (::close(std::exchange(fd_, -1)) != 0) ec = last_error();
  if (!ec && ::renameat(dir_fd_, temp_name_.c_str(), dir_fd_, name_.c_str()) != 0) ec = last_error();
  if (ec) {
    ::unlinkat(dir_fd_, temp_name_.c_str(), 0);
    return ec;
  }
  return {};
}

boost::system::result<void> ReplacementFile::commit(GroupCommitter& committer, int parent_dir_fd) {
  return committer.commit({std::exchange(fd_, -1), dir_fd_, temp_name_, name_, parent_dir_fd});
}

std::string image_file_name(std::string_view id, unsigned k, ImageFormat format) {
  std::string name;
  name.reserve(id.size() + 12);
  name.append(id).append("_").append(std::to_string(k)).append(".").append(file_extension(format));
  return name;
}

std::string sidecar_file_name(std::string_view id, unsigned k, std::string_view extension) {
  return fmt::format("{}_{}.{}", id, k, extension);
}

std::optional<std::string_view> job_id_of_file_name(std::string_view name) {
  const auto dot = name.rfind('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const std::string_view ext = name.substr(dot + 1);
  if (ext != "webp" && ext != "png" && ext != "jpg" && ext != "txt" && ext != "json") return std::nullopt;
  const std::string_view stem = name.substr(0, dot);
  const auto underscore = stem.rfind('_');
  if (underscore == std::string_view::npos || underscore == 0 || underscore + 1 == stem.size()) return std::nullopt;
  for (char c : stem.substr(underscore + 1))
    if (c < '0' || c > '9') return std::nullopt;
  return stem.substr(0, underscore);
}

bool is_temp_file_name(std::string_view name) {
  return name.size() > 1 && name[0] == '.' && name.find(".tmp-") != std::string_view::npos;
}

OutputSink::OutputSink(std::filesystem::path out_dir, bool durable, std::string images_name)
    : out_dir_(std::move(out_dir)), images_dir_(out_dir_ / images_name), images_name_(std::move(images_name)),
      durable_(durable) {
  std::error_code ec;
  std::filesystem::create_directories(out_dir_, ec);
  if (ec) {
    throw std::runtime_error(
        fmt::format("cannot create output directory '{}': {}", out_dir_.string(), ec.message()));
  }
  if (std::filesystem::is_symlink(std::filesystem::symlink_status(images_dir_, ec))) {
    throw std::runtime_error(
        fmt::format("'{}' is a symbolic link; refusing to follow it (point the out dir at where images should go)",
                    images_dir_.string()));
  }
  if (::mkdir(images_dir_.c_str(), 0755) != 0 && errno != EEXIST)
    throw std::runtime_error(
        fmt::format("cannot create output directory '{}': {}", images_dir_.string(), last_error().message()));
  images_fd_ = ::open(images_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (images_fd_ < 0)
    throw std::runtime_error(
        fmt::format("cannot open output directory '{}': {}", images_dir_.string(), last_error().message()));
  out_fd_ = ::open(out_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (out_fd_ < 0) {
    ::close(images_fd_);
    throw std::runtime_error(
        fmt::format("cannot open output directory '{}': {}", out_dir_.string(), last_error().message()));
  }
  // Can we create files there? A random name, exclusively: never an existing file or a link.
  auto probe = ReplacementFile::create(images_fd_, "probe");
  if (!probe) {
    ::close(images_fd_);
    ::close(out_fd_);
    throw std::runtime_error(
        fmt::format("output directory '{}' is not writable: {}", images_dir_.string(), probe.error().message()));
  }
}

OutputSink::~OutputSink() {
  if (images_fd_ >= 0) ::close(images_fd_);
  if (out_fd_ >= 0) ::close(out_fd_);
}

// `name` is "<file>" or "<folder>/<file>": the folder is made on first use (its creation made
// durable like a file's entry) and opened with O_NOFOLLOW, so a planted link is never followed.
boost::system::result<void> OutputSink::write_in(int parent_fd, std::string_view name,
                                                 std::span<const std::uint8_t> bytes) const {
  const auto slash = name.find('/');
  if (slash == std::string_view::npos) return fill_and_commit(ReplacementFile::create(parent_fd, std::string(name)), bytes, durable_);
  const std::string folder(name.substr(0, slash));
  int dir_fd = ::openat(parent_fd, folder.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir_fd < 0 && errno == ENOENT) {
    if (::mkdirat(parent_fd, folder.c_str(), 0755) != 0 && errno != EEXIST) return last_error();
    dir_fd = ::openat(parent_fd, folder.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (dir_fd < 0) return last_error();  // ELOOP/ENOTDIR: a link or a file planted at the folder's name
  // The folder's own entry must be durable before a file in it is recorded ok. Another thread
  // may have made it a moment ago and not synced the parent yet: until a commit in this folder
  // has synced the parent, each one asks for it, whoever made the folder (a set of folders known
  // synced, not "I created it"). The group commit syncs the parent once per batch: with the
  // fan-out most files of a short run are each in a folder of their own.
  bool parent_synced = true;
  if (durable_) {
    std::lock_guard lock(synced_mutex_);
    parent_synced = synced_folders_.contains(folder);
  }
  auto done = fill_and_commit(ReplacementFile::create(dir_fd, std::string(name.substr(slash + 1))), bytes, durable_,
                              parent_synced ? -1 : parent_fd);
  ::close(dir_fd);
  if (done && !parent_synced) {
    std::lock_guard lock(synced_mutex_);
    synced_folders_.insert(folder);
  }
  return done;
}

boost::system::result<void> OutputSink::write_image(const std::string& name,
                                                    std::span<const std::uint8_t> bytes) const {
  return write_in(images_fd_, name, bytes);
}

boost::system::result<std::string> OutputSink::write_flagged(const std::string& name,
                                                             std::span<const std::uint8_t> bytes) const {
  // The out dir is locked by one run and a run writes one job's tries one after another, so a
  // name seen free here is still free at the rename. "<stem>.<n>.<ext>" cannot be another id's
  // image name: those end in "_<digits>.<ext>".
  const auto dot = name.rfind('.');
  std::string chosen = name;
  for (unsigned n = 2;; ++n) {
    struct stat st {};
    const std::string path = flagged_name_ + "/" + chosen;
    if (::fstatat(out_fd_, path.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) break;  // free (or the write says why not)
    if (n > 100000) return boost::system::error_code(EEXIST, boost::system::generic_category());
    chosen = dot == std::string::npos ? fmt::format("{}.{}", name, n)
                                      : fmt::format("{}.{}{}", name.substr(0, dot), n, name.substr(dot));
  }
  if (auto written = write_in(out_fd_, flagged_name_ + "/" + chosen, bytes); !written) return written.error();
  return chosen;
}

std::optional<std::string> OutputSink::flagged_folder_problem() const {
  const auto path = out_dir_ / flagged_name_;
  struct stat st {};
  if (::fstatat(out_fd_, flagged_name_.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return std::nullopt;  // made on first use
  if (S_ISLNK(st.st_mode))
    return fmt::format("'{}' is a symbolic link; refusing to follow it (blurred images are kept there)", path.string());
  int fd = ::openat(out_fd_, flagged_name_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return fmt::format("'{}' cannot be opened as a directory: {}", path.string(), last_error().message());
  std::optional<std::string> problem;
  {
    auto probe = ReplacementFile::create(fd, "probe");  // removed again when it goes, before fd is closed
    if (!probe)
      problem = fmt::format("'{}' is not writable: {} (blurred images are kept there; --flagged-images discard "
                            "does not keep them)",
                            path.string(), probe.error().message());
  }
  ::close(fd);
  return problem;
}

std::optional<std::string> OutputSink::folder_problem(const std::string& folder) const {
  std::lock_guard lock(synced_mutex_);
  if (folder.empty() || fine_folders_.contains(folder)) return std::nullopt;
  const auto path = images_dir_ / folder;
  struct stat st {};
  if (::fstatat(images_fd_, folder.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return std::nullopt;  // made on first use
    return fmt::format("cannot look at '{}': {}", path.string(), last_error().message());
  }
  if (S_ISDIR(st.st_mode)) {
    // Made by another user (a run under sudo): the write would fail once the image is bought.
    if (::faccessat(images_fd_, folder.c_str(), W_OK | X_OK, AT_EACCESS) != 0)
      return fmt::format("cannot write into '{}': {}", path.string(), last_error().message());
    fine_folders_.insert(folder);
    return std::nullopt;
  }
  return fmt::format("cannot write into '{}': it is {}, not a folder (remove it; a link is never followed)",
                     path.string(), S_ISLNK(st.st_mode) ? "a symbolic link" : "a file");
}

std::size_t OutputSink::remove_images(const std::vector<std::string>& names) const {
  std::size_t removed = 0;
  std::string open_folder;
  int folder_fd = -1;
  for (const auto& name : names) {
    const auto slash = name.rfind('/');
    const std::string folder = slash == std::string::npos ? std::string() : name.substr(0, slash);
    if (folder_fd < 0 || folder != open_folder) {
      if (folder_fd >= 0 && folder_fd != images_fd_) ::close(folder_fd);
      folder_fd = folder.empty() ? images_fd_
                                 : ::openat(images_fd_, folder.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      open_folder = folder;
    }
    if (folder_fd < 0) continue;  // no such folder (nothing to remove), or a link: never followed
    const std::string file = slash == std::string::npos ? name : name.substr(slash + 1);
    if (::unlinkat(folder_fd, file.c_str(), 0) == 0) ++removed;
  }
  if (folder_fd >= 0 && folder_fd != images_fd_) ::close(folder_fd);
  return removed;
}

std::vector<std::string> OutputSink::image_files_where(
    const std::function<bool(std::string_view folder, std::string_view file)>& select) const {
  std::vector<std::string> names;
  const auto scan = [&](const std::filesystem::path& dir, const std::string& folder) {
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec)) {
      const std::string file = it->path().filename().string();
      if (it->is_symlink(ec)) continue;
      if (folder.empty() && it->is_directory(ec)) continue;  // a fan-out folder: scanned below
      if (is_temp_file_name(file) || !select(folder, file)) continue;
      names.push_back(folder.empty() ? file : folder + "/" + file);
    }
  };
  scan(images_dir_, "");
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(images_dir_, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) scan(it->path(), it->path().filename().string());
  }
  return names;
}

std::size_t OutputSink::remove_stale_temp_files() const {
  std::size_t removed = 0;
  std::vector<std::filesystem::path> dirs{out_dir_, images_dir_, out_dir_ / flagged_name_};
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(images_dir_, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    std::error_code kind;  // an entry gone or unreadable meanwhile is no folder of ours
    if (it->is_directory(kind) && !it->is_symlink(kind)) dirs.push_back(it->path());  // the fan-out folders
  }
  for (const auto& dir : dirs) {
    for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec)) {
      std::error_code kind;
      if (it->is_regular_file(kind) && is_temp_file_name(it->path().filename().string())) {
        std::error_code rm;
        if (std::filesystem::remove(it->path(), rm)) ++removed;
      }
    }
    ec.clear();
  }
  return removed;
}

StoredResponse decode_and_store(ResponseDecoder& decoder, const HttpResponse& response, const ExpectedImages& expected,
                                std::string_view file_prefix, const OutputSink* sink, const SidecarSource* sidecars) {
  StoreTarget target;
  target.file_prefix = file_prefix;
  target.sink = sink;
  target.sidecars = sidecars;
  return decode_and_store(decoder, response, expected, target);
}

StoredResponse decode_and_store(ResponseDecoder& decoder, const HttpResponse& response, const ExpectedImages& expected,
                                const StoreTarget& target) {
  using Clock = std::chrono::steady_clock;
  auto micros = [](Clock::duration d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); };
  StoredResponse out;
  const auto t0 = Clock::now();
  auto decoded = decoder.decode(response, expected);
  const auto t1 = Clock::now();
  out.decode_us = micros(t1 - t0);
  if (!decoded) {
    const auto e = static_cast<ResponseError>(decoded.error().value());
    out.error_kind = to_string(e);
    out.error_message = decoded.error().message();
    out.retryable = true;  // a malformed answer: another request may get a good one
    return out;
  }
  out.server_id = std::move(decoded->server_id);
  out.server_timing = decoded->timing;
  // Judged here, when the answer is decoded, not when its request was sent: the check may have
  // become trusted meanwhile (another answer matched), and a stray answer met then is refused too.
  if (target.echo_check) {
    const RequestEcho echoed{decoded->echoed_prompt, decoded->echoed_seed, decoded->echoed_model};
    out.echo = target.echo_check->judge(target.paced_model, echoed, target.sent, target.reused_connection);
  }
  if (out.echo.verdict == EchoCheck::Verdict::refuse) {
    out.error_kind = "answer_for_another_request";
    out.error_message =
        out.echo.refused_by == EchoCheck::Field::prompt
            ? fmt::format("the answer echoes another prompt (\"{}\"): another request's answer, not kept",
                          valid_utf8_prefix(*decoded->echoed_prompt, 80))
        : out.echo.refused_by == EchoCheck::Field::seed
            ? fmt::format("the answer echoes another seed ({}, {} was sent): another request's answer, not kept",
                          *decoded->echoed_seed, *target.sent.seed)
            : fmt::format("the answer echoes another model (\"{}\"): another request's answer, not kept",
                          valid_utf8_prefix(*decoded->echoed_model, 80));
    out.retryable = true;
    return out;
  }
  if (decoded->content_violation) {
    out.content_violation = true;  // a placeholder: never written, never given metadata
    return out;
  }
  out.blurred = decoded->blurred;
  const OutputSink* sink = target.sink;
  if (out.blurred && !target.keep_flagged) sink = nullptr;  // discarded: checked, counted, not written
  // A blurred image is kept apart, flat in flagged/: never in images/, a shard or metadata.jsonl.
  const std::string folder = out.blurred || target.folder.empty() ? std::string() : std::string(target.folder) + "/";
  auto failed_write = [&](const std::string& name, const boost::system::error_code& failed) {
    out.write_failed = true;
    out.retryable = true;
    out.error_kind = "write_failed";
    const auto dir = out.blurred ? sink->out_dir() / sink->flagged_name() : sink->images_dir() / target.folder;
    out.error_message = fmt::format("cannot write {}: {}", (dir / name).string(), failed.message());
    out.files.clear();
    return false;
  };
  auto write = [&](std::string& name, std::span<const std::uint8_t> bytes) {
    boost::system::error_code failed;
    if (out.blurred) {
      if (auto written = sink->write_flagged(name, bytes)) name = std::move(*written);
      else failed = written.error();
    } else if (auto written = sink->write_image(folder + name, bytes); !written) {
      failed = written.error();
    }
    return !failed || failed_write(name, failed);
  };
  auto as_bytes = [](std::string_view s) {
    return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  };
  unsigned k = 0;
  for (auto& image : decoded->images) {
    ++out.images;
    const unsigned variant = k++;
    std::string name = image_file_name(target.file_prefix, variant, image.format);
    // "<prefix>_<k>.regen<r>.<ext>" cannot be another id's "<prefix>_<k>.<ext>": that ends in _<digits>.<ext>.
    if (out.blurred && target.regeneration > 0) name.insert(name.rfind('.'), fmt::format(".regen{}", target.regeneration));
    if (target.embed) {
      ImageMetadata meta = *target.embed;
      meta.server_id = out.server_id;
      // An image the embedder cannot parse has passed the container check already: keep its bytes as they are.
      if (auto with = embed_image_metadata(image.bytes, image.format, meta)) image.bytes = std::move(*with);
    }
    out.image_bytes += image.bytes.size();
    if (!sink) continue;
    if (!write(name, image.bytes)) return out;
    const std::string dir = (out.blurred ? sink->flagged_name() : sink->images_name()) + "/" + (out.blurred ? "" : folder);
    FileRecord file{dir + name, image.bytes.size(), image.format, std::nullopt, image.size};
    if (image.format != expected.format) file.requested_format = expected.format;
    if (expected.size && image.size.width != 0 &&
        (expected.size->width != image.size.width || expected.size->height != image.size.height))
      file.requested_size = expected.size;
    if (target.sidecars && !out.blurred) {
      // A sidecar that cannot be written is a warning (the paid image is kept), unless it is part
      // of the sample (webdataset's .txt and .json): then the write failed as for the image.
      auto side = [&](const std::string& name, std::string_view text) {
        auto w = sink->write_image(folder + name, as_bytes(text));
        if (!w && target.sidecars_required) return failed_write(name, w.error());
        if (!w)
          out.warnings.push_back(
              fmt::format("sidecar {}/{} not written: {}", sink->images_name(), folder + name, w.error().message()));
        return true;
      };
      if (target.sidecars->kinds.txt &&
          !side(sidecar_file_name(target.file_prefix, variant, "txt"), target.sidecars->prompt))
        return out;
      if (target.sidecars->kinds.json &&
          !side(sidecar_file_name(target.file_prefix, variant, "json"),
                sidecar_json(*target.sidecars, variant, file, out.server_id)))
        return out;
    }
    out.files.push_back(std::move(file));
  }
  out.write_us = micros(Clock::now() - t1);
  out.ok = true;
  return out;
}

boost::system::result<void> write_file_atomically(const std::filesystem::path& path, std::string_view text,
                                                  bool durable) {
  const std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  return fill_and_commit(ReplacementFile::create(path.parent_path(), path.filename().string()), bytes, durable);
}

void append_text_line(const std::filesystem::path& path, std::string_view line) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return;
  (void)write_fully(fd, line.data(), line.size());
  ::close(fd);
}

int read_whole_file(const std::filesystem::path& path, std::string& out) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return errno;
  char buf[65536];
  for (std::size_t got; (got = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, got);
  const bool failed = std::ferror(f);
  std::fclose(f);
  return failed ? EIO : 0;
}

}  // namespace venice_batch
