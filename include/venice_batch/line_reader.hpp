// Reads a file or a pipe line by line in big blocks, holding one line at most (up to a cap),
// never the whole file. A line is a view into the reader's buffer, valid until the next call,
// with kPadding readable bytes after it so simdjson can parse it in place. Used by the
// manifest reader (JSONL in), and the report (results.jsonl).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace venice_batch {

class LineReader {
 public:
  /// Readable bytes after every line's text (at least simdjson's SIMDJSON_PADDING).
  static constexpr std::size_t kPadding = 64;

  struct Line {
    std::string_view text;        ///< without the '\n'; empty for a line too long to keep
    std::uint64_t offset = 0;     ///< where the line starts in the file
    std::uint64_t length = 0;     ///< its bytes, '\n' excluded (also when too long to keep)
    bool too_long = false;        ///< longer than max_line_bytes: read to its end, not kept
    bool blank = false;           ///< only when too_long: it held nothing but " \t\r\f\v"
    bool newline = true;          ///< false for a last line that ends without '\n'
  };

  /// Opens `path` for reading (a pipe is fine). `what` names the file in errors ("manifest").
  /// Throws std::runtime_error if it cannot be opened.
  LineReader(const std::filesystem::path& path, std::string_view what, std::size_t max_line_bytes,
             std::size_t block_bytes = std::size_t{1} << 20);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  /// The next line, or nullopt at the end. Throws std::runtime_error on a read error (a file
  /// cut short silently would look complete).
  std::optional<Line> next();

  /// Reads only the lines that start in [start, stop) of a regular file (call before next()): a
  /// line that starts before `stop` is read to its end. Ranges that meet split a file's lines
  /// between readers, each line to exactly one: a big journal is read by two threads.
  void restrict_to(std::uint64_t start, std::uint64_t stop);

  /// True if the opened file is a regular file (it could be read a second time).
  bool is_regular_file() const { return regular_; }

 private:
  std::optional<Line> next_line();  // next() without the range's end
  bool fill();  // reads more after end_; false at the end of the file
  std::optional<Line> skip_long_line();

  int fd_ = -1;
  bool regular_ = false;
  std::string name_;
  std::size_t max_line_;
  std::vector<char> buf_;       // capacity() - kPadding bytes of data at most
  std::size_t begin_ = 0;       // start of the unread data
  std::size_t scanned_ = 0;     // [begin_, scanned_) holds no '\n'
  std::size_t end_ = 0;         // end of the data read
  std::uint64_t base_ = 0;      // file offset of buf_[0]
  bool eof_ = false;
  std::uint64_t stop_ = UINT64_MAX;  // lines starting here or later belong to another range
};

/// True for the bytes a blank line may hold: ' ', '\t', '\r', '\f', '\v'.
bool is_line_space(char c);

}  // namespace venice_batch
