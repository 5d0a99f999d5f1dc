// libFuzzer target: a manifest line, whatever its bytes, becomes a JobSpec or an InvalidLine;
// it never crashes, hangs or reads out of bounds. A JobSpec's body must be valid JSON.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <simdjson.h>

#include "venice_batch/manifest.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace venice_batch;
  static const ManifestOptions options = [] {
    ManifestOptions o;
    o.defaults_json = R"({"model":"z-image-turbo","format":"webp"})";
    return o;
  }();
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  auto entry = parse_manifest_line(line, 1, options);
  if (auto* job = std::get_if<JobSpec>(&entry)) {
    simdjson::dom::parser parser;
    if (parser.parse(job->body).error() != simdjson::SUCCESS) __builtin_trap();
    if (!is_valid_job_id(job->id)) __builtin_trap();
  }
  return 0;
}
