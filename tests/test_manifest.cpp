// The JSONL manifest: each line becomes a JobSpec ready to send or an InvalidLine with a reason
// a user can act on; the reader streams a file (blank lines, BOM, CRLF, duplicate ids).
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <simdjson.h>
#include <unistd.h>

#include "venice_batch/manifest.hpp"

using namespace venice_batch;

namespace {

ManifestOptions with_defaults(std::string defaults = R"({"model":"z-image-turbo"})") {
  ManifestOptions o;
  o.defaults_json = std::move(defaults);
  return o;
}

JobSpec accepted(std::string_view line, const ManifestOptions& o = with_defaults(), std::uint64_t line_no = 1) {
  auto e = parse_manifest_line(line, line_no, o);
  if (auto* bad = std::get_if<InvalidLine>(&e)) {
    ADD_FAILURE() << "refused: " << line << "\n  reason: " << bad->reason;
    return {};
  }
  return std::get<JobSpec>(e);
}

InvalidLine refused(std::string_view line, const ManifestOptions& o = with_defaults(), std::uint64_t line_no = 3) {
  auto e = parse_manifest_line(line, line_no, o);
  if (auto* job = std::get_if<JobSpec>(&e)) {
    ADD_FAILURE() << "accepted: " << line << "\n  body: " << job->body;
    return {};
  }
  return std::get<InvalidLine>(e);
}

std::string reason(std::string_view line, const ManifestOptions& o = with_defaults()) { return refused(line, o).reason; }

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

std::string with_id(const std::string& id_json) { return R"({"prompt":"p","id":)" + id_json + "}"; }

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

std::vector<ManifestEntry> read_all(const std::filesystem::path& path, const ManifestOptions& o = with_defaults()) {
  ManifestReader reader(path, o);
  std::vector<ManifestEntry> entries;
  while (auto e = reader.next()) entries.push_back(std::move(*e));
  return entries;
}

}  // namespace

// ---- good lines -------------------------------------------------------------------------------

TEST(ManifestTest, AcceptsLineWithEveryDocumentedField) {
  auto job = accepted(
      R"({"id":"all-fields","model":"venice-sd35","prompt":"a lighthouse","negative_prompt":"fog","width":1280,)"
      R"("height":1,"aspect_ratio":"16:9","resolution":"2K","quality":"high","format":"png","variants":4,)"
      R"("seed":-999999999,"steps":30,"cfg_scale":7.5,"style_preset":"3D Model","lora_strength":100,)"
      R"("safe_mode":false,"hide_watermark":true,"embed_exif_metadata":true,"enable_web_search":false,)"
      R"("enhance_prompt":false,"disable_prompt_optimization_thinking":true,)"
      R"("style_references":[{"image":"data:image/png;base64,AAAA","strength":0.1}],"anon_user_id":"u-1"})",
      with_defaults(), 9);
  EXPECT_EQ(job.id, "all-fields");
  EXPECT_EQ(job.line, 9u);
  EXPECT_EQ(job.model, "venice-sd35");
  EXPECT_EQ(job.prompt, "a lighthouse");
  EXPECT_EQ(job.format, ImageFormat::png);
  EXPECT_EQ(job.variants, 4);
  EXPECT_FALSE(job.return_binary);
  EXPECT_FALSE(contains(job.body, "\"id\"")) << "our id is not an API field: " << job.body;
  simdjson::dom::parser parser;
  simdjson::dom::object body;
  ASSERT_EQ(parser.parse(job.body).get_object().get(body), simdjson::SUCCESS) << job.body;
  EXPECT_EQ(body.size(), 23u) << "all 24 fields but return_binary (not allowed with variants): " << job.body;
}

TEST(ManifestTest, JobDefaultsToWebpOneVariantJson) {
  auto job = accepted(R"({"prompt":"p"})");
  EXPECT_EQ(job.format, ImageFormat::webp);
  EXPECT_EQ(job.variants, 1);
  EXPECT_FALSE(job.return_binary);
  EXPECT_EQ(job.body, R"({"model":"z-image-turbo","prompt":"p"})") << "nothing the user did not ask for is sent";
  EXPECT_TRUE(accepted(R"({"prompt":"p","return_binary":true})").return_binary);
}

