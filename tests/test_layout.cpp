// Layouts (issue 11): the files fan-out, the layout fixed for an out dir, imagefolder's
// metadata.jsonl and webdataset's shards, run end to end against the emulator and checked with
// a stdlib Python reader (tarfile) and tar -t, and the webdataset exactly-once rules under
// SIGKILL at random moments.
#include <gtest/gtest.h>
#include <fmt/format.h>

#include <map>
#include <set>

#include <simdjson.h>

#include "fault_fixture.hpp"
#include "venice_batch/imagefolder.hpp"
#include "venice_batch/layout.hpp"

using namespace venice_batch;
using namespace fault_test;

namespace {

std::set<std::string> files_under(const std::filesystem::path& dir) {
  std::set<std::string> out;
  if (!std::filesystem::exists(dir)) return out;
  for (auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out.insert(std::filesystem::relative(e.path(), dir).string());
  return out;
}

// python3 tests/check_webdataset.py SHARDS: its JSON summary.
std::string check_shards(const std::filesystem::path& shards) {
  auto r = test_support::run_process(
      {"/usr/bin/python3", std::string(VENICE_SOURCE_DIR) + "/tests/check_webdataset.py", shards.string()}, {});
  EXPECT_EQ(r.exit_status, 0) << r.out << r.err;
  return r.out;
}

// Every key of every finished shard (tar -t, the member names without their extension).
std::map<std::string, int> keys_in_shards(const std::filesystem::path& shards) {
  std::map<std::string, int> count;
  if (!std::filesystem::exists(shards)) return count;  // killed before the first start got that far
  for (auto& e : std::filesystem::directory_iterator(shards)) {
    const auto name = e.path().filename().string();
    if (!name.ends_with(".tar") || name.starts_with(".")) continue;
    auto r = test_support::run_process({"/usr/bin/tar", "-tf", e.path().string()}, {});
    EXPECT_EQ(r.exit_status, 0) << name << r.err;
    std::istringstream in(r.out);
    for (std::string member; std::getline(in, member);)
      if (member.ends_with(".txt")) ++count[member.substr(0, member.size() - 4)];
  }
  return count;
}

}  // namespace

TEST(LayoutTest, SettingsReadBackAndEveryKindHasAName) {
  for (auto kind : {LayoutKind::files, LayoutKind::webdataset, LayoutKind::imagefolder}) {
    LayoutSettings s;
    s.kind = kind;
    s.shard_samples = 77;
    s.shard_bytes = 5 << 20;
    EXPECT_EQ(parse_layout_kind(layout_kind_name(kind)), kind);
    auto back = parse_layout_json(layout_json(s));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->kind, kind);
    if (kind == LayoutKind::webdataset) { EXPECT_EQ(*back, s); }
  }
  EXPECT_FALSE(parse_layout_kind("tar"));
  EXPECT_FALSE(parse_layout_json(R"({"layout":"zip","fanout_digits":3})"));
  EXPECT_FALSE(parse_layout_json("{"));
}

TEST(LayoutTest, TheFanOutFolderIsFixedByTheIdAndSpreadsIdsEvenly) {
  EXPECT_EQ(fanout_folder("cat", 3), fanout_folder("cat", 3));
  EXPECT_EQ(fanout_folder("cat", 3).size(), 3u);
  EXPECT_EQ(fanout_folder("cat", 0), "");
  // 100,000 ids over 4,096 folders: none near 10,000 (the cap the issue asks for at millions).
  std::map<std::string, int> per_folder;
  for (int i = 0; i < 100000; ++i) ++per_folder[fanout_folder("job-" + std::to_string(i), 3)];
  int most = 0;
  for (auto& [folder, n] : per_folder) most = std::max(most, n);
  EXPECT_GT(per_folder.size(), 4000u);
  EXPECT_LT(most, 60) << "a folder holds far more than the mean of 24";
}

TEST(LayoutTest, WebdatasetKeysHoldNoDotAndReadBackToTheirId) {
  for (std::string id : {"plain", "a.b", "a.b.c", "v1.2_x-3", "a%2Eb"}) {
    const std::string stem = webdataset_key_stem(id);
    EXPECT_EQ(stem.find('.'), std::string::npos) << id;
    EXPECT_EQ(webdataset_id_of(stem + "_3"), id) << id;
  }
  EXPECT_NE(webdataset_key_stem("a.b"), webdataset_key_stem("a-b"));
  EXPECT_NE(webdataset_key_stem("a.b"), webdataset_key_stem("a_b"));
}

