// `venice-batch run --manifest /dev/stdin` with the manifest piped in: every job runs (the
// progress total is unknown, since a pipe cannot be counted without consuming it).
#include <gtest/gtest.h>

#include "test_support.hpp"
#include "venice_batch/layout.hpp"
#include "venice_batch/mock_server.hpp"

using namespace venice_batch;
using test_support::TempDir;

TEST(ManifestTest, ManifestPipedOnStandardInputRunsEveryJob) {
  TempDir dir;
  MockOptions o;
  o.api_key = "stdin-key";
  o.cert_dir = dir.path() / "cert";
  o.latency_min = o.latency_max = std::chrono::milliseconds(1);
  MockServer mock(o);
  mock.start();
  std::string manifest;
  for (int i = 0; i < 5; ++i) manifest += "{\"id\":\"piped-" + std::to_string(i) + "\",\"prompt\":\"p\",\"width\":64,\"height\":64}\n";
  test_support::write_file(dir / "m.jsonl", manifest);
  const std::string command = "cat '" + (dir / "m.jsonl").string() + "' | '" + VENICE_BATCH_EXE +
                              "' run --manifest /dev/stdin --out '" + (dir / "out").string() +
                              "' --base-url https://127.0.0.1:" + std::to_string(mock.port()) + "/api/v1 --ca-file '" +
                              mock.ca_file().string() + "'";
  auto r = test_support::run_process({"/bin/sh", "-c", command}, {{"VENICE_API_KEY", "stdin-key"}});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(mock.stats().requests, 5u) << r.err;
  EXPECT_EQ(test_support::read_lines(dir / "out/results.jsonl").size(), 5u);
  EXPECT_TRUE(std::filesystem::exists(dir / "out/images" / venice_batch::fanout_folder("piped-4", 3) / "piped-4_0.webp"));
}