TEST(ManifestTest, BodyKeepsIntegersAndDoublesAsWritten) {
  auto job = accepted(R"({"prompt":"p","cfg_scale":20.0,"seed":0,"width":1024,"style_references":[{"image":"i","strength":1}]})");
  EXPECT_EQ(job.body,
            R"({"cfg_scale":20.0,"model":"z-image-turbo","prompt":"p","seed":0,"style_references":[{"image":"i","strength":1}],"width":1024})");
}

TEST(ManifestTest, RequestHashIsSha256OfBody) {
  auto job = accepted(R"({"prompt":"p","model":"m"})");
  ASSERT_EQ(job.body, R"({"model":"m","prompt":"p"})");
  EXPECT_EQ(job.request_hash, "9fd06a94d101c3dd0319ebf954cd66e959b7912b4e83ad2b99ecf5cdc097d9dd");
}

TEST(ManifestTest, BodyKeysAreSortedSoReorderedLinesHashEqual) {
  auto a = accepted(R"({"id":"a","prompt":"p","width":512,"seed":1,"style_references":[{"image":"i","strength":0.5}]})");
  auto b = accepted(R"({"style_references":[{"strength":0.5,"image":"i"}],"seed":1,"width":512,"prompt":"p","id":"b"})");
  EXPECT_EQ(a.body, b.body) << "the id is not part of the request";
  EXPECT_EQ(a.request_hash, b.request_hash);
  EXPECT_EQ(a.body, R"({"model":"z-image-turbo","prompt":"p","seed":1,"style_references":[{"image":"i","strength":0.5}],"width":512})");
}

TEST(ManifestTest, HashChangesWhenAnyFieldChanges) {
  const auto base = accepted(R"({"prompt":"p","seed":1})").request_hash;
  EXPECT_NE(accepted(R"({"prompt":"p","seed":2})").request_hash, base);
  EXPECT_NE(accepted(R"({"prompt":"p ","seed":1})").request_hash, base);
  EXPECT_NE(accepted(R"({"prompt":"p","seed":1,"format":"webp"})").request_hash, base)
      << "an explicit default is still a different request body";
  EXPECT_NE(accepted(R"({"prompt":"p","seed":1})", with_defaults(R"({"model":"other"})")).request_hash, base);
  EXPECT_EQ(base.size(), 64u);
  EXPECT_EQ(base.find_first_not_of("0123456789abcdef"), std::string::npos) << base;
}

TEST(ManifestTest, StringsAreReEscapedWithUnicodeIntact) {
  auto job = accepted(R"({"prompt":"quote \" backslash \\ slash \/ nl \n tab \t nul \u0000 \u00e9 ✓ 😀 \ud83d\ude00"})");
  const std::string expected = std::string("quote \" backslash \\ slash / nl \n tab \t nul ") + '\0' + " é ✓ 😀 😀";
  EXPECT_EQ(job.prompt, expected);
  simdjson::dom::parser parser;
  simdjson::dom::element body;
  ASSERT_EQ(parser.parse(job.body).get(body), simdjson::SUCCESS) << job.body;
  EXPECT_EQ(std::string(std::string_view(body["prompt"])), expected);
  EXPECT_TRUE(contains(job.body, "é ✓ 😀 😀")) << "non-ASCII is written as UTF-8, not escaped: " << job.body;
}

TEST(ManifestTest, AcceptsEmojiAndCjkPrompts) {
  EXPECT_EQ(accepted(R"({"prompt":"京都の雨の夜、提灯 🏮"})").prompt, "京都の雨の夜、提灯 🏮");
  EXPECT_EQ(accepted(R"({"prompt":"비 오는 서울의 밤"})").prompt, "비 오는 서울의 밤");
}

