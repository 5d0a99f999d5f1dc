// A resume skips finished lines without parsing them (ManifestReader::skip_finished): only a line
// recorded finished with its very text and options is skipped; anything else takes the full path.
#include <gtest/gtest.h>

#include <map>
#include <memory>

#include "fault_fixture.hpp"
#include "test_manifest_support.hpp"
#include "venice_batch/journal.hpp"

using namespace manifest_test;

namespace {

// The keys a finished run would have recorded for every line of `path` (id -> line key).
std::map<std::string, std::uint64_t, std::less<>> finished_keys(const std::filesystem::path& path,
                                                                const ManifestOptions& o = with_defaults()) {
  std::map<std::string, std::uint64_t, std::less<>> keys;
  for (auto& e : read_all(path, o))
    if (auto* job = std::get_if<JobSpec>(&e)) keys[job->id] = hash_prefix64(job->line_key);
  return keys;
}

// The journal as the run hands it to the reader: each recorded id's finished key (0: not
// finished) and its slot for the first line naming it.
ManifestReader::RecordedKey lookup(const std::map<std::string, std::uint64_t, std::less<>>& keys) {
  auto slots = std::make_shared<std::map<std::string, std::pair<std::uint64_t, std::uint64_t>, std::less<>>>();
  for (const auto& [id, key] : keys) (*slots)[id] = {key, 0};
  return [slots](std::string_view id) -> std::optional<ManifestReader::RecordedJob> {
    auto it = slots->find(id);
    if (it == slots->end()) return std::nullopt;
    return ManifestReader::RecordedJob{it->second.first, &it->second.second};
  };
}

std::vector<std::string> ids_read(ManifestReader& reader) {
  std::vector<std::string> ids;
  while (auto e = reader.next()) ids.push_back(std::visit([](const auto& x) { return x.id; }, *e));
  return ids;
}

}  // namespace

TEST(ManifestSkipTest, FinishedLinesWithAndWithoutIdsAreSkippedAndTheRestAreRead) {
  TempManifest m(R"({"id":"a","prompt":"one"})" "\n" R"({"prompt":"two"})" "\n" R"({"id":"c","prompt":"three"})" "\n");
  auto keys = finished_keys(m.path());
  keys.erase("c");  // not finished
  ManifestReader reader(m.path(), with_defaults());
  reader.skip_finished(lookup(keys));
  EXPECT_EQ(ids_read(reader), std::vector<std::string>{"c"});
  EXPECT_EQ(reader.skipped(), 2u);
}

TEST(ManifestSkipTest, ALineWhosePromptIsTheWordIdIsStillKnownByItsDerivedId) {
  TempManifest m(R"({"prompt":"id"})" "\n" R"({"prompt":"x \"id\" y","seed":1})" "\n");
  const auto keys = finished_keys(m.path());
  ManifestReader reader(m.path(), with_defaults());
  reader.skip_finished(lookup(keys));
  EXPECT_TRUE(ids_read(reader).empty());
  EXPECT_EQ(reader.skipped(), 2u);
}

TEST(ManifestSkipTest, AFinishedOpenAiBatchLineIsSkippedByItsCustomId) {
  TempManifest m(R"({"custom_id":"oa-1","method":"POST","url":"/v1/images/generations","body":{"prompt":"one","n":2}})" "\n"
                 R"({"custom_id":"oa-2","method":"POST","url":"/image/generate","body":{"prompt":"two"}})" "\n");
  auto keys = finished_keys(m.path());
  ASSERT_EQ(keys.size(), 2u);
  keys.erase("oa-2");
  ManifestReader reader(m.path(), with_defaults());
  reader.skip_finished(lookup(keys));
  EXPECT_EQ(ids_read(reader), std::vector<std::string>{"oa-2"});
  EXPECT_EQ(reader.skipped(), 1u);
}

TEST(ManifestSkipTest, AnEditedLineIsReadAgainEvenUnderTheSameId) {
  TempManifest before(R"({"id":"a","prompt":"one"})" "\n" R"({"prompt":"two"})" "\n");
  auto keys = finished_keys(before.path());
  TempManifest after(R"({"id":"a","prompt":"one, edited"})" "\n" R"({"prompt":"two","seed":5})" "\n");
  ManifestReader reader(after.path(), with_defaults());
  reader.skip_finished(lookup(keys));
  EXPECT_EQ(ids_read(reader), (std::vector<std::string>{"a", "00000002"}));
  EXPECT_EQ(reader.skipped(), 0u);
}

