// The webdataset shard writer (issue 11): shards of the right size, readable by Python's tarfile
// and tar(1), and exactly once across crashes (the crash states made by hand, and a child killed
// at random moments).
#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <map>
#include <random>
#include <set>

#include <sys/wait.h>
#include <unistd.h>

#include "test_support.hpp"
#include "venice_batch/sink.hpp"
#include "venice_batch/webdataset.hpp"

using namespace venice_batch;
using test_support::fill_leaving;
using test_support::SmallTmpfs;
using test_support::TempDir;
namespace fs = std::filesystem;

namespace {

struct CommandResult {
  int status = -1;
  std::string out;
};

/// Runs a shell command (tar, python3 from PATH); its stdout and exit status.
CommandResult run_command(const std::string& command) {
  CommandResult r;
  std::FILE* p = ::popen(command.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) r.out.append(buf, n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

/// check_webdataset.py's verdict on `out` (exit status 0: no problem found); its summary on failure.
::testing::AssertionResult dataset_is_valid(const fs::path& out, std::optional<std::size_t> expect = std::nullopt,
                                           bool interrupted = false) {
  std::string cmd = "python3 " + quote(fs::path(VENICE_SOURCE_DIR) / "tests/check_webdataset.py") + " " + quote(out);
  if (expect) cmd += " --expect " + std::to_string(*expect);
  if (interrupted) cmd += " --interrupted";
  const auto r = run_command(cmd);
  if (r.status == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "check_webdataset.py exit " << r.status << ":\n" << r.out;
}

/// Stages sample `key` as the run does: <key>.<ext> (the image), <key>.txt, <key>.json.
void stage(const fs::path& out, const std::string& key, std::size_t image_bytes, const std::string& ext = "png") {
  fs::create_directories(out / "staging");
  test_support::write_file(out / "staging" / (key + "." + ext), std::string(image_bytes, 'i'));
  test_support::write_file(out / "staging" / (key + ".txt"), "a prompt for " + key);
  test_support::write_file(out / "staging" / (key + ".json"), "{\"key\": \"" + key + "\"}");
  EXPECT_TRUE(fs::exists(out / "staging" / (key + ".json"))) << "cannot stage " << key;
}

std::unique_ptr<ShardWriter> open_writer(const fs::path& out, ShardLimits limits, bool durable = false) {
  auto w = ShardWriter::open(out, limits, durable);
  if (!w) ADD_FAILURE() << "open: " << w.error().message();
  return w ? std::move(*w) : nullptr;
}

/// What a rerun does for jobs the journal records ok: every staged sample goes in again.
void add_all_staged(ShardWriter& w) {
  for (auto& s : w.list_staged()) w.add(std::move(s));
}

/// One whole run of the packer: opens a writer on `out`, adds every staged sample, closes.
::testing::AssertionResult pack_staged(const fs::path& out, ShardLimits limits) {
  auto w = open_writer(out, limits);
  if (!w) return ::testing::AssertionFailure() << "no writer on " << out;
  add_all_staged(*w);
  if (auto closed = w->close(); !closed) return ::testing::AssertionFailure() << "close: " << closed.error().message();
  return ::testing::AssertionSuccess();
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  if (!fs::exists(dir)) return names;  // a kill can come before the child made it
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> tar_listing(const fs::path& tar) {
  const auto r = run_command("tar -tf " + quote(tar));
  EXPECT_EQ(r.status, 0) << "tar -tf " << tar;
  std::vector<std::string> names;
  std::string line;
  for (char c : r.out) {
    if (c != '\n') line += c;
    else names.push_back(std::exchange(line, {}));
  }
  return names;
}

/// The keys in shards/NNNNN.tar (by tar(1), not by the code under test).
std::set<std::string> keys_in_shard(const fs::path& tar) {
  std::set<std::string> keys;
  for (const auto& n : tar_listing(tar)) keys.insert(n.substr(0, n.find('.')));
  return keys;
}

/// Sample i's key: "job-0007_0".
std::string key_n(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "job-%04d_0", i);
  return buf;
}

std::string read_json_field(const std::string& json, const std::string& field) {
  const auto at = json.find("\"" + field + "\": ");
  if (at == std::string::npos) return {};
  const auto start = at + field.size() + 4;
  return json.substr(start, json.find_first_of(",}", start) - start);
}

bool has_temp_files(const fs::path& dir) {
  for (const auto& n : names_in(dir))
    if (is_temp_file_name(n)) return true;
  return false;
}

}  // namespace

TEST(WebDatasetTest, PacksSamplesIntoZeroPaddedShardsOfTheGivenSize) {
  TempDir dir;
  const auto out = dir / "out";
  for (int i = 0; i < 7; ++i) stage(out, key_n(i), 1000 + i);
  std::uint64_t second_shard_bytes = 0;
  for (int i = 3; i < 6; ++i)
    for (const char* ext : {".png", ".txt", ".json"}) second_shard_bytes += fs::file_size(out / "staging" / (key_n(i) + ext));
  auto w = open_writer(out, {.samples = 3}, true);
  ASSERT_TRUE(w);
  add_all_staged(*w);
  ASSERT_TRUE(w->close());
  EXPECT_FALSE(w->error());

  EXPECT_EQ(names_in(out / "shards"), (std::vector<std::string>{"00000.tar", "00000_stats.json", "00001.tar",
                                                                "00001_stats.json", "00002.tar", "00002_stats.json"}));
  EXPECT_TRUE(names_in(out / "staging").empty()) << "packed samples are removed from staging/";
  EXPECT_TRUE(dataset_is_valid(out, 7));
  EXPECT_EQ(tar_listing(out / "shards/00000.tar"),
            (std::vector<std::string>{"job-0000_0.png", "job-0000_0.txt", "job-0000_0.json", "job-0001_0.png",
                                      "job-0001_0.txt", "job-0001_0.json", "job-0002_0.png", "job-0002_0.txt",
                                      "job-0002_0.json"}));
  EXPECT_EQ(keys_in_shard(out / "shards/00002.tar"), (std::set<std::string>{"job-0006_0"}));
  const auto stats = test_support::read_file(out / "shards/00001_stats.json");
  EXPECT_EQ(read_json_field(stats, "successes"), "3");
  EXPECT_EQ(read_json_field(stats, "count"), "3");
  EXPECT_EQ(read_json_field(stats, "failed"), "0");
  EXPECT_EQ(read_json_field(stats, "bytes"), std::to_string(second_shard_bytes));
  EXPECT_FALSE(read_json_field(stats, "start_time").empty());
  EXPECT_FALSE(read_json_field(stats, "end_time").empty());
}

TEST(WebDatasetTest, MembersAreOwnedByRootWithMode0644) {
  TempDir dir;
  const auto out = dir / "out";
  stage(out, "a_0", 10);
  ASSERT_TRUE(pack_staged(out, {}));
  const auto r = run_command("tar --numeric-owner -tvf " + quote(out / "shards/00000.tar"));
  ASSERT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("-rw-r--r-- 0/0"), std::string::npos) << r.out;
}

TEST(WebDatasetTest, StatsCountFailedJobsInTheShardInProgress) {
  TempDir dir;
  const auto out = dir / "out";
  for (int i = 0; i < 4; ++i) stage(out, key_n(i), 100);
  auto w = open_writer(out, {.samples = 2});
  ASSERT_TRUE(w);
  auto staged = w->list_staged();
  ASSERT_EQ(staged.size(), 4u);
  w->note_failed();  // before any shard is open: counted in the first
  w->add(staged[0]);
  w->add(staged[1]);
  w->add(staged[2]);
  w->note_failed();
  w->note_failed();
  w->add(staged[3]);
  ASSERT_TRUE(w->close());
  const auto first = test_support::read_file(out / "shards/00000_stats.json");
  EXPECT_EQ(read_json_field(first, "failed"), "1");
  EXPECT_EQ(read_json_field(first, "count"), "3");
  const auto second = test_support::read_file(out / "shards/00001_stats.json");
  EXPECT_EQ(read_json_field(second, "failed"), "2");
  EXPECT_EQ(read_json_field(second, "successes"), "2");
  EXPECT_EQ(read_json_field(second, "count"), "4");
}

TEST(WebDatasetTest, AByteCapClosesAShardBeforeItWouldPassTheCap) {
  TempDir dir;
  const auto out = dir / "out";
  for (int i = 0; i < 10; ++i) stage(out, key_n(i), 10'000);
  const std::uint64_t cap = 40'000;
  ASSERT_TRUE(pack_staged(out, {.samples = 1000, .bytes = cap}));
  EXPECT_TRUE(dataset_is_valid(out, 10));
  // A sample takes about 12.3 KB of tar (10 KB image, small .txt and .json, three headers):
  // three fit under 40,000 bytes with the end-of-archive blocks, a fourth would not.
  for (const char* n : {"00000.tar", "00001.tar", "00002.tar", "00003.tar"}) {
    EXPECT_LE(fs::file_size(out / "shards" / n), cap) << n;
    EXPECT_EQ(keys_in_shard(out / "shards" / n).size(), n == std::string("00003.tar") ? 1u : 3u) << n;
  }
  EXPECT_FALSE(fs::exists(out / "shards/00004.tar"));
}

TEST(WebDatasetTest, ASampleLargerThanTheCapGetsAShardOfItsOwn) {
  TempDir dir;
  const auto out = dir / "out";
  stage(out, "a_0", 1000);
  stage(out, "b_0", 100'000);
  stage(out, "c_0", 1000);
  ASSERT_TRUE(pack_staged(out, {.samples = 1000, .bytes = 20'000}));
  EXPECT_TRUE(dataset_is_valid(out, 3));
  EXPECT_EQ(keys_in_shard(out / "shards/00000.tar"), (std::set<std::string>{"a_0"}));
  EXPECT_EQ(keys_in_shard(out / "shards/00001.tar"), (std::set<std::string>{"b_0"}));
  EXPECT_EQ(keys_in_shard(out / "shards/00002.tar"), (std::set<std::string>{"c_0"}));
}

TEST(WebDatasetTest, ALaterRunContinuesWithTheNextShardNumber) {
  TempDir dir;
  const auto out = dir / "out";
  for (int i = 0; i < 3; ++i) stage(out, key_n(i), 100);
  ASSERT_TRUE(pack_staged(out, {.samples = 2}));  // 00000 (2 samples) and a small last 00001 (1)
  for (int i = 3; i < 5; ++i) stage(out, key_n(i), 100);
  auto w = open_writer(out, {.samples = 2});
  ASSERT_TRUE(w);
  EXPECT_EQ(w->next_shard(), 2u);
  add_all_staged(*w);
  ASSERT_TRUE(w->close());
  EXPECT_EQ(keys_in_shard(out / "shards/00002.tar"), (std::set<std::string>{key_n(3), key_n(4)}));
  EXPECT_TRUE(dataset_is_valid(out, 5));
}

TEST(WebDatasetTest, ListStagedGroupsFilesByKeyImageFirstAndIgnoresTempFiles) {
  TempDir dir;
  const auto out = dir / "out";
  auto w = open_writer(out, {});
  ASSERT_TRUE(w);
  stage(out, "a%2Eb_0", 5, "webp");
  test_support::write_file(out / "staging/.b_0.png.tmp-0123456789abcdef", "partial");
  test_support::write_file(out / "staging/c_0.txt", "prompt only: its image was never staged");
  const auto staged = w->list_staged();
  ASSERT_EQ(staged.size(), 1u);
  EXPECT_EQ(staged[0].key, "a%2Eb_0");
  EXPECT_EQ(staged[0].files, (std::vector<std::string>{"a%2Eb_0.webp", "a%2Eb_0.txt", "a%2Eb_0.json"}));
  EXPECT_EQ(staged[0].bytes, fs::file_size(out / "staging/a%2Eb_0.webp") + fs::file_size(out / "staging/a%2Eb_0.txt") +
                                 fs::file_size(out / "staging/a%2Eb_0.json"));
  ASSERT_TRUE(w->close());
}

// Crash state (a): killed while a shard was being written.
TEST(WebDatasetTest, ATempShardLeftByAKillIsRemovedAndItsSamplesGoIntoALaterShard) {
  TempDir dir;
  const auto out = dir / "out";
  for (int i = 0; i < 3; ++i) stage(out, key_n(i), 100);
  fs::create_directories(out / "shards");
  test_support::write_file(out / "shards/.00000.tar.tmp-0123456789abcdef", std::string(700, 'x'));  // half a tar
  auto w = open_writer(out, {.samples = 10});
  ASSERT_TRUE(w);
  EXPECT_FALSE(fs::exists(out / "shards/.00000.tar.tmp-0123456789abcdef"));
  EXPECT_EQ(w->next_shard(), 0u);
  ASSERT_EQ(w->list_staged().size(), 3u) << "a temp shard's samples are all still staged";
  add_all_staged(*w);
  ASSERT_TRUE(w->close());
  EXPECT_EQ(keys_in_shard(out / "shards/00000.tar"), (std::set<std::string>{key_n(0), key_n(1), key_n(2)}));
  EXPECT_TRUE(dataset_is_valid(out, 3));
}

// Crash state (b): killed after a shard's rename, before its staged files were removed.
TEST(WebDatasetTest, AKillBetweenRenameAndCleanupNeverLeavesASampleInTwoShards) {
  TempDir dir;
  const auto out = dir / "out";
  for (int i = 0; i < 4; ++i) stage(out, key_n(i), 100);
  const auto saved = dir / "saved";
  fs::copy(out / "staging", saved);
  ASSERT_TRUE(pack_staged(out, {.samples = 2}));
  // The state a kill leaves: 00001.tar renamed, its samples (2 and 3) still staged.
  for (int i = 2; i < 4; ++i)
    for (const char* ext : {".png", ".txt", ".json"})
      fs::copy_file(saved / (key_n(i) + ext), out / "staging" / (key_n(i) + ext));
  stage(out, key_n(4), 100);  // a job recorded ok after it, not yet packed

  auto w = open_writer(out, {.samples = 2});
  ASSERT_TRUE(w);
  const auto staged = w->list_staged();
  ASSERT_EQ(staged.size(), 1u) << "the samples 00001.tar holds are no longer staged";
  EXPECT_EQ(staged[0].key, key_n(4));
  EXPECT_EQ(w->next_shard(), 2u);
  add_all_staged(*w);
  ASSERT_TRUE(w->close());
  EXPECT_TRUE(dataset_is_valid(out, 5));
  EXPECT_EQ(keys_in_shard(out / "shards/00002.tar"), (std::set<std::string>{key_n(4)}));
}

// Crash state (c): killed after the rename, before the stats.
TEST(WebDatasetTest, AMissingStatsFileIsWrittenAtOpenFromTheShard) {
  TempDir dir;
  const auto out = dir / "out";
  for (int i = 0; i < 4; ++i) stage(out, key_n(i), 100);
  ASSERT_TRUE(pack_staged(out, {.samples = 2}));
  const auto before = test_support::read_file(out / "shards/00001_stats.json");
  fs::remove(out / "shards/00001_stats.json");
  auto w = open_writer(out, {.samples = 2});
  ASSERT_TRUE(w);
  ASSERT_TRUE(w->close());
  const auto after = test_support::read_file(out / "shards/00001_stats.json");
  EXPECT_EQ(read_json_field(after, "successes"), "2");
  EXPECT_EQ(read_json_field(after, "bytes"), read_json_field(before, "bytes"));
  EXPECT_EQ(read_json_field(after, "recovered"), "true");
  EXPECT_TRUE(dataset_is_valid(out, 4));
}

TEST(WebDatasetTest, AnUnreadableFinishedShardIsRefusedAtOpen) {
  TempDir dir;
  const auto out = dir / "out";
  fs::create_directories(out / "shards");
  test_support::write_file(out / "shards/00000.tar", std::string(1000, 'x'));  // never one we renamed
  std::string culprit;
  auto w = ShardWriter::open(out, {}, false, &culprit);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().value(), EIO);
  // A hostile test found the refusal blamed the shards folder, which is fine: the file is named.
  EXPECT_NE(culprit.find((out / "shards/00000.tar").string() + ", the newest shard"), std::string::npos) << culprit;
  // A link planted at a shard's name is refused the same way, naming it.
  fs::remove(out / "shards/00000.tar");
  test_support::write_file(dir / "elsewhere.tar", "");
  fs::create_symlink(dir / "elsewhere.tar", out / "shards/00000.tar");
  auto linked = ShardWriter::open(out, {}, false, &culprit);
  ASSERT_FALSE(linked);
  EXPECT_NE(culprit.find("shards/00000.tar"), std::string::npos) << culprit;
}

TEST(WebDatasetTest, SymbolicLinksForStagingOrShardsAreRefused) {
  TempDir dir;
  fs::create_directories(dir / "elsewhere");
  for (const char* sub : {"staging", "shards"}) {
    const auto out = dir / (std::string("out-") + sub);
    fs::create_directories(out);
    fs::create_directory_symlink(dir / "elsewhere", out / sub);
    auto w = ShardWriter::open(out, {}, false);
    ASSERT_FALSE(w) << sub;
    EXPECT_EQ(w.error().value(), ELOOP) << sub;
  }
  EXPECT_TRUE(names_in(dir / "elsewhere").empty());
}

TEST(WebDatasetTest, ASampleAddedTwiceIsAnErrorNotADuplicate) {
  TempDir dir;
  const auto out = dir / "out";
  stage(out, "a_0", 10);
  auto w = open_writer(out, {.samples = 10});
  ASSERT_TRUE(w);
  auto staged = w->list_staged();
  w->add(staged[0]);
  w->add(staged[0]);
  auto closed = w->close();
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error().value(), EEXIST);
  ASSERT_TRUE(w->error());
  EXPECT_NE(w->error()->find("a_0"), std::string::npos) << *w->error();
  EXPECT_FALSE(fs::exists(out / "shards/00000.tar"));
  EXPECT_TRUE(fs::exists(out / "staging/a_0.png")) << "the sample stays staged for a later run";
}

TEST(WebDatasetTest, KeysHoldNoDotAndMatchTheLayoutsStem) {
  EXPECT_EQ(webdataset_key("cat-01", 0), "cat-01_0");
  EXPECT_EQ(webdataset_key("cat.v2", 3), "cat%2Ev2_3");
  EXPECT_EQ(webdataset_key("a.b.c", 12), "a%2Eb%2Ec_12");
  EXPECT_EQ(webdataset_key("../x/y", 0), "%2E%2E%2Fx%2Fy_0");  // not a valid id, still no '.' or '/'
  EXPECT_EQ(webdataset_key("50%", 0), "50%25_0");
}

TEST(WebDatasetTest, DistinctIdsAndVariantsNeverShareAKey) {
  // Every id of up to 4 characters over the characters that could confuse a mapping ('.' and
  // its escape's pieces, the separator, digits), with variants 0..12: "a_1" variant 0 against
  // "a" variant 10, "a.b" against "a%2Eb", and so on.
  const std::string alphabet = "a._%2E1-";
  std::vector<std::string> ids{""};
  for (std::size_t len = 1, from = 0; len <= 4; ++len) {
    const std::size_t to = ids.size();
    for (std::size_t i = from; i < to; ++i)
      for (char c : alphabet) ids.push_back(ids[i] + c);
    from = to;
  }
  std::map<std::string, std::pair<std::string, unsigned>> seen;
  for (const auto& id : ids) {
    for (unsigned k = 0; k <= 12; ++k) {
      const auto key = webdataset_key(id, k);
      ASSERT_EQ(key.find_first_of("./"), std::string::npos) << key;
      auto [it, fresh] = seen.emplace(key, std::pair{id, k});
      ASSERT_TRUE(fresh) << "(" << id << ", " << k << ") and (" << it->second.first << ", " << it->second.second
                         << ") both give " << key;
    }
  }
  EXPECT_GT(seen.size(), 50'000u);
}

TEST(WebDatasetTest, LongDottedIdsSurviveAsTarMemberNames) {
  TempDir dir;
  const auto out = dir / "out";
  // Past ustar's 100-byte names (a pax header carries them), within a file name's 255 bytes
  // (the sample is staged as files first): 120 bytes of id, 40 dots.
  std::string id;
  while (id.size() < 120) id += "ab.";
  const auto key = webdataset_key(id, 1);
  ASSERT_EQ(key.size(), 202u);
  stage(out, key, 300);
  stage(out, webdataset_key("short.one", 0), 300);
  ASSERT_TRUE(pack_staged(out, {}));
  EXPECT_TRUE(dataset_is_valid(out, 2));
  const auto names = tar_listing(out / "shards/00000.tar");
  EXPECT_NE(std::find(names.begin(), names.end(), key + ".png"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "short%2Eone_0.json"), names.end());
}

// --- A disk that fills up: a real, small tmpfs (test_support::SmallTmpfs) ---

TEST(WebDatasetTest, AFullDiskIsAnErrorValueNoShardIsRenamedAndSamplesStayStaged) {
  SmallTmpfs disk(2 * 1024 * 1024);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here: " << disk.why_not();
  const auto out = disk / "out";
  for (int i = 0; i < 6; ++i) stage(out, key_n(i), 100'000);
  auto w = open_writer(out, {.samples = 100}, true);
  ASSERT_TRUE(w);
  fill_leaving(disk / "filler", 64 * 1024);  // the shard (600 KB) does not fit
  add_all_staged(*w);
  auto closed = w->close();
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error(), boost::system::error_code(ENOSPC, boost::system::system_category()));
  ASSERT_TRUE(w->error());
  EXPECT_NE(w->error()->find("00000.tar"), std::string::npos) << *w->error();
  EXPECT_TRUE(names_in(out / "shards").empty()) << "no shard, no stats, no temp file";
  EXPECT_EQ(names_in(out / "staging").size(), 18u) << "every sample stays staged";
  w.reset();

  fs::remove(disk / "filler");  // space comes back; the next run packs what is staged
  w = open_writer(out, {.samples = 100}, true);
  ASSERT_TRUE(w);
  add_all_staged(*w);
  ASSERT_TRUE(w->close());
  EXPECT_TRUE(dataset_is_valid(out, 6));
  EXPECT_TRUE(names_in(out / "staging").empty());
}

// --- A real kill -9 at random moments of packing, many times over one out dir ---

TEST(WebDatasetTest, KilledAtRandomMomentsEverySampleEndsUpInExactlyOneShard) {
  TempDir dir;
  const auto out = dir / "out";
  std::mt19937 rng(20240611);
  int staged_so_far = 0;
  std::map<std::string, std::set<std::string>> shard_keys;  // a finished shard never changes
  int killed_mid_work = 0;
  for (int round = 0; round < 20; ++round) {
    // Jobs recorded ok meanwhile: staged, then (in the child, as a rerun would) added.
    for (int i = 0; i < 10; ++i) stage(out, key_n(staged_so_far++), 2000 + 97 * i);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      auto w = ShardWriter::open(out, {.samples = 3}, false);
      if (!w) ::_exit(3);
      add_all_staged(**w);
      ::_exit((*w)->close() ? 0 : 4);
    }
    ::usleep(std::uniform_int_distribution<useconds_t>(0, 6000)(rng));
    ::kill(child, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0)) << "round " << round;
    if (WIFSIGNALED(status)) ++killed_mid_work;

    // Whatever the moment: finished shards are whole and hold no key twice, and a staged sample
    // can be in a finished shard only if that shard is the highest (open() removes it).
    ASSERT_TRUE(dataset_is_valid(out, std::nullopt, true)) << "round " << round;
    std::vector<std::string> shards;
    for (const auto& n : names_in(out / "shards"))
      if (n.ends_with(".tar") && n[0] != '.') shards.push_back(n);
    std::set<std::string> staged_keys;
    for (const auto& n : names_in(out / "staging"))
      if (!is_temp_file_name(n)) staged_keys.insert(n.substr(0, n.find('.')));
    for (std::size_t s = 0; s + 1 < shards.size(); ++s) {
      auto [it, fresh] = shard_keys.try_emplace(shards[s]);
      if (fresh) it->second = keys_in_shard(out / "shards" / shards[s]);
      for (const auto& key : it->second)
        ASSERT_FALSE(staged_keys.contains(key)) << key << " is staged and in " << shards[s] << ", not the last shard";
    }
  }
  EXPECT_GT(killed_mid_work, 0) << "no child was killed before it finished: the test tested nothing";
  ASSERT_TRUE(pack_staged(out, {.samples = 3}));
  EXPECT_TRUE(dataset_is_valid(out, static_cast<std::size_t>(staged_so_far)));
  EXPECT_TRUE(names_in(out / "staging").empty());
  EXPECT_FALSE(has_temp_files(out / "shards"));
}

// A power cut must not leave a committed shard holding a sample whose ok line was not durable
// yet: the run syncs its journal in set_before_commit, which runs before each shard's rename,
// and a failure there commits nothing (the samples stay staged for a later run).
TEST(WebDatasetTest, TheHookBeforeEachCommitRunsBeforeTheRenameAndItsFailureCommitsNothing) {
  TempDir dir;
  const auto out = dir / "out";
  for (int i = 0; i < 4; ++i) stage(out, key_n(i), 100);
  {
    auto w = open_writer(out, {.samples = 2}, true);
    ASSERT_TRUE(w);
    std::vector<std::vector<std::string>> shards_seen;  // what shards/ held at each call
    w->set_before_commit([&]() -> boost::system::result<void> {
      std::vector<std::string> finished;  // the shard in progress is there under its temp name
      for (auto& name : names_in(out / "shards"))
        if (!is_temp_file_name(name)) finished.push_back(name);
      shards_seen.push_back(finished);
      return {};
    });
    add_all_staged(*w);
    ASSERT_TRUE(w->close());
    ASSERT_EQ(shards_seen.size(), 2u);
    EXPECT_TRUE(shards_seen[0].empty()) << "called before 00000.tar exists";
    EXPECT_EQ(shards_seen[1], (std::vector<std::string>{"00000.tar", "00000_stats.json"}));
  }
  TempDir dir2;
  const auto out2 = dir2 / "out";
  for (int i = 0; i < 2; ++i) stage(out2, key_n(i), 100);
  auto w = open_writer(out2, {.samples = 2}, true);
  ASSERT_TRUE(w);
  w->set_before_commit([]() -> boost::system::result<void> {
    return boost::system::error_code(EIO, boost::system::system_category());
  });
  add_all_staged(*w);
  EXPECT_FALSE(w->close());
  ASSERT_TRUE(w->error());
  EXPECT_NE(w->error()->find("journal"), std::string::npos) << *w->error();
  EXPECT_TRUE(names_in(out2 / "shards").empty()) << "no shard committed";
  EXPECT_EQ(names_in(out2 / "staging").size(), 6u) << "its samples stay staged";
}
