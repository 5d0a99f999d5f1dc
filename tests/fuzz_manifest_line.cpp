// libFuzzer target: a manifest line, whatever its bytes, becomes a JobSpec or an InvalidLine;
// it never crashes, hangs or reads out of bounds. Checked on every input, with unknown fields
// refused and passed through: a JobSpec's body is a JSON object, its id can name files and its
// hash is hex SHA-256; an InvalidLine has a reason in valid UTF-8 (it is written into JSON).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <simdjson.h>

#include "venice_batch/manifest.hpp"

namespace {

venice_batch::ManifestOptions options(bool allow_unknown_fields) {
  venice_batch::ManifestOptions o;
  o.defaults_json = R"({"model":"z-image-turbo","format":"webp"})";
  o.allow_unknown_fields = allow_unknown_fields;
  return o;
}

void check(std::string_view line, const venice_batch::ManifestOptions& o) {
  using namespace venice_batch;
  const auto entry = parse_manifest_line(line, 7, o);
  if (const auto* job = std::get_if<JobSpec>(&entry)) {
    simdjson::dom::parser parser;
    simdjson::dom::object body;
    if (parser.parse(job->body).get_object().get(body) != simdjson::SUCCESS) __builtin_trap();
    if (!is_valid_job_id(job->id) || job->line != 7) __builtin_trap();
    if (job->request_hash.size() != 64 || job->variants < 1 || job->variants > 4) __builtin_trap();
    if (job->model.empty() || job->prompt.empty()) __builtin_trap();
  } else {
    const auto& bad = std::get<InvalidLine>(entry);
    if (bad.reason.empty() || !simdjson::validate_utf8(bad.reason.data(), bad.reason.size())) __builtin_trap();
    if (!is_valid_job_id(bad.id) || bad.line != 7) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const venice_batch::ManifestOptions strict = options(false);
  static const venice_batch::ManifestOptions lenient = options(true);
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  check(line, strict);
  check(line, lenient);
  return 0;
}
