// Helpers shared by the manifest tests (test_manifest*.cpp): parse a line expecting it accepted
// or refused, and manifest files under testing::TempDir().
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "venice_batch/manifest.hpp"

namespace manifest_test {

using namespace venice_batch;


inline ManifestOptions with_defaults(std::string defaults = R"({"model":"z-image-turbo"})") {
  ManifestOptions o;
  o.defaults_json = std::move(defaults);
  return o;
}

inline JobSpec accepted(std::string_view line, const ManifestOptions& o = with_defaults(), std::uint64_t line_no = 1) {
  auto e = parse_manifest_line(line, line_no, o);
  if (auto* bad = std::get_if<InvalidLine>(&e)) {
    ADD_FAILURE() << "refused: " << line << "\n  reason: " << bad->reason;
    return {};
  }
  return std::get<JobSpec>(e);
}

inline InvalidLine refused(std::string_view line, const ManifestOptions& o = with_defaults(), std::uint64_t line_no = 3) {
  auto e = parse_manifest_line(line, line_no, o);
  if (auto* job = std::get_if<JobSpec>(&e)) {
    ADD_FAILURE() << "accepted: " << line << "\n  body: " << job->body;
    return {};
  }
  return std::get<InvalidLine>(e);
}

inline std::string reason(std::string_view line, const ManifestOptions& o = with_defaults()) { return refused(line, o).reason; }

inline bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

inline std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

inline std::string with_id(const std::string& id_json) { return R"({"prompt":"p","id":)" + id_json + "}"; }

// A file under testing::TempDir(), removed when the test ends.
class TempManifest {
 public:
  explicit TempManifest(const std::string& text) {
    static std::atomic<int> counter{0};
    const auto* info = testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::path(testing::TempDir()) /
            ("manifest-" + std::string(info->name()) + "-" + std::to_string(::getpid()) + "-" +
             std::to_string(counter++) + ".jsonl");
    std::ofstream(path_, std::ios::binary) << text;
  }
  ~TempManifest() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::vector<ManifestEntry> read_all(const std::filesystem::path& path, const ManifestOptions& o = with_defaults()) {
  ManifestReader reader(path, o);
  std::vector<ManifestEntry> entries;
  while (auto e = reader.next()) entries.push_back(std::move(*e));
  return entries;
}

}  // namespace manifest_test
