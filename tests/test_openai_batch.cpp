// The OpenAI Batch dialect both ways: batch lines mapped to Venice requests (by route, by the
// model's size family), refusals that name what cannot map, and batch_output.jsonl /
// batch_errors.jsonl written from a real run against the emulator.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include <simdjson.h>

#include "fault_fixture.hpp"
#include "test_manifest_support.hpp"
#include "venice_batch/journal.hpp"
#include "venice_batch/openai_batch.hpp"

using namespace venice_batch;
using namespace manifest_test;

namespace {

// A parser that knows two models: a pixel one and an aspect-ratio one (as the catalog says).
ManifestEntry parse_with_catalog(std::string_view line) {
  ManifestLineParser parser(with_defaults());
  parser.set_model_sizes([](std::string_view model) -> std::optional<ModelSizes> {
    if (model == "gpt-image-2") return ModelSizes{true, {"1:1", "3:2", "2:3", "16:9", "9:16"}, {"1K", "2K", "4K"}};
    if (model == "z-image-turbo") return ModelSizes{false, {}, {}};
    return std::nullopt;
  });
  return parser.parse(line, 1);
}

std::string openai(std::string body, std::string custom_id = "req-1") {
  return R"({"custom_id":")" + custom_id + R"(","method":"POST","url":"/v1/images/generations","body":)" + body + "}";
}

std::string field(const JobSpec& job, const char* key) {
  simdjson::dom::parser p;
  simdjson::dom::element e;
  if (p.parse(job.body).get(e) || e[key].error()) return "<absent>";
  return simdjson::minify(e[key].value());
}

}  // namespace

TEST(OpenAiBatchTest, AVeniceRouteLineIsTheSameRequestAsThePlainLine) {
  for (const char* url : {"/api/v1/image/generate", "/image/generate"}) {
    const auto batch = accepted(std::string(R"({"custom_id":"a1","method":"POST","url":")") + url +
                                R"(","body":{"prompt":"a lighthouse","width":512,"height":512,"seed":7}})");
    const auto plain = accepted(R"({"id":"a1","prompt":"a lighthouse","width":512,"height":512,"seed":7})");
    EXPECT_EQ(batch.id, "a1") << "custom_id becomes the id";
    EXPECT_EQ(batch.body, plain.body) << url;
    EXPECT_EQ(batch.request_hash, plain.request_hash) << url;
  }
}

TEST(OpenAiBatchTest, AnOpenAiRequestMapsItsFieldsForAPixelModel) {
  const auto job = accepted(openai(
      R"({"model":"z-image-turbo","prompt":"a fox","n":2,"size":"1024x768","output_format":"jpeg","response_format":"b64_json","quality":"auto"})"));
  EXPECT_EQ(job.variants, 2);
  EXPECT_EQ(job.format, ImageFormat::jpeg);
  EXPECT_EQ(field(job, "width"), "1024");
  EXPECT_EQ(field(job, "height"), "768");
  EXPECT_EQ(field(job, "quality"), "<absent>") << "auto leaves the model's default";
  EXPECT_EQ(field(job, "response_format"), "<absent>") << "never sent: the image is saved either way";
}