TEST(LayoutTest, FilesLayoutSpreadsImagesOverHashFoldersAndRecordsTheLayout) {
  Fixture fx(MockFaults{});
  auto r = fx.run(fx.manifest(6), {"--sidecars", "txt"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  auto layout = parse_layout_json(test_support::read_file(fx.out() / "layout.json"));
  ASSERT_TRUE(layout);
  EXPECT_EQ(layout->kind, LayoutKind::files);
  EXPECT_EQ(layout->fanout_digits, 3u);
  for (auto& [id, l] : final_state(fx.out())) {
    ASSERT_EQ(l.files.size(), 1u);
    const std::string want = "images/" + fanout_folder(id, 3) + "/" + id + "_0.png";
    EXPECT_EQ(l.files[0], want);
    EXPECT_TRUE(std::filesystem::exists(fx.out() / want));
    EXPECT_TRUE(std::filesystem::exists(fx.out() / ("images/" + fanout_folder(id, 3) + "/" + id + "_0.txt")));
  }
  expect_clean_images(fx.out());
}

TEST(LayoutTest, ARerunWithAnotherLayoutExits2NamingBothAndChangesNothing) {
  Fixture fx(MockFaults{});
  const auto manifest = fx.manifest(3);
  ASSERT_EQ(fx.run(manifest, {"--layout", "webdataset", "--shard-size", "2"}).exit_status, 0);
  const auto before = files_under(fx.out());
  auto r = fx.run(manifest, {"--layout", "files"});
  EXPECT_EQ(r.exit_status, 2);
  EXPECT_NE(r.err.find("layout webdataset (shard_size 2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("layout files"), std::string::npos) << r.err;
  auto other_size = fx.run(manifest, {"--layout", "webdataset", "--shard-size", "5"});
  EXPECT_EQ(other_size.exit_status, 2) << "another shard size is another layout";
  EXPECT_NE(other_size.err.find("shard_size 5"), std::string::npos) << other_size.err;
  EXPECT_EQ(files_under(fx.out()), before);
  EXPECT_EQ(fx.run(manifest, {"--layout", "webdataset", "--shard-size", "2"}).exit_status, 0);
}

TEST(LayoutTest, AnOutDirFromBeforeLayoutsKeepsItsFlatImagesFolder) {
  Fixture fx(MockFaults{});
  const auto manifest = fx.manifest(2);
  // What an older version left: images flat in images/, a journal, no layout.json (a layout.json
  // with no fan-out, removed after the run, leaves just that).
  std::filesystem::create_directories(fx.out());
  LayoutSettings flat;
  flat.fanout_digits = 0;
  test_support::write_file(fx.out() / "layout.json", layout_json(flat));
  ASSERT_EQ(fx.run(manifest).exit_status, 0);
  std::filesystem::remove(fx.out() / "layout.json");
  test_support::write_file(fx.dir / "m2.jsonl", test_support::read_file(manifest) +
                                                    R"({"id":"new","prompt":"p","width":64,"height":64})" "\n");
  auto r = fx.run(fx.dir / "m2.jsonl");
  ASSERT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(final_state(fx.out())["new"].files.at(0), "images/new_0.webp");
  EXPECT_EQ(parse_layout_json(test_support::read_file(fx.out() / "layout.json"))->fanout_digits, 0u);
  auto wd = fx.run(manifest, {"--layout", "webdataset"});
  EXPECT_EQ(wd.exit_status, 2) << wd.err;
}

TEST(LayoutTest, AnOutDirThatLostItsLayoutJsonIsRefusedRatherThanGuessed) {
  // A files out dir with its fan-out, a webdataset and an imagefolder whose layout.json was
  // deleted: taken for a pre-layout dir, the next run wrote flat images beside the fan-out or
  // the shards (a dataset reader of the shards never saw them). Now: exit 2, nothing changed.
  for (const char* layout : {"files", "webdataset", "imagefolder"}) {
    Fixture fx(MockFaults{});
    const auto manifest = fx.manifest(3);
    ASSERT_EQ(fx.run(manifest, {"--layout", layout}).exit_status, 0) << layout;
    std::filesystem::remove(fx.out() / "layout.json");
    const auto before = files_under(fx.out());
    test_support::write_file(fx.dir / "m2.jsonl", test_support::read_file(manifest) +
                                                      R"({"id":"new","prompt":"p","width":64,"height":64})" "\n");
    auto r = fx.run(fx.dir / "m2.jsonl", {"--layout", layout});
    EXPECT_EQ(r.exit_status, 2) << layout << r.err;
    EXPECT_NE(r.err.find("no layout.json"), std::string::npos) << r.err;
    EXPECT_EQ(files_under(fx.out()), before) << layout;
  }
}

TEST(LayoutTest, ImagefolderMetadataNamesEveryKeptImageExactlyOnce) {
  Fixture fx(schedule("ok,blurred,ok,ok,ok"));
  std::string m;
  for (int i = 0; i < 4; ++i)
    m += "{\"id\":\"f" + std::to_string(i) + "\",\"prompt\":\"fox " + std::to_string(i) +
         "\",\"width\":64,\"height\":64,\"seed\":" + std::to_string(i + 10) + ",\"variants\":" + (i == 0 ? "2" : "1") +
         "}\n";
  test_support::write_file(fx.dir / "m.jsonl", m);
  auto r = fx.run(fx.dir / "m.jsonl", {"--layout", "imagefolder", "--concurrency", "1"});
  ASSERT_EQ(r.exit_status, 1) << r.err;  // one job blurred: failed, kept apart
  std::map<std::string, int> named;
  simdjson::dom::parser p;
  for (const auto& line : test_support::read_lines(fx.out() / "metadata.jsonl")) {
    simdjson::dom::element e;
    ASSERT_EQ(p.parse(line).get(e), simdjson::SUCCESS) << line;
    const std::string file(e["file_name"].get_string().value());
    ++named[file];
    EXPECT_TRUE(std::filesystem::exists(fx.out() / file)) << file;
    EXPECT_TRUE(e["seed"].is_int64()) << line;
    EXPECT_TRUE(std::string_view(e["prompt"].get_string().value()).starts_with("fox ")) << line;
  }
  std::set<std::string> ok_files;
  for (auto& [id, l] : final_state(fx.out()))
    if (l.status == "ok") ok_files.insert(l.files.begin(), l.files.end());
  EXPECT_EQ(ok_files.size(), 4u) << "f0's two variants and two more jobs";
  for (auto& f : ok_files) EXPECT_EQ(named[f], 1) << f;
  EXPECT_EQ(named.size(), ok_files.size()) << "a line for an image that is not a kept one";
  // The convention, as a loader reads it (stdlib script): the blurred image is in a hidden folder.
  EXPECT_TRUE(std::filesystem::exists(fx.out() / ".flagged"));
  bool named_where_it_is = false;  // the blurred job's message names the folder its image is in
  for (auto& [id, l] : final_state(fx.out()))
    if (l.status == "failed") named_where_it_is |= l.error_message.find("kept in .flagged/") != std::string::npos;
  EXPECT_TRUE(named_where_it_is);
  auto check = test_support::run_process(
      {"/usr/bin/python3", std::string(VENICE_SOURCE_DIR) + "/tests/check_imagefolder.py", fx.out().string(), "--expect",
       "4"},
      {});
  EXPECT_EQ(check.exit_status, 0) << check.out << check.err;
  // A rerun adds nothing and keeps one line per image (the blurred job stays failed: exit 1).
  ASSERT_EQ(fx.run(fx.dir / "m.jsonl", {"--layout", "imagefolder"}).exit_status, 1);
  EXPECT_EQ(test_support::read_lines(fx.out() / "metadata.jsonl").size(), ok_files.size());
}

TEST(LayoutTest, ImagefolderCompactionDropsLinesOfJobsNotRecordedOkAndKeepsTheLastOfEachFile) {
  TempDir dir;
  const auto path = dir.path() / "metadata.jsonl";
  ImageMetadata meta;
  meta.prompt = "p";
  test_support::write_file(path, imagefolder_line("images/a_0.png", "a", 0, meta) +
                                     imagefolder_line("images/b_0.png", "b", 0, meta) +
                                     imagefolder_line("images/a_0.png", "a", 0, meta) + R"({"file_name":"images/c_0.p)");
  auto done = compact_imagefolder_metadata(path, [](std::string_view id, std::string_view) { return id == "a"; }, false);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->kept, 1u);
  EXPECT_EQ(done->dropped, 3u) << "b not ok, a's first line superseded, c torn";
  EXPECT_EQ(test_support::read_lines(path).size(), 1u);
}

TEST(LayoutTest, WebdatasetShardsHoldEverySampleWithItsTxtAndJson) {
  Fixture fx(MockFaults{});
  std::string m;
  for (int i = 0; i < 7; ++i)
    m += "{\"id\":\"set.v1." + std::to_string(i) + "\",\"prompt\":\"owl " + std::to_string(i) +
         "\",\"width\":64,\"height\":64}\n";
  test_support::write_file(fx.dir / "m.jsonl", m);
  auto r = fx.run(fx.dir / "m.jsonl", {"--layout", "webdataset", "--shard-size", "3", "--report"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  const std::string summary = check_shards(fx.out() / "shards");
  EXPECT_NE(summary.find("\"samples\": 7"), std::string::npos) << summary;
  auto keys = keys_in_shards(fx.out() / "shards");
  EXPECT_EQ(keys.size(), 7u);
  for (auto& [key, n] : keys) {
    EXPECT_EQ(n, 1) << key;
    EXPECT_EQ(key.find('.'), std::string::npos) << key;
  }
  EXPECT_TRUE(std::filesystem::exists(fx.out() / "shards/00000.tar"));
  EXPECT_TRUE(std::filesystem::exists(fx.out() / "shards/00002_stats.json"));
  EXPECT_TRUE(files_under(fx.out() / "staging").empty()) << "packed samples left in staging/";
  // What the user is pointed at is where the samples are: the summary names shards/, and the
  // report's gallery the shard of each image (staging/ is empty: its images were links to nothing).
  EXPECT_NE(r.err.find("shards:  " + (fx.out() / "shards").string()), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("staging/"), std::string::npos) << r.err;
  const auto report = test_support::read_file(fx.out() / "report.html");
  EXPECT_NE(report.find(R"("layout":"webdataset")"), std::string::npos);
  std::size_t located = 0;
  for (const std::string shard : {"00000.tar", "00001.tar", "00002.tar"}) {
    auto listed = test_support::run_process({"/usr/bin/tar", "-tf", (fx.out() / "shards" / shard).string()}, {});
    std::istringstream in(listed.out);
    for (std::string member; std::getline(in, member);) {
      if (!member.ends_with(".webp")) continue;
      ++located;
      EXPECT_NE(report.find("shards/" + shard + "#" + member), std::string::npos) << member << " in " << shard;
    }
  }
  EXPECT_EQ(located, 7u);
  EXPECT_EQ(report.find("\"staging/"), std::string::npos) << "a gallery image pointing at staging/";
  // The .json of a sample names its id, key and seedless request, and the timings.
  auto x = test_support::run_process({"/usr/bin/tar", "-xOf", (fx.out() / "shards/00000.tar").string(),
                                      webdataset_key_stem("set.v1.0") + "_0.json"}, {});
  ASSERT_EQ(x.exit_status, 0) << x.err;
  simdjson::dom::parser p;
  simdjson::dom::element e;
  ASSERT_EQ(p.parse(x.out).get(e), simdjson::SUCCESS) << x.out;
  EXPECT_EQ(std::string_view(e["id"].get_string().value()), "set.v1.0");
  EXPECT_EQ(std::string_view(e["key"].get_string().value()), webdataset_key_stem("set.v1.0") + "_0");
  EXPECT_TRUE(e["timings"]["total_ms"].is_double());
  // A rerun sends nothing and writes no new shard.
  const auto requests = fx.server->stats().requests;
  ASSERT_EQ(fx.run(fx.dir / "m.jsonl", {"--layout", "webdataset", "--shard-size", "3"}).exit_status, 0);
  EXPECT_EQ(fx.server->stats().requests, requests);
  EXPECT_FALSE(std::filesystem::exists(fx.out() / "shards/00003.tar"));
}

// Found by a hostile test: on a full disk, a sample's .txt or .json that could not be written was
// a warning, the job was recorded ok and its image went into a shard alone, for good (a rerun did
// not mend it). The .txt and .json are members of the sample: a failure to write one fails the
// write like the image's (the run stops, the job is not recorded), and the next run does it whole.
TEST(LayoutTest, AWebdatasetSampleIsNeverPackedWithoutItsTxtAndJson) {
  Fixture fx(MockFaults{});
  test_support::write_file(fx.dir / "one.jsonl", R"({"id":"a","prompt":"owl a","width":64,"height":64})" "\n");
  ASSERT_EQ(fx.run(fx.dir / "one.jsonl", {"--layout", "webdataset", "--shard-size", "1"}).exit_status, 0);
  // Something the .txt cannot be written over (a folder that is not empty: a start removes staged
  // files of jobs not recorded ok, and would take an empty one away).
  const auto blocker = fx.out() / "staging" / (webdataset_key_stem("b") + "_0.txt");
  std::filesystem::create_directories(blocker / "x");
  test_support::write_file(fx.dir / "two.jsonl", test_support::read_file(fx.dir / "one.jsonl") +
                                                     R"({"id":"b","prompt":"owl b","width":64,"height":64})" "\n");
  auto failed = fx.run(fx.dir / "two.jsonl", {"--layout", "webdataset", "--shard-size", "1"});
  EXPECT_EQ(failed.exit_status, 3) << failed.err;
  auto s = final_state(fx.out());
  EXPECT_EQ(s["b"].status, "failed");
  EXPECT_EQ(s["b"].error_kind, "write_failed");
  EXPECT_EQ(keys_in_shards(fx.out() / "shards").count(webdataset_key_stem("b") + "_0"), 0u);
  std::filesystem::remove_all(blocker);
  auto again = fx.run(fx.dir / "two.jsonl", {"--layout", "webdataset", "--shard-size", "1"});
  ASSERT_EQ(again.exit_status, 0) << again.err;
  const std::string summary = check_shards(fx.out() / "shards");  // every sample with its .txt and .json
  EXPECT_NE(summary.find("\"samples\": 2"), std::string::npos) << summary;
}

// Found by a hostile test: with --results-format openai-batch, batch_output.jsonl named each
// image as it was staged (staging/<key>.webp), gone once packed: every path pointed at nothing.
// A packed image is named in its shard, as the summary and the report name it.
TEST(LayoutTest, OpenAiBatchOutputPointsAtEachWebdatasetImageInItsShard) {
  Fixture fx(MockFaults{});
  std::string m;
  for (int i = 0; i < 3; ++i) m += fmt::format(R"({{"id":"o.{}","prompt":"owl {}","width":64,"height":64}})", i, i) + "\n";
  test_support::write_file(fx.dir / "m.jsonl", m);
  auto r = fx.run(fx.dir / "m.jsonl", {"--layout", "webdataset", "--shard-size", "2", "--results-format", "openai-batch"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  simdjson::dom::parser p;
  std::size_t checked = 0;
  for (const auto& line : test_support::read_lines(fx.out() / "batch_output.jsonl")) {
    simdjson::dom::element e;
    ASSERT_EQ(p.parse(line).get(e), simdjson::SUCCESS) << line;
    simdjson::dom::array data;  // held here: a range-for over get_array().value() of a temporary dangles (ASan)
    ASSERT_EQ(e["response"]["body"]["data"].get_array().get(data), simdjson::SUCCESS) << line;
    for (auto f : data) {
      const std::string path(f["path"].get_string().value());
      const auto hash = path.find('#');
      ASSERT_TRUE(path.starts_with("shards/") && hash != std::string::npos) << path;
      auto listed = test_support::run_process({"/usr/bin/tar", "-tf", (fx.out() / path.substr(0, hash)).string()}, {});
      EXPECT_NE(listed.out.find(path.substr(hash + 1) + "\n"), std::string::npos) << path << " not in " << listed.out;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 3u);
}

// SIGKILL at random moments, then reruns until done: every job recorded ok is in exactly one
// finished shard exactly once, no shard is half-written (each opens with tarfile and tar -t), no
// job recorded ok is requested again, and what an unfinished shard held is in a later one.
TEST(LayoutTest, WebdatasetSigkillAtRandomMomentsKeepsEverySampleInExactlyOneShard) {
  // 80 ms per answer: 60 jobs at concurrency 4 take 1.2 s, so a kill within 480 ms leaves at
  // least 760 ms of work and the second run is killed too, however fast the machine (with 20 ms
  // a fast machine finished the second run before its kill and the test failed).
  Fixture fx(MockFaults{}, std::chrono::milliseconds(80));
  const int jobs = 60;
  auto manifest = fx.manifest(jobs, 96);
  const std::vector<std::string> args = {"--concurrency", "4", "--layout", "webdataset", "--shard-size", "4"};
  const auto [runs, requests_when_ok] =
      kill_at_random_moments(fx, manifest, args, 4242, std::chrono::milliseconds(80), [&](int run) {
        // Between kills too: no key in two finished shards.
        for (auto& [key, n] : keys_in_shards(fx.out() / "shards")) ASSERT_EQ(n, 1) << key << " after kill " << run;
      });
  if (HasFatalFailure()) return;
  auto r = fx.run(manifest, args);
  ASSERT_EQ(r.exit_status, 0) << r.err;
  EXPECT_GE(runs, 2) << "the kills never interrupted a run";
  std::vector<std::string> torn;
  auto s = final_state(fx.out(), &torn);
  ASSERT_EQ(s.size(), static_cast<std::size_t>(jobs));
  auto keys = keys_in_shards(fx.out() / "shards");
  for (auto& [id, l] : s) {
    EXPECT_EQ(l.status, "ok") << id;
    EXPECT_EQ(keys[webdataset_key_stem(id) + "_0"], 1) << id << " is not in exactly one shard";
  }
  EXPECT_EQ(keys.size(), static_cast<std::size_t>(jobs)) << "a shard holds a sample of no job";
  const std::string summary = check_shards(fx.out() / "shards");
  EXPECT_NE(summary.find("\"ok\": true"), std::string::npos) << summary;
  EXPECT_TRUE(files_under(fx.out() / "staging").empty());
  auto stats = fx.server->stats();
  for (auto& [prompt, count] : requests_when_ok)
    EXPECT_EQ(stats.by_prompt[prompt], count) << "'" << prompt << "' was requested again after it was recorded ok";
}

TEST(LayoutTest, AnIdTooLongForAWebdatasetKeyIsRefusedBeforeAnythingIsPaid) {
  Fixture fx(MockFaults{});
  std::string id = "a";
  for (int i = 0; i < 63; ++i) id += ".b";  // 127 bytes, 63 dots: a key stem of 253
  test_support::write_file(fx.dir / "m.jsonl", "{\"id\":\"" + id + "\",\"prompt\":\"p\",\"width\":64,\"height\":64}\n" +
                                                   R"({"id":"ok.one","prompt":"p","width":64,"height":64})" "\n");
  auto r = fx.run(fx.dir / "m.jsonl", {"--layout", "webdataset"});
  EXPECT_EQ(r.exit_status, 1) << r.err;
  auto s = final_state(fx.out());
  EXPECT_EQ(s[id].status, "invalid");
  EXPECT_EQ(s["ok.one"].status, "ok");
  EXPECT_EQ(fx.server->stats().requests, 1u);
}

TEST(LayoutTest, AWebdatasetLineChangedAfterItWasRecordedOkKeepsItsSampleAndIsNotPaidAgain) {
  Fixture fx(MockFaults{});
  test_support::write_file(fx.dir / "m.jsonl", R"({"id":"k.1","prompt":"first","width":64,"height":64})" "\n");
  ASSERT_EQ(fx.run(fx.dir / "m.jsonl", {"--layout", "webdataset"}).exit_status, 0);
  test_support::write_file(fx.dir / "m.jsonl", R"({"id":"k.1","prompt":"second","width":64,"height":64})" "\n");
  auto r = fx.run(fx.dir / "m.jsonl", {"--layout", "webdataset"});
  EXPECT_EQ(r.exit_status, 0) << r.err;
  EXPECT_NE(r.err.find("keeps the sample it has"), std::string::npos) << r.err;
  EXPECT_EQ(fx.server->stats().requests, 1u) << "a second sample under the same key would be a duplicate";
  auto keys = keys_in_shards(fx.out() / "shards");
  EXPECT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[webdataset_key_stem("k.1") + "_0"], 1);
}
