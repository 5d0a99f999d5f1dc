// Sidecars: the .txt holds the prompt, the .json the request, the answer's server id, the price
// and the line's metadata; written next to each image before the job is recorded ok.
#include <gtest/gtest.h>

#include <simdjson.h>

#include "fault_fixture.hpp"
#include "venice_batch/layout.hpp"
#include "venice_batch/sidecar.hpp"
#include "venice_batch/sink.hpp"

using namespace venice_batch;

TEST(SidecarTest, KindsParseFromAListAndRefuseAnythingElse) {
  EXPECT_EQ(parse_sidecar_kinds("txt,json"), (SidecarKinds{true, true}));
  EXPECT_EQ(parse_sidecar_kinds(" json , txt "), (SidecarKinds{true, true}));
  EXPECT_EQ(parse_sidecar_kinds("txt"), (SidecarKinds{true, false}));
  EXPECT_EQ(parse_sidecar_kinds("none"), (SidecarKinds{}));
  EXPECT_EQ(parse_sidecar_kinds(""), (SidecarKinds{}));
  EXPECT_FALSE(parse_sidecar_kinds("txt,yaml"));
}

TEST(SidecarTest, TheJsonIsValidWhateverTheInputsHold) {
  SidecarSource s;
  s.id = "job-1";
  s.prompt = std::string_view("a \"quoted\" prompt\n\xff", 20);
  s.model = "z-image-turbo";
  s.request_body = R"({"model":"z-image-turbo","prompt":"p","seed":7})";
  s.metadata = "{not json";
  s.price_usd = 0.01;
  FileRecord file{"images/job-1_0.webp", 10, ImageFormat::webp, std::nullopt, {64, 48}};
  const std::string json = sidecar_json(s, 0, file, "generate-image-9");
  simdjson::dom::parser p;
  simdjson::dom::element e;
  ASSERT_EQ(p.parse(json).get(e), simdjson::SUCCESS) << json;
  EXPECT_EQ(e["request"]["seed"].get_int64().value(), 7) << "the request embedded as an object";
  EXPECT_EQ(std::string_view(e["metadata_text"].get_string().value()), "{not json");
  EXPECT_EQ(e["width"].get_uint64().value(), 64u);
  EXPECT_EQ(std::string_view(e["server_id"].get_string().value()), "generate-image-9");
  EXPECT_DOUBLE_EQ(e["estimated_price_usd"].get_double().value(), 0.01);
}

TEST(SidecarTest, ARunWritesTheSidecarsOfEveryImageOnlyWhenAsked) {
  using namespace fault_test;
  Fixture fx(MockFaults{});
  const auto manifest = fx.dir / "m.jsonl";
  test_support::write_file(
      manifest,
      R"({"id":"two","prompt":"two foxes","width":64,"height":64,"variants":2,"metadata":{"set":"foxes"}})" "\n"
      R"({"id":"one","prompt":"one owl","width":64,"height":64})" "\n");
  auto r = fx.run(manifest, {"--sidecars", "txt,json"});
  ASSERT_EQ(r.exit_status, 0) << r.err;
  for (const char* stem : {"two_0", "two_1", "one_0"}) {
    const auto txt = fx.out() / "images" / fanout_folder(std::string(stem).substr(0, std::string(stem).find('_')), 3) / (std::string(stem) + ".txt");
    const auto json = fx.out() / "images" / fanout_folder(std::string(stem).substr(0, std::string(stem).find('_')), 3) / (std::string(stem) + ".json");
    ASSERT_TRUE(std::filesystem::exists(txt)) << stem;
    ASSERT_TRUE(std::filesystem::exists(json)) << stem;
    EXPECT_EQ(test_support::read_file(txt), std::string(stem).starts_with("two") ? "two foxes" : "one owl");
    simdjson::dom::parser p;
    simdjson::dom::element e;
    ASSERT_EQ(p.parse(test_support::read_file(json)).get(e), simdjson::SUCCESS);
    EXPECT_EQ(std::string_view(e["model"].get_string().value()), "z-image-turbo");
    EXPECT_FALSE(e["server_id"].error()) << "what the answer said";
    if (std::string(stem).starts_with("two")) {
      EXPECT_EQ(std::string_view(e["metadata"]["set"].get_string().value()), "foxes");
    }
  }
  // Another out dir, no --sidecars: images only.
  Fixture plain(MockFaults{});
  ASSERT_EQ(plain.run(manifest).exit_status, 0);
  EXPECT_FALSE(std::filesystem::exists(plain.out() / "images" / fanout_folder("one", 3) / "one_0.txt"));
}

TEST(SidecarTest, ASidecarThatCannotBeWrittenIsAWarningAndThePaidImageIsKept) {
  // A directory where the .txt should go: its rename fails. The image was paid for and is
  // whole: the job is ok with a warning, and a later run does not buy it again.
  using namespace fault_test;
  Fixture fx(MockFaults{});
  const auto manifest = fx.dir / "m.jsonl";
  test_support::write_file(manifest, R"({"id":"one","prompt":"one owl","width":64,"height":64})" "\n");
  std::filesystem::create_directories(fx.out() / "images" / fanout_folder("one", 3) / "one_0.txt" / "blocker");
  auto r = fx.run(manifest, {"--sidecars", "txt,json"});
  EXPECT_EQ(r.exit_status, 0) << r.err;
  const auto lines = test_support::read_lines(fx.out() / "results.jsonl");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(R"("status":"ok")"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("sidecar images/" + fanout_folder("one", 3) + "/one_0.txt not written"), std::string::npos)
      << lines[0];
  EXPECT_TRUE(std::filesystem::exists(fx.out() / "images" / fanout_folder("one", 3) / "one_0.json")) << "the other sidecar is written";
  EXPECT_EQ(fx.run(manifest, {"--sidecars", "txt,json"}).exit_status, 0);
  EXPECT_EQ(fx.server->stats().requests, 1u) << "never paid for again";
}
