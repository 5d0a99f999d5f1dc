#include "venice_batch/tls_cert.hpp"

#include <fstream>
#include <memory>
#include <stdexcept>

#include <sys/stat.h>

#include <boost/asio/ip/address.hpp>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace venice_batch {
namespace {

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
template <class T>
using Owned = std::unique_ptr<T, Free>;

[[noreturn]] void fail(const char* what) { throw std::runtime_error(std::string("certificate: ") + what); }

void add_extension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  Owned<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || !X509_add_ext(cert, ext.get(), -1)) fail("cannot add extension");
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(n));
}

}  // namespace

SelfSignedCert make_self_signed_cert(const std::vector<std::string>& hosts, int valid_days) {
  if (hosts.empty()) fail("no host names");
  Owned<EVP_PKEY> key(EVP_EC_gen("P-256"));
  if (!key) fail("key generation failed");
  Owned<X509> cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(valid_days) * 86400);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(hosts[0].c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("venice-mock"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);

  std::string san;
  for (const auto& h : hosts) {
    boost::system::error_code ec;
    boost::asio::ip::make_address(h, ec);
    if (!san.empty()) san.append(",");
    san.append(ec ? "DNS:" : "IP:").append(h);
  }
  add_extension(cert.get(), NID_subject_alt_name, san);
  add_extension(cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  add_extension(cert.get(), NID_key_usage, "critical,digitalSignature,keyCertSign");
  add_extension(cert.get(), NID_ext_key_usage, "serverAuth");
  add_extension(cert.get(), NID_subject_key_identifier, "hash");
  if (!X509_sign(cert.get(), key.get(), EVP_sha256())) fail("signing failed");

  SelfSignedCert out;
  Owned<BIO> cbio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(cbio.get(), cert.get());
  out.cert_pem = bio_text(cbio.get());
  Owned<BIO> kbio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(kbio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  out.key_pem = bio_text(kbio.get());
  return out;
}

std::filesystem::path write_cert_files(const SelfSignedCert& cert, const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  const auto cert_path = dir / "cert.pem";
  const auto key_path = dir / "key.pem";
  {
    std::ofstream c(cert_path, std::ios::binary | std::ios::trunc);
    c << cert.cert_pem;
    if (!c) fail("cannot write cert.pem");
  }
  {
    std::ofstream k(key_path, std::ios::binary | std::ios::trunc);
    k << cert.key_pem;
    if (!k) fail("cannot write key.pem");
  }
  ::chmod(key_path.c_str(), 0600);
  return cert_path;
}

}  // namespace venice_batch
