// The bytes of one decoded image, in a buffer that is not zeroed when it is made: the base64
// decoder writes every byte that is kept, so a std::vector<std::uint8_t>(n) would only add a
// memset of ~400 KB per image (issue 10's profile). Reads as a contiguous range of const bytes:
// a std::span<const std::uint8_t> converts from it. A std::vector<std::uint8_t> moved in is
// adopted as it is (no copy), for code that builds image bytes the ordinary way, and so is a
// buffer a C library made (adopt(), with the library's own release function).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

namespace venice_batch {

class ImageBytes {
 public:
  using value_type = std::uint8_t;
  using iterator = const std::uint8_t*;
  using const_iterator = const std::uint8_t*;

  ImageBytes() = default;
  /// Room for `size` bytes, not initialised: fill them through writable_data(), then shrink_to()
  /// what was kept.
  static ImageBytes for_overwrite(std::size_t size) {
    ImageBytes b;
    b.owned_ = std::make_unique_for_overwrite<std::uint8_t[]>(size);
    b.data_ = b.owned_.get();
    b.size_ = size;
    return b;
  }
  /// Takes `data` (a C library's buffer, or one of our own from malloc) as it is; `release` frees it
  /// when these bytes go.
  static ImageBytes adopt(std::uint8_t* data, std::size_t size, void (*release)(std::uint8_t*)) {
    ImageBytes b;
    b.released_ = std::unique_ptr<std::uint8_t, void (*)(std::uint8_t*)>(data, release);
    b.data_ = data;
    b.size_ = size;
    return b;
  }
  ImageBytes(std::vector<std::uint8_t>&& v) noexcept { adopt(std::move(v)); }  // NOLINT: implicit on purpose
  ImageBytes& operator=(std::vector<std::uint8_t>&& v) noexcept {
    owned_.reset();
    released_.reset();
    adopt(std::move(v));
    return *this;
  }
  ImageBytes(std::span<const std::uint8_t> bytes) : ImageBytes(for_overwrite(bytes.size())) {  // NOLINT
    std::copy(bytes.begin(), bytes.end(), data_);
  }
  ImageBytes(const ImageBytes& o) : ImageBytes(std::span<const std::uint8_t>(o.data_, o.size_)) {}
  ImageBytes& operator=(const ImageBytes& o) { return *this = ImageBytes(o); }
  ImageBytes(ImageBytes&& o) noexcept
      : owned_(std::move(o.owned_)), adopted_(std::move(o.adopted_)), released_(std::move(o.released_)),
        data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)) {}  // the buffers move, so data_ stays valid
  ImageBytes& operator=(ImageBytes&& o) noexcept {
    owned_ = std::move(o.owned_);
    adopted_ = std::move(o.adopted_);
    released_ = std::move(o.released_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    return *this;
  }

  std::uint8_t* writable_data() { return data_; }
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const std::uint8_t* begin() const { return data_; }
  const std::uint8_t* end() const { return data_ + size_; }
  /// Keeps the first `size` bytes (at most size()).
  void shrink_to(std::size_t size) { size_ = std::min(size, size_); }

  friend bool operator==(const ImageBytes& a, const ImageBytes& b) { return std::ranges::equal(a, b); }
  friend bool operator==(const ImageBytes& a, const std::vector<std::uint8_t>& b) { return std::ranges::equal(a, b); }

 private:
  void adopt(std::vector<std::uint8_t>&& v) {
    adopted_ = std::move(v);
    data_ = adopted_.data();
    size_ = adopted_.size();
  }
  std::unique_ptr<std::uint8_t[]> owned_;  // from for_overwrite
  std::vector<std::uint8_t> adopted_;      // or moved in
  std::unique_ptr<std::uint8_t, void (*)(std::uint8_t*)> released_{nullptr, nullptr};  // or a library's
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace venice_batch