TEST(ManifestTest, Accepts7500CharacterPromptEvenWhenLongerInBytes) {
  EXPECT_EQ(accepted(R"({"prompt":")" + std::string(7500, 'a') + "\"}").prompt.size(), 7500u);
  const std::string emoji = repeat("🐱", 7500);  // 30,000 bytes
  EXPECT_EQ(accepted(R"({"prompt":")" + emoji + "\"}").prompt, emoji);
  const std::string cjk = repeat("猫", 7500);  // 22,500 bytes
  EXPECT_EQ(accepted(R"({"prompt":")" + cjk + "\"}").prompt, cjk);
}

TEST(ManifestTest, Refuses7501CharacterPrompt) {
  EXPECT_EQ(reason(R"({"prompt":")" + repeat("🐱", 7501) + "\"}"), "prompt: must be at most 7500 characters (got 7501)");
  EXPECT_EQ(reason(R"({"prompt":")" + std::string(7501, 'a') + "\"}"), "prompt: must be at most 7500 characters (got 7501)");
}

// ---- defaults ---------------------------------------------------------------------------------

TEST(ManifestTest, DefaultsFillFieldsTheLineLeavesOut) {
  auto o = with_defaults(R"({"model":"dflt","format":"png","width":512,"safe_mode":false})");
  auto job = accepted(R"({"prompt":"p"})", o);
  EXPECT_EQ(job.model, "dflt");
  EXPECT_EQ(job.format, ImageFormat::png);
  EXPECT_EQ(job.body, R"({"format":"png","model":"dflt","prompt":"p","safe_mode":false,"width":512})");
}

TEST(ManifestTest, LineOverridesDefaults) {
  auto o = with_defaults(R"({"model":"dflt","format":"png","style_references":[{"image":"a"}]})");
  auto job = accepted(R"({"prompt":"p","model":"mine","format":"jpeg","style_references":[{"image":"b"}]})", o);
  EXPECT_EQ(job.model, "mine");
  EXPECT_EQ(job.format, ImageFormat::jpeg);
  EXPECT_EQ(job.body, R"({"format":"jpeg","model":"mine","prompt":"p","style_references":[{"image":"b"}]})")
      << "defaults are merged at the top level only";
}

TEST(ManifestTest, MergedRequestIsWhatIsValidated) {
  auto o = with_defaults(R"({"model":"m","variants":2})");
  EXPECT_TRUE(contains(reason(R"({"prompt":"p","return_binary":true})", o), "return_binary")) << "variants from the defaults";
  EXPECT_EQ(reason(R"({"prompt":"p"})", with_defaults("{}")), "model: is required");
  EXPECT_EQ(reason(R"({"prompt":"p"})", with_defaults(R"({"model":"m","width":5000})")),
            "width: must be an integer from 1 to 1280 (got 5000)");
}

TEST(ManifestTest, LineParsedWithBadDefaultsIsInvalidNotAnException) {
  for (const char* defaults : {"[1]", "not json", R"({"id":"x"})", R"({"model":"a","model":"b"})"}) {
    ManifestEntry e;
    EXPECT_NO_THROW(e = parse_manifest_line(R"({"prompt":"p"})", 1, with_defaults(defaults))) << defaults;
    EXPECT_TRUE(std::holds_alternative<InvalidLine>(e)) << defaults;
  }
}

// ---- bad lines --------------------------------------------------------------------------------

TEST(ManifestTest, RefusesInvalidJson) {
  for (const char* line : {R"({"prompt": "p")", R"({"prompt": "p"} x)", "{prompt: 'p'}", R"({"prompt":"p",})",
                           "{\"prompt\":\"\xff\xfe\"}", R"({"width": 1e400, "prompt":"p"})"}) {
    auto bad = refused(line);
    EXPECT_EQ(bad.line, 3u);
    EXPECT_EQ(bad.id, "00000003");
    EXPECT_TRUE(contains(bad.reason, "not valid JSON")) << line << " -> " << bad.reason;
  }
}