TEST(OpenAiBatchTest, SizeBecomesAspectRatioAndResolutionForAnAspectRatioModel) {
  auto job = std::get<JobSpec>(parse_with_catalog(openai(R"({"model":"gpt-image-2","prompt":"p","size":"1536x1024","quality":"high"})")));
  EXPECT_EQ(field(job, "aspect_ratio"), R"("3:2")");
  EXPECT_EQ(field(job, "resolution"), R"("2K")") << "the smallest listed resolution covering 1536";
  EXPECT_EQ(field(job, "width"), "<absent>");
  EXPECT_EQ(field(job, "quality"), R"("high")");
  job = std::get<JobSpec>(parse_with_catalog(openai(R"({"model":"gpt-image-2","prompt":"p","size":"1792x1024"})")));
  EXPECT_EQ(field(job, "aspect_ratio"), R"("16:9")") << "within 3% of a listed ratio";
  EXPECT_EQ(field(job, "resolution"), R"("2K")");
  job = std::get<JobSpec>(parse_with_catalog(openai(R"({"model":"z-image-turbo","prompt":"p","size":"768x512"})")));
  EXPECT_EQ(field(job, "width"), "768") << "a pixel model takes width/height";
  const auto odd = parse_with_catalog(openai(R"({"model":"gpt-image-2","prompt":"p","size":"1000x100"})"));
  ASSERT_TRUE(std::holds_alternative<InvalidLine>(odd));
  EXPECT_NE(std::get<InvalidLine>(odd).reason.find("matches none of the aspect ratios model 'gpt-image-2' takes"),
            std::string::npos)
      << std::get<InvalidLine>(odd).reason;
}

TEST(OpenAiBatchTest, WhatCannotMapIsRefusedByName) {
  struct Case {
    std::string line, reason;
  };
  const Case cases[] = {
      {openai(R"({"prompt":"p","style":"vivid","background":"transparent"})"), "body field(s) style, background"},
      {openai(R"({"prompt":"p","quality":"hd"})"), "quality 'hd' has no Venice equivalent"},
      {openai(R"({"prompt":"p","n":5})"), "body.n must be 1 to 4"},
      {openai(R"({"prompt":"p","size":"big"})"), "body.size 'big' is not WIDTHxHEIGHT"},
      {openai(R"({"prompt":"p","output_format":"gif"})"), "output_format must be png, jpeg or webp"},
      {R"({"custom_id":"x","method":"GET","url":"/v1/images/generations","body":{"prompt":"p"}})", "method must be \"POST\""},
      {R"({"custom_id":"x","method":"POST","url":"/v1/chat/completions","body":{"prompt":"p"}})", "is not an image generation route"},
      {R"({"method":"POST","url":"/v1/images/generations","body":{"prompt":"p"}})", "custom_id is required"},
      {R"({"custom_id":"x","url":"/image/generate","body":{"prompt":"p"},"extra":1})", "field 'extra' is not part of an OpenAI Batch line"},
      {openai(R"({"prompt":"p"})", "../etc"), "id"},
  };
  for (const auto& c : cases) {
    const auto bad = refused(c.line);
    EXPECT_NE(bad.reason.find(c.reason), std::string::npos) << c.line << "\n  reason: " << bad.reason;
  }
  EXPECT_EQ(refused(openai(R"({"prompt":"p","quality":"hd"})", "keep-me")).id, "keep-me")
      << "a refused line is recorded under its custom_id when that is a valid id";
}

