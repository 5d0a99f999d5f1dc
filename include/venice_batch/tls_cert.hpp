// A self-signed certificate for the emulator (and tests): an EC P-256 key and
// an X.509 certificate with CA:TRUE whose subjectAltName lists the given DNS
// names and IP addresses, so a client can trust it with --ca-file and still
// verify the host name.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace venice_batch {

struct SelfSignedCert {
  std::string cert_pem;
  std::string key_pem;
};

/// Generates a fresh key and certificate valid for `hosts` (each a DNS name or an IP literal)
/// for `valid_days`. Throws std::runtime_error on an OpenSSL failure.
SelfSignedCert make_self_signed_cert(const std::vector<std::string>& hosts, int valid_days = 30);

/// Writes cert.pem and key.pem (mode 0600) into `dir`, creating it; returns the cert path.
std::filesystem::path write_cert_files(const SelfSignedCert& cert, const std::filesystem::path& dir);

}  // namespace venice_batch