TEST(ManifestTest, RefusesJsonThatIsNotAnObject) {
  EXPECT_EQ(reason("[1,2]"), "not a JSON object (got an array)");
  EXPECT_EQ(reason(R"("a prompt")"), "not a JSON object (got a string)");
  EXPECT_EQ(reason("42"), "not a JSON object (got a number)");
  EXPECT_EQ(reason("null"), "not a JSON object (got null)");
}

TEST(ManifestTest, RefusesFieldOutOfRangeNamingFieldRangeAndValue) {
  EXPECT_EQ(reason(R"({"prompt":"p","width":2000,"widht":512})"),
            "width: must be an integer from 1 to 1280 (got 2000); unknown field 'widht'");
}

TEST(ManifestTest, RefusesEachFieldWithTheWrongTypeOrOutOfRange) {
  const std::pair<const char*, const char*> cases[] = {
      {R"("width":0)", "width"},           {R"("width":1281)", "width"},       {R"("height":1024.0)", "height"},
      {R"("height":"1024")", "height"},    {R"("variants":0)", "variants"},    {R"("variants":5)", "variants"},
      {R"("seed":1000000000)", "seed"},    {R"("seed":-1000000000)", "seed"}, {R"("seed":1.5)", "seed"},
      {R"("steps":0)", "steps"},           {R"("cfg_scale":0)", "cfg_scale"},  {R"("cfg_scale":20.5)", "cfg_scale"},
      {R"("lora_strength":101)", "lora_strength"}, {R"("lora_strength":-1)", "lora_strength"},
      {R"("format":"gif")", "format"},     {R"("quality":"ultra")", "quality"}, {R"("resolution":"8K")", "resolution"},
      {R"("aspect_ratio":"wide")", "aspect_ratio"}, {R"("aspect_ratio":"16:0")", "aspect_ratio"},
      {R"("safe_mode":"yes")", "safe_mode"}, {R"("return_binary":1)", "return_binary"},
      {R"("hide_watermark":null)", "hide_watermark"}, {R"("embed_exif_metadata":0)", "embed_exif_metadata"},
      {R"("enable_web_search":"no")", "enable_web_search"}, {R"("enhance_prompt":[])", "enhance_prompt"},
      {R"("disable_prompt_optimization_thinking":{})", "disable_prompt_optimization_thinking"},
      {R"("style_preset":"")", "style_preset"},
      {R"("style_references":[{"image":"x","strength":0.05}])", "style_references.0.strength"},
      {R"("style_references":[{"strength":0.5}])", "style_references.0.image"},
      {R"("style_references":"x")", "style_references"},
      {R"("anon_user_id":"a||b")", "anon_user_id"}, {R"("negative_prompt":5)", "negative_prompt"},
      {R"("prompt":"   ")", "prompt"},     {R"("prompt":"")", "prompt"},      {R"("prompt":7)", "prompt"},
      {R"("model":"")", "model"},         {R"("model":["m"])", "model"},
  };
  for (auto [member, field] : cases) {
    const std::string m = member;
    const std::string line = m.starts_with(R"("prompt")") ? "{" + m + "}" : R"({"prompt":"p",)" + m + "}";
    const auto why = reason(line);
    EXPECT_EQ(why.rfind(std::string(field) + ": ", 0), 0u) << line << " -> " << why;
  }
  EXPECT_EQ(reason(R"({"model":"m"})", with_defaults("{}")), "prompt: is required");
}

TEST(ManifestTest, RefusesVariantsWithReturnBinary) {
  EXPECT_TRUE(contains(reason(R"({"prompt":"p","return_binary":true,"variants":2})"), "return_binary"));
}

TEST(ManifestTest, RefusesInpaintAsRetired) {
  auto o = with_defaults();
  o.allow_unknown_fields = true;
  EXPECT_TRUE(contains(reason(R"({"prompt":"p","inpaint":{"strength":50}})", o), "retired"));
}

TEST(ManifestTest, RefusesUnknownFieldByDefault) {
  EXPECT_EQ(reason(R"({"prompt":"p","new_api_field":1})"), "unknown field 'new_api_field'");
}