TEST(OpenAiBatchTest, ARunWritesBatchOutputAndErrorsWithPathsAndStatusCodes) {
  using namespace fault_test;
  Fixture fx(MockFaults{});
  const auto manifest = fx.dir / "batch.jsonl";
  test_support::write_file(
      manifest, openai(R"({"model":"z-image-turbo","prompt":"one","size":"64x64","n":2})", "one") + "\n" +
                    R"({"custom_id":"two","method":"POST","url":"/api/v1/image/generate","body":{"prompt":"two","width":64,"height":64}})" "\n" +
                    openai(R"({"prompt":"three","quality":"hd"})", "three") + "\n");
  auto r = fx.run(manifest, {"--results-format", "openai-batch"});
  EXPECT_EQ(r.exit_status, 1) << r.err;  // the refused line
  EXPECT_NE(r.err.find("2 in batch_output.jsonl, 1 in batch_errors.jsonl"), std::string::npos) << r.err;
  const auto output = test_support::read_lines(fx.out() / "batch_output.jsonl");
  ASSERT_EQ(output.size(), 2u);
  simdjson::dom::parser p;
  std::map<std::string, std::size_t> images;
  for (const auto& line : output) {
    simdjson::dom::element e;
    ASSERT_EQ(p.parse(line).get(e), simdjson::SUCCESS) << line;
    EXPECT_EQ(e["response"]["status_code"].get_int64().value(), 200);
    EXPECT_TRUE(e["error"].is_null());
    EXPECT_EQ(std::string_view(e["id"].get_string().value()).substr(0, 10), "batch_req_");
    std::size_t n = 0;
    simdjson::dom::array data;
    ASSERT_EQ(e["response"]["body"]["data"].get_array().get(data), simdjson::SUCCESS) << line;
    for (auto img : data) {
      const std::string path(img["path"].get_string().value());
      EXPECT_TRUE(std::filesystem::exists(fx.out() / path)) << path;
      EXPECT_EQ(line.find("b64_json"), std::string::npos);
      ++n;
    }
    images[std::string(e["custom_id"].get_string().value())] = n;
  }
  EXPECT_EQ(images, (std::map<std::string, std::size_t>{{"one", 2}, {"two", 1}}));
  const auto errors = test_support::read_lines(fx.out() / "batch_errors.jsonl");
  ASSERT_EQ(errors.size(), 1u);
  simdjson::dom::element e;
  ASSERT_EQ(p.parse(errors[0]).get(e), simdjson::SUCCESS);
  EXPECT_EQ(std::string_view(e["custom_id"].get_string().value()), "three");
  EXPECT_EQ(e["response"]["status_code"].get_int64().value(), 400) << "refused before sending";
  EXPECT_NE(errors[0].find("quality 'hd'"), std::string::npos) << errors[0];
  EXPECT_EQ(fx.server->stats().requests, 2u) << "the refused line is never sent";
}

TEST(OpenAiBatchTest, AFailedJobIsNeverStatus200AndEveryLineHasItsOwnId) {
  test_support::TempDir dir;
  auto record = [](std::string id, JobStatus status, int http, std::string kind) {
    JobRecord r;
    r.id = std::move(id);
    r.status = status;
    r.http_status = http;
    r.request_hash = std::string(64, 'a');  // the same request for every custom_id
    if (status == JobStatus::ok) r.files.push_back({"images/" + r.id + "_0.webp", 10, ImageFormat::webp, std::nullopt, {8, 8}});
    else r.error = JobError{kind, "why " + kind, {}, {}, false};
    return to_json_line(r) + "\n";
  };
  test_support::write_file(dir / "results.jsonl",
                           record("ok-1", JobStatus::ok, 200, "") + record("ok-2", JobStatus::ok, 200, "") +
                               record("cv", JobStatus::content_violation, 200, "content_violation") +
                               record("cut", JobStatus::failed, 200, "truncated_image") +
                               record("lost", JobStatus::failed, 0, "timeout"));
  auto written = write_openai_batch_results(dir.path());
  ASSERT_TRUE(written) << written.error();
  EXPECT_EQ(written->output_lines, 2u);
  EXPECT_EQ(written->error_lines, 3u);
  simdjson::dom::parser p;
  std::set<std::string> ids;
  std::map<std::string, std::int64_t> status;
  for (const char* file : {"batch_output.jsonl", "batch_errors.jsonl"})
    for (const auto& line : test_support::read_lines(dir / file)) {
      simdjson::dom::element e;
      ASSERT_EQ(p.parse(line).get(e), simdjson::SUCCESS) << line;
      ids.insert(std::string(e["id"].get_string().value()));
      const std::string custom_id(e["custom_id"].get_string().value());
      status[custom_id] = e["response"]["status_code"].get_int64().value();
      if (std::string_view(file) == "batch_errors.jsonl") {
        EXPECT_FALSE(e["error"].is_null()) << "every failure says why: " << line;
      }
    }
  EXPECT_EQ(ids.size(), 5u) << "two custom_ids with the same request still get their own id";
  EXPECT_EQ(status, (std::map<std::string, std::int64_t>{{"ok-1", 200}, {"ok-2", 200}, {"cv", 400}, {"cut", 500}, {"lost", 0}}));
}
