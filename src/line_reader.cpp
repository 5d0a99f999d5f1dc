#include "venice_batch/line_reader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <simdjson.h>

namespace venice_batch {

static_assert(LineReader::kPadding >= simdjson::SIMDJSON_PADDING);

bool is_line_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

LineReader::LineReader(const std::filesystem::path& path, std::string_view what, std::size_t max_line_bytes,
                       std::size_t block_bytes)
    : name_(fmt::format("{} '{}'", what, path.string())), max_line_(max_line_bytes) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw std::runtime_error(fmt::format("cannot open {}: {}", name_, std::strerror(errno)));
  struct stat st {};
  regular_ = ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode);
  buf_.resize(std::max<std::size_t>(block_bytes, 64) + kPadding);
}

LineReader::~LineReader() {
  if (fd_ >= 0) ::close(fd_);
}

bool LineReader::fill() {
  const std::size_t capacity = buf_.size() - kPadding;
  if (begin_ > 0) {  // move the partial line to the front
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    base_ += begin_;
    scanned_ -= begin_;
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == capacity) {  // one line fills the buffer: grow it, up to the line cap
    const std::size_t grown = std::min(2 * capacity, max_line_ + 1);
    if (grown <= capacity) return true;  // caller sees a full buffer: the line is too long
    buf_.resize(grown + kPadding);
  }
  for (;;) {
    const ssize_t n = ::read(fd_, buf_.data() + end_, buf_.size() - kPadding - end_);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(fmt::format("cannot read {}: {}", name_, std::strerror(errno)));
    end_ += static_cast<std::size_t>(n);
    std::memset(buf_.data() + end_, 0, kPadding);
    return n > 0;
  }
}

void LineReader::restrict_to(std::uint64_t start, std::uint64_t stop) {
  stop_ = stop;
  if (start == 0) return;
  if (::lseek(fd_, static_cast<off_t>(start - 1), SEEK_SET) < 0)
    throw std::runtime_error(fmt::format("cannot read {}: {}", name_, std::strerror(errno)));
  base_ = start - 1;
  // The rest of the line holding byte start - 1 (maybe only its '\n') is the range before's.
  (void)next_line();
}

std::optional<LineReader::Line> LineReader::next() {
  auto line = next_line();
  if (line && line->offset >= stop_) {
    eof_ = true;
    begin_ = scanned_ = end_;
    return std::nullopt;
  }
  return line;
}

std::optional<LineReader::Line> LineReader::next_line() {
  for (;;) {
    const char* data = buf_.data();
    const auto* nl = static_cast<const char*>(std::memchr(data + scanned_, '\n', end_ - scanned_));
    if (!nl) {
      scanned_ = end_;
      if (end_ - begin_ > max_line_) return skip_long_line();
      if (!eof_ && fill()) continue;
      eof_ = true;
      if (begin_ == end_) return std::nullopt;
      nl = buf_.data() + end_;  // a last line without '\n' (fill may have moved the buffer)
      data = buf_.data();
    }
    Line line;
    line.offset = base_ + begin_;
    line.length = static_cast<std::size_t>(nl - (data + begin_));
    line.newline = nl != data + end_;
    const std::string_view text(data + begin_, line.length);
    begin_ = scanned_ = std::min(end_, static_cast<std::size_t>(nl - data) + 1);
    if (line.length <= max_line_) {
      line.text = text;
    } else {  // the whole line was in one block, but it is over the cap all the same
      line.too_long = true;
      line.blank = std::all_of(text.begin(), text.end(), is_line_space);
    }
    return line;
  }
}

// Reads the rest of a line longer than the cap block by block, keeping only its length and
// whether it was blank.
std::optional<LineReader::Line> LineReader::skip_long_line() {
  Line line;
  line.offset = base_ + begin_;
  line.too_long = true;
  line.blank = true;
  for (;;) {
    const char* from = buf_.data() + begin_;
    const auto* nl = static_cast<const char*>(std::memchr(from, '\n', end_ - begin_));
    const std::size_t take = nl ? static_cast<std::size_t>(nl - from) : end_ - begin_;
    line.length += take;
    line.blank = line.blank && std::all_of(from, from + take, is_line_space);
    begin_ = scanned_ = begin_ + take + (nl ? 1 : 0);
    if (nl) return line;
    if (eof_ || !fill()) {
      eof_ = true;
      line.newline = false;
      return line;
    }
  }
}

}  // namespace venice_batch