TEST(ManifestTest, PassesUnknownFieldThroughUnchangedWhenAllowed) {
  auto o = with_defaults();
  o.allow_unknown_fields = true;
  auto job = accepted(R"({"prompt":"p","new_api_field":{"nested":[1,2.5,"x",null,true,{"b":1,"a":-2}]}})", o);
  EXPECT_TRUE(contains(job.body, R"("new_api_field":{"nested":[1,2.5,"x",null,true,{"a":-2,"b":1}]})")) << job.body;
}

TEST(ManifestTest, RefusesFieldGivenTwice) {
  EXPECT_TRUE(contains(reason(R"({"prompt":"p","width":512,"width":1024})"), "'width' appears more than once"));
  EXPECT_TRUE(contains(reason(R"({"prompt":"p","id":"a","id":"b"})"), "'id' appears more than once"));
  auto o = with_defaults();
  o.allow_unknown_fields = true;
  EXPECT_TRUE(contains(reason(R"({"prompt":"p","x":{"k":1,"k":2}})", o), "repeats a key"));
}

// ---- ids --------------------------------------------------------------------------------------

TEST(ManifestTest, RejectsIdThatEscapesOutDir) {
  for (const char* id : {R"("../x")", R"("a/b")", R"("..")", R"("a\\b")", R"("/etc/passwd")"}) {
    auto bad = refused(with_id(id));
    EXPECT_TRUE(contains(bad.reason, "cannot name files")) << id << " -> " << bad.reason;
    EXPECT_EQ(bad.id, "00000003") << "the unsafe id is never used as a name";
  }
}

TEST(ManifestTest, RejectsHiddenAndOddlyStartingIds) {
  for (const char* id : {R"(".hidden")", R"("-dash")", R"("_under")", R"("a b")", R"("é")", R"("a:b")"})
    EXPECT_TRUE(contains(reason(with_id(id)), "cannot name files")) << id;
}

TEST(ManifestTest, RejectsEmptyId) { EXPECT_EQ(reason(with_id(R"("")")), "id is empty"); }

TEST(ManifestTest, RejectsIdLongerThan128Characters) {
  EXPECT_EQ(reason(with_id("\"" + std::string(129, 'a') + "\"")), "id is 129 bytes long (at most 128)");
  EXPECT_EQ(accepted(with_id("\"" + std::string(128, 'a') + "\"")).id, std::string(128, 'a'));
}

TEST(ManifestTest, RejectsIdWithControlCharacterAndShowsItEscaped) {
  const auto why = reason(with_id(R"("a\u0001b\nc")"));
  EXPECT_TRUE(contains(why, R"('a\x01b\x0ac')")) << why;
}

TEST(ManifestTest, RejectsIdThatIsNotAString) {
  EXPECT_EQ(reason(with_id("42")), "id must be a string (got a number)");
  EXPECT_EQ(reason(with_id("null")), "id must be a string (got null)");
}

TEST(ManifestTest, ReportsBadIdTogetherWithFieldIssues) {
  EXPECT_EQ(reason(R"({"id":"../x","prompt":"p","width":0})"),
            "id '../x' cannot name files: use A-Z a-z 0-9 . _ - only, starting with a letter or digit "
            "(no '/', '..' or leading '.'); width: must be an integer from 1 to 1280 (got 0)");
}

TEST(ManifestTest, AcceptsIdsMadeOfSafeCharacters) {
  for (const char* id : {"a", "A.b_c-9", "0", "x..y", "job-000001.v2"}) EXPECT_TRUE(is_valid_job_id(id)) << id;
  EXPECT_EQ(accepted(with_id(R"("A.b_c-9")")).id, "A.b_c-9");
}

TEST(ManifestTest, MissingIdIsDerivedFromLineNumber) {
  EXPECT_EQ(accepted(R"({"prompt":"p"})", with_defaults(), 42).id, "00000042");
  EXPECT_EQ(derived_job_id(1), "00000001");
  EXPECT_EQ(derived_job_id(123456789), "123456789");
  EXPECT_TRUE(is_valid_job_id(derived_job_id(1)));
}

