#include "venice_batch/sink.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <stdexcept>

#include <fcntl.h>
#include <unistd.h>

namespace venice_batch {
namespace {

boost::system::error_code last_error() { return {errno, boost::system::system_category()}; }

std::atomic<std::uint64_t> temp_counter{0};

// POSIX calls rather than std::ofstream: we need fsync on the file and on the directory,
// and an exact errno (ENOSPC) when the disk fills.
boost::system::result<void> write_all_and_sync(int fd, const std::uint8_t* data, std::size_t size, bool durable) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return last_error();
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  if (durable && ::fsync(fd) != 0) return last_error();
  return {};
}

boost::system::result<void> sync_directory(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return last_error();
  int rc = ::fsync(fd);
  auto ec = last_error();
  ::close(fd);
  if (rc != 0) return ec;
  return {};
}

boost::system::result<void> atomic_write(const std::filesystem::path& dir, const std::string& name,
                                         std::span<const std::uint8_t> bytes, bool durable) {
  const std::string temp_name = "." + name + ".tmp-" + std::to_string(::getpid()) + "-" +
                                std::to_string(temp_counter.fetch_add(1, std::memory_order_relaxed));
  const auto temp_path = dir / temp_name;
  int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return last_error();
  auto written = write_all_and_sync(fd, bytes.data(), bytes.size(), durable);
  if (::close(fd) != 0 && written) written = last_error();
  if (!written) {
    ::unlink(temp_path.c_str());
    return written;
  }
  if (::rename(temp_path.c_str(), (dir / name).c_str()) != 0) {
    auto ec = last_error();
    ::unlink(temp_path.c_str());
    return ec;
  }
  if (durable) return sync_directory(dir);
  return {};
}

}  // namespace

std::string image_file_name(std::string_view id, unsigned k, ImageFormat format) {
  std::string name;
  name.reserve(id.size() + 12);
  name.append(id).append("_").append(std::to_string(k)).append(".").append(file_extension(format));
  return name;
}

bool is_temp_file_name(std::string_view name) {
  return name.size() > 1 && name[0] == '.' && name.find(".tmp-") != std::string_view::npos;
}

OutputSink::OutputSink(std::filesystem::path out_dir, bool durable)
    : out_dir_(std::move(out_dir)), images_dir_(out_dir_ / "images"), durable_(durable) {
  std::error_code ec;
  std::filesystem::create_directories(images_dir_, ec);
  if (ec) throw std::runtime_error("cannot create output directory '" + images_dir_.string() + "': " + ec.message());
  const auto probe = images_dir_ / (".probe.tmp-" + std::to_string(::getpid()));
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw std::runtime_error("output directory '" + images_dir_.string() + "' is not writable: " + last_error().message());
  }
  ::close(fd);
  ::unlink(probe.c_str());
}

boost::system::result<void> OutputSink::write_image(const std::string& name, std::span<const std::uint8_t> bytes) const {
  return atomic_write(images_dir_, name, bytes, durable_);
}

std::size_t OutputSink::remove_stale_temp_files() const {
  std::size_t removed = 0;
  for (const auto& dir : {out_dir_, images_dir_}) {
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec)) {
      if (it->is_regular_file() && is_temp_file_name(it->path().filename().string())) {
        std::error_code rm;
        if (std::filesystem::remove(it->path(), rm)) ++removed;
      }
    }
  }
  return removed;
}

StoredResponse decode_and_store(ResponseDecoder& decoder, const HttpResponse& response, const ExpectedImages& expected,
                                std::string_view file_prefix, const OutputSink* sink) {
  using Clock = std::chrono::steady_clock;
  auto micros = [](Clock::duration d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); };
  StoredResponse out;
  const auto t0 = Clock::now();
  auto decoded = decoder.decode(response, expected);
  const auto t1 = Clock::now();
  out.decode_us = micros(t1 - t0);
  if (!decoded) {
    const auto e = static_cast<ResponseError>(decoded.error().value());
    switch (e) {
      case ResponseError::invalid_json: out.error_kind = "invalid_json"; break;
      case ResponseError::missing_images: out.error_kind = "missing_images"; break;
      case ResponseError::invalid_base64: out.error_kind = "invalid_base64"; break;
      case ResponseError::not_an_image: out.error_kind = "not_an_image"; break;
      case ResponseError::wrong_format: out.error_kind = "wrong_format"; break;
    }
    out.error_message = decoded.error().message();
    out.retryable = e != ResponseError::wrong_format;
    return out;
  }
  out.server_id = std::move(decoded->server_id);
  out.server_timing = decoded->timing;
  if (decoded->content_violation) {
    out.content_violation = true;
    return out;
  }
  unsigned k = 0;
  for (const auto& image : decoded->images) {
    ++out.images;
    out.image_bytes += image.bytes.size();
    const std::string name = image_file_name(file_prefix, k++, image.format);
    if (!sink) continue;
    auto written = sink->write_image(name, image.bytes);
    if (!written) {
      out.write_failed = true;
      out.retryable = true;
      out.error_kind = "write_failed";
      out.error_message = "cannot write " + (sink->images_dir() / name).string() + ": " + written.error().message();
      out.files.clear();
      return out;
    }
    out.files.push_back({"images/" + name, image.bytes.size(), image.format});
  }
  out.write_us = micros(Clock::now() - t1);
  out.ok = true;
  return out;
}

boost::system::result<void> write_file_atomically(const std::filesystem::path& path, std::string_view text, bool durable) {
  auto dir = path.parent_path();
  if (dir.empty()) dir = ".";
  return atomic_write(dir, path.filename().string(),
                      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()),
                      durable);
}

void append_text_line(const std::filesystem::path& path, std::string_view line) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  auto ignored = write_all_and_sync(fd, reinterpret_cast<const std::uint8_t*>(line.data()), line.size(), false);
  (void)ignored;
  ::close(fd);
}

}  // namespace venice_batch