TEST(ManifestSkipTest, ChangedConfigDefaultsMakeEveryLineReadAgain) {
  TempManifest m(R"({"id":"a","prompt":"one"})" "\n");
  auto keys = finished_keys(m.path(), with_defaults(R"({"model":"z-image-turbo"})"));
  ManifestReader reader(m.path(), with_defaults(R"({"model":"venice-sd35"})"));
  reader.skip_finished(lookup(keys));
  EXPECT_EQ(ids_read(reader), std::vector<std::string>{"a"}) << "the request changed with the defaults";
}

TEST(ManifestSkipTest, ALineMovedToAnotherNumberWithoutAnIdIsAnotherJob) {
  TempManifest before(R"({"prompt":"two"})" "\n");
  auto keys = finished_keys(before.path());  // recorded as job 00000001
  TempManifest after(R"({"prompt":"new first"})" "\n" R"({"prompt":"two"})" "\n");
  ManifestReader reader(after.path(), with_defaults());
  reader.skip_finished(lookup(keys));
  EXPECT_EQ(ids_read(reader), (std::vector<std::string>{"00000001", "00000002"}));
}

TEST(ManifestSkipTest, ARepeatOfASkippedIdIsStillRefusedAsADuplicate) {
  TempManifest m(R"({"id":"dup","prompt":"one"})" "\n" R"({"id":"dup","prompt":"two"})" "\n");
  auto keys = finished_keys(m.path());
  ManifestReader reader(m.path(), with_defaults());
  reader.skip_finished(lookup(keys));
  auto second = reader.next();
  ASSERT_TRUE(second);
  auto* bad = std::get_if<InvalidLine>(&*second);
  ASSERT_NE(bad, nullptr);
  EXPECT_NE(bad->reason.find("duplicate id 'dup' (first on line 1)"), std::string::npos) << bad->reason;
  EXPECT_FALSE(reader.next());
}

TEST(ManifestSkipTest, ARecordedIdThatMustRunAgainIsStillCheckedForDuplicates) {
  // "a" is recorded but not finished (key 0): its lines are read in full, and the second is
  // refused naming the first, whether or not the journal knows the id.
  TempManifest m(R"({"id":"a","prompt":"one"})" "\n" R"({"id":"b","prompt":"x"})" "\n" R"({"id":"a","prompt":"two"})" "\n"
                 R"({"id":"b","prompt":"y"})" "\n");
  std::map<std::string, std::uint64_t, std::less<>> keys{{"a", 0}};
  ManifestReader reader(m.path(), with_defaults());
  reader.skip_finished(lookup(keys));
  std::vector<std::string> reasons;
  while (auto e = reader.next())
    if (auto* bad = std::get_if<InvalidLine>(&*e)) reasons.push_back(bad->reason);
  ASSERT_EQ(reasons.size(), 2u);
  EXPECT_NE(reasons[0].find("duplicate id 'a' (first on line 1)"), std::string::npos) << reasons[0];
  EXPECT_NE(reasons[1].find("duplicate id 'b' (first on line 2)"), std::string::npos) << reasons[1];
}

TEST(ManifestSkipTest, AJournalWithoutLineKeysSkipsNothing) {
  TempManifest m(R"({"id":"a","prompt":"one"})" "\n");
  std::map<std::string, std::uint64_t, std::less<>> keys{{"a", 0}};  // an older journal: no line_key
  ManifestReader reader(m.path(), with_defaults());
  reader.skip_finished(lookup(keys));
  EXPECT_EQ(ids_read(reader), std::vector<std::string>{"a"});
}

TEST(ManifestSkipTest, TheKeyIsRecordedInTheJournalAndAResumeSendsNothingAgain) {
  using namespace fault_test;
  Fixture fx(MockFaults{});
  const auto manifest = fx.dir / "m.jsonl";
  test_support::write_file(manifest, R"({"id":"a","prompt":"one","width":64,"height":64})" "\n"
                                     R"({"prompt":"two","width":64,"height":64})" "\n");
  ASSERT_EQ(fx.run(manifest).exit_status, 0);
  const auto lines = test_support::read_lines(fx.out() / "results.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find(R"("line_key":")"), std::string::npos) << lines[0];
  auto r = fx.run(manifest);
  EXPECT_EQ(r.exit_status, 0) << r.err;
  EXPECT_EQ(fx.server->stats().requests, 2u);
  EXPECT_EQ(test_support::read_lines(fx.out() / "results.jsonl").size(), 2u) << "nothing recorded twice";
  EXPECT_NE(r.err.find("2 skipped"), std::string::npos) << r.err;
}