// ---- the reader -------------------------------------------------------------------------------

TEST(ManifestTest, ReaderSkipsBlankLinesButKeepsCountingThem) {
  TempManifest file("\n   \t\n{\"prompt\":\"one\"}\n\r\n\n{\"prompt\":\"two\"}\n\n");
  auto entries = read_all(file.path());
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(std::get<JobSpec>(entries[0]).line, 3u);
  EXPECT_EQ(std::get<JobSpec>(entries[0]).id, "00000003");
  EXPECT_EQ(std::get<JobSpec>(entries[1]).line, 6u);
  EXPECT_EQ(std::get<JobSpec>(entries[1]).prompt, "two");
}

TEST(ManifestTest, ReaderToleratesUtf8BomOnFirstLine) {
  TempManifest file("\xEF\xBB\xBF{\"id\":\"first\",\"prompt\":\"p\"}\n");
  auto entries = read_all(file.path());
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(std::get<JobSpec>(entries[0]).id, "first");
}

TEST(ManifestTest, ReaderHandlesCrlfLineEndings) {
  TempManifest file("{\"prompt\":\"one\"}\r\n{\"prompt\":\"two\"}\r\n");
  auto entries = read_all(file.path());
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(std::get<JobSpec>(entries[0]).prompt, "one");
  EXPECT_EQ(std::get<JobSpec>(entries[1]).prompt, "two");
  EXPECT_EQ(std::get<JobSpec>(entries[1]).line, 2u);
}

TEST(ManifestTest, ReaderReadsLastLineWithoutNewline) {
  TempManifest file("{\"prompt\":\"one\"}\n{\"id\":\"last\",\"prompt\":\"no newline\"}");
  auto entries = read_all(file.path());
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(std::get<JobSpec>(entries[1]).id, "last");
}

TEST(ManifestTest, ReaderKeepsGoingPastBadLines) {
  TempManifest file("garbage\n[1]\n{\"prompt\":\"p\",\"width\":0}\n{\"prompt\":\"fine\"}\n");
  auto entries = read_all(file.path());
  ASSERT_EQ(entries.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(std::holds_alternative<InvalidLine>(entries[i])) << i;
    EXPECT_EQ(std::get<InvalidLine>(entries[i]).line, static_cast<std::uint64_t>(i + 1));
  }
  EXPECT_EQ(std::get<JobSpec>(entries[3]).prompt, "fine");
}

TEST(ManifestTest, ReaderRefusesLaterLineWithDuplicateId) {
  TempManifest file("{\"id\":\"a\",\"prompt\":\"one\"}\n\n{\"id\":\"a\",\"prompt\":\"two\"}\n");
  auto entries = read_all(file.path());
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(std::get<JobSpec>(entries[0]).prompt, "one");
  const auto& dup = std::get<InvalidLine>(entries[1]);
  EXPECT_EQ(dup.line, 3u);
  EXPECT_EQ(dup.id, "a");
  EXPECT_EQ(dup.reason, "duplicate id 'a' (first on line 1)");
}

TEST(ManifestTest, ReaderRefusesDerivedIdCollidingWithExplicitOne) {
  TempManifest file(
      "{\"prompt\":\"one\"}\n"
      "{\"id\":\"00000001\",\"prompt\":\"two\"}\n"
      "{\"id\":\"00000004\",\"prompt\":\"three\"}\n"
      "{\"prompt\":\"four\"}\n");
  auto entries = read_all(file.path());
  ASSERT_EQ(entries.size(), 4u);
  EXPECT_EQ(std::get<JobSpec>(entries[0]).id, "00000001");
  EXPECT_EQ(std::get<InvalidLine>(entries[1]).reason, "duplicate id '00000001' (first on line 1)");
  EXPECT_EQ(std::get<JobSpec>(entries[2]).id, "00000004");
  EXPECT_EQ(std::get<InvalidLine>(entries[3]).reason, "duplicate id '00000004' (first on line 3)");
}

