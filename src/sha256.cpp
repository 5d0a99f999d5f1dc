#include "venice_batch/sha256.hpp"

#include <stdexcept>

#include <openssl/evp.h>

namespace venice_batch {

Sha256Hasher::Sha256Hasher(std::string_view prefix)
    : md_(EVP_MD_fetch(nullptr, "SHA256", nullptr)), prefix_(EVP_MD_CTX_new()), ctx_(EVP_MD_CTX_new()) {
  if (!md_ || !prefix_ || !ctx_ || EVP_DigestInit_ex2(prefix_, md_, nullptr) != 1 ||
      EVP_DigestUpdate(prefix_, prefix.data(), prefix.size()) != 1) {
    release();  // a constructor that throws runs no destructor
    throw std::runtime_error("OpenSSL has no SHA-256");
  }
}

Sha256Hasher::~Sha256Hasher() { release(); }

void Sha256Hasher::release() {
  EVP_MD_CTX_free(ctx_);
  EVP_MD_CTX_free(prefix_);
  EVP_MD_free(md_);
  ctx_ = prefix_ = nullptr;
  md_ = nullptr;
}

void Sha256Hasher::digest(std::string_view message, Sha256& out) {
  unsigned int len = 0;
  if (EVP_MD_CTX_copy_ex(ctx_, prefix_) != 1 || EVP_DigestUpdate(ctx_, message.data(), message.size()) != 1 ||
      EVP_DigestFinal_ex(ctx_, out.data(), &len) != 1 || len != out.size())
    throw std::runtime_error("SHA-256 failed");
}

std::uint64_t Sha256Hasher::first64(std::string_view message) {
  Sha256 d;
  digest(message, d);
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | d[i];
  return v;
}

std::string Sha256Hasher::hex(std::string_view message) {
  static constexpr char kDigits[] = "0123456789abcdef";
  Sha256 d;
  digest(message, d);
  std::string s(64, '0');
  for (std::size_t i = 0; i < d.size(); ++i) {
    s[2 * i] = kDigits[d[i] >> 4];
    s[2 * i + 1] = kDigits[d[i] & 15];
  }
  return s;
}

}  // namespace venice_batch
