// Compressing the emulator's JSON answers (gzip with zlib, br with Debian's libbrotli) as the
// request's Accept-Encoding asks (choose_coding, mock_policy.hpp), and damaging a compressed
// body for the corrupt_compressed and cut_compressed faults. No state and no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "mock_responses.hpp"
#include "venice_batch/mock_policy.hpp"

namespace venice_batch::mock {

/// Sends a JSON answer in the coding `accept_encoding` asks for (Content-Encoding, and Vary:
/// Accept-Encoding); a corrupt_compressed or cut_compressed `fault` damages the compressed body
/// (in gzip when the request asked for no coding). The coding used; nullopt for an answer that
/// is not JSON (an image), sent as it is.
std::optional<MockCoding> encode_answer(std::string_view accept_encoding, Response& res, MockFault fault);

/// `body` in `coding` (identity: unchanged). Throws std::runtime_error if the codec fails.
std::string compress(MockCoding coding, std::string_view body);

/// A compressed body no decoder accepts: bytes damaged in its middle and its end (the stream
/// can neither pass a checksum nor end cleanly).
void corrupt_compressed(std::string& compressed);
/// The first half of a compressed stream: well framed on the wire, cut short as a stream.
void cut_compressed(std::string& compressed);

}  // namespace venice_batch::mock