TEST(ManifestTest, ReaderAppliesDefaultsAndPassThroughOption) {
  TempManifest file("{\"prompt\":\"p\",\"future\":true}\n");
  ManifestOptions o = with_defaults(R"({"model":"m","format":"jpeg"})");
  o.allow_unknown_fields = true;
  auto entries = read_all(file.path(), o);
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(std::get<JobSpec>(entries[0]).body, R"({"format":"jpeg","future":true,"model":"m","prompt":"p"})");
}

TEST(ManifestTest, ReaderReadsManyLinesAcrossReadBlocks) {
  std::string text;
  const int n = 30000;  // ~1.5 MB: lines straddle the reader's 1 MiB blocks
  for (int i = 0; i < n; ++i) text += R"({"prompt":"a watercolor of boat number )" + std::to_string(i) + R"( on a calm lake"})" + "\n";
  TempManifest file(text);
  ManifestReader reader(file.path(), with_defaults());
  int jobs = 0;
  while (auto e = reader.next()) {
    ASSERT_TRUE(std::holds_alternative<JobSpec>(*e)) << std::get<InvalidLine>(*e).reason;
    const auto& job = std::get<JobSpec>(*e);
    ASSERT_EQ(job.prompt, "a watercolor of boat number " + std::to_string(jobs) + " on a calm lake");
    ++jobs;
  }
  EXPECT_EQ(jobs, n);
  EXPECT_EQ(count_manifest_jobs(file.path()), static_cast<std::uint64_t>(n));
}

TEST(ManifestTest, ReaderRefusesLineLongerThanTheApiBodyLimitAndGoesOn) {
  std::string text = R"({"prompt":")" + std::string(36u << 20, 'a') + "\"}\n" + R"({"prompt":"next"})" + "\n";
  TempManifest file(text);
  text.clear();
  text.shrink_to_fit();
  auto entries = read_all(file.path());
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_TRUE(contains(std::get<InvalidLine>(entries[0]).reason, "longer than")) << std::get<InvalidLine>(entries[0]).reason;
  EXPECT_EQ(std::get<JobSpec>(entries[1]).line, 2u);
  EXPECT_EQ(count_manifest_jobs(file.path()), 2u);
}

TEST(ManifestTest, EmptyManifestHasNoEntries) {
  TempManifest file("");
  EXPECT_TRUE(read_all(file.path()).empty());
  EXPECT_EQ(count_manifest_jobs(file.path()), 0u);
}

TEST(ManifestTest, ReaderThrowsWhenDefaultsAreNotAnObject) {
  TempManifest file("{\"prompt\":\"p\"}\n");
  EXPECT_THROW(ManifestReader(file.path(), with_defaults("[1]")), std::runtime_error);
  EXPECT_THROW(ManifestReader(file.path(), with_defaults("\"model\"")), std::runtime_error);
  EXPECT_THROW(ManifestReader(file.path(), with_defaults("{")), std::runtime_error);
  EXPECT_THROW(ManifestReader(file.path(), with_defaults(R"({"id":"same-for-all"})")), std::runtime_error);
}

TEST(ManifestTest, ReaderThrowsWhenFileIsMissing) {
  EXPECT_THROW(ManifestReader(std::filesystem::path(testing::TempDir()) / "no-such-manifest.jsonl", with_defaults()),
               std::runtime_error);
}

// ---- count_manifest_jobs ----------------------------------------------------------------------

TEST(ManifestTest, CountSkipsBlankAndWhitespaceOnlyLines) {
  TempManifest file("\xEF\xBB\xBF\n{\"prompt\":\"a\"}\r\n \t \r\n\n   x\nnot json\n{\"prompt\":\"b\"}");
  EXPECT_EQ(count_manifest_jobs(file.path()), 4u);
  EXPECT_EQ(read_all(file.path()).size(), 4u) << "the count is the number of entries the reader yields";
}

TEST(ManifestTest, CountOfMissingFileIsZero) {
  EXPECT_EQ(count_manifest_jobs(std::filesystem::path(testing::TempDir()) / "no-such-manifest.jsonl"), 0u);
}
