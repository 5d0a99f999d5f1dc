// SHA-256 for ids, line keys and request hashes: OpenSSL 3's, with the algorithm fetched once
// (EVP_sha256() makes every EVP_DigestInit_ex fetch it again under a lock: 6% of a 1M-line
// resume) and an optional prefix hashed once and copied for each message.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

struct evp_md_st;
struct evp_md_ctx_st;

namespace venice_batch {

using Sha256 = std::array<unsigned char, 32>;

/// One context, reused message after message; not for use by two threads at once. Throws
/// std::runtime_error if OpenSSL has no SHA-256 (a broken install, not a property of the input).
class Sha256Hasher {
 public:
  /// Every digest is of `prefix` followed by the message.
  explicit Sha256Hasher(std::string_view prefix = {});
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void digest(std::string_view message, Sha256& out);
  /// The digest's first 8 bytes, big-endian (as hash_prefix64 reads its first 16 hex digits).
  std::uint64_t first64(std::string_view message);
  /// The digest as 64 lowercase hex digits.
  std::string hex(std::string_view message);

 private:
  void release();
  evp_md_st* md_ = nullptr;
  evp_md_ctx_st* prefix_ = nullptr;  // holds the state after the prefix
  evp_md_ctx_st* ctx_ = nullptr;
};

}  // namespace venice_batch
