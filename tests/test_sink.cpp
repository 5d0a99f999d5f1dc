#include <gtest/gtest.h>

#include <sys/stat.h>

#include "test_support.hpp"
#include "venice_batch/base64.hpp"
#include "venice_batch/image_encode.hpp"
#include "venice_batch/journal.hpp"
#include "venice_batch/sink.hpp"

using namespace venice_batch;
using test_support::TempDir;

TEST(SinkTest, FileNameIsIdVariantAndExtension) {
  EXPECT_EQ(image_file_name("cat-01", 0, ImageFormat::webp), "cat-01_0.webp");
  EXPECT_EQ(image_file_name("x", 3, ImageFormat::jpeg), "x_3.jpg");
  EXPECT_EQ(image_file_name("00000042", 1, ImageFormat::png), "00000042_1.png");
}

TEST(SinkTest, WritesImageUnderFinalNameWithNoTempLeft) {
  TempDir dir;
  OutputSink sink(dir.path() / "out", true);
  std::vector<std::uint8_t> bytes(100000, 7);
  ASSERT_TRUE(sink.write_image("a_0.png", bytes));
  EXPECT_EQ(std::filesystem::file_size(dir.path() / "out/images/a_0.png"), bytes.size());
  std::size_t entries = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path() / "out/images")) {
    ++entries;
    EXPECT_FALSE(is_temp_file_name(e.path().filename().string()));
  }
  EXPECT_EQ(entries, 1u);
}

TEST(SinkTest, RemovesStaleTempFilesButNotImages) {
  TempDir dir;
  OutputSink sink(dir.path(), false);
  test_support::write_file(dir.path() / "images/.a_0.png.tmp-123-0", "partial");
  test_support::write_file(dir.path() / "images/a_1.png", "whole");
  EXPECT_EQ(sink.remove_stale_temp_files(), 1u);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "images/a_1.png"));
}

TEST(SinkTest, UnwritableDirectoryIsReportedUpFront) {
  if (::geteuid() == 0) {
    // root ignores permission bits: use a path under a regular file instead.
    TempDir dir;
    test_support::write_file(dir.path() / "file", "x");
    EXPECT_THROW(OutputSink(dir.path() / "file/out", true), std::runtime_error);
    return;
  }
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "ro/images");
  ::chmod((dir.path() / "ro/images").c_str(), 0500);
  EXPECT_THROW(OutputSink(dir.path() / "ro", true), std::runtime_error);
}

TEST(SinkTest, FailedWriteLeavesNoFinalName) {
  TempDir dir;
  OutputSink sink(dir.path(), false);
  std::filesystem::remove_all(dir.path() / "images");  // vanishes mid-run
  std::vector<std::uint8_t> bytes(10, 1);
  auto r = sink.write_image("a_0.png", bytes);
  EXPECT_FALSE(r);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "images/a_0.png"));
}

namespace {
HttpResponse json_with_image(const std::vector<std::uint8_t>& image) {
  HttpResponse r;
  r.status = 200;
  r.body = R"({"id":"generate-image-1","images":[")" + base64::encode(image) + R"("]})";
  r.body.reserve(r.body.size() + 64);
  return r;
}
}  // namespace

TEST(SinkTest, AnImageInAnotherFormatIsKeptUnderItsOwnExtension) {
  TempDir dir;
  OutputSink sink(dir.path(), false);
  ResponseDecoder decoder;
  const auto png = encode_test_image(ImageFormat::png, 32, 24, 1);
  auto stored = decode_and_store(decoder, json_with_image(png), {ImageFormat::webp, 1, false}, "cat", &sink);
  ASSERT_TRUE(stored.ok) << stored.error_kind << ": " << stored.error_message;
  ASSERT_EQ(stored.files.size(), 1u);
  EXPECT_EQ(stored.files[0].path, "images/cat_0.png");
  EXPECT_EQ(stored.files[0].format, ImageFormat::png);
  EXPECT_EQ(stored.files[0].requested_format, ImageFormat::webp);
  EXPECT_EQ(stored.files[0].size.width, 32u);
  EXPECT_EQ(test_support::read_file(dir.path() / "images/cat_0.png"), std::string(png.begin(), png.end()));

  auto asked = decode_and_store(decoder, json_with_image(png), {ImageFormat::png, 1, false}, "dog", &sink);
  ASSERT_TRUE(asked.ok);
  EXPECT_FALSE(asked.files[0].requested_format);
}

TEST(SinkTest, AnImageOfAnotherSizeThanAskedIsKeptAndSaysWhatWasAsked) {
  TempDir dir;
  OutputSink sink(dir.path(), false);
  ResponseDecoder decoder;
  const auto png = encode_test_image(ImageFormat::png, 32, 24, 1);
  auto other = decode_and_store(decoder, json_with_image(png), {ImageFormat::png, 1, false, ImageSize{32, 32}}, "sq", &sink);
  ASSERT_TRUE(other.ok) << other.error_message;
  ASSERT_TRUE(other.files[0].requested_size);
  EXPECT_EQ(other.files[0].requested_size->height, 32u);
  EXPECT_EQ(other.files[0].size.height, 24u) << "the bytes decide";
  JobRecord rec;
  rec.id = "sq";
  rec.status = JobStatus::ok;
  rec.files = other.files;
  EXPECT_NE(to_json_line(rec).find(R"("width":32,"height":24,"requested_width":32,"requested_height":32)"),
            std::string::npos)
      << to_json_line(rec);
  auto same = decode_and_store(decoder, json_with_image(png), {ImageFormat::png, 1, false, ImageSize{32, 24}}, "ok", &sink);
  ASSERT_TRUE(same.ok);
  EXPECT_FALSE(same.files[0].requested_size);
}

TEST(SinkTest, ATruncatedImageIsARetryableErrorAndNoFile) {
  TempDir dir;
  OutputSink sink(dir.path(), false);
  ResponseDecoder decoder;
  auto webp = encode_test_image(ImageFormat::webp, 64, 64, 1);
  webp.resize(webp.size() / 2);
  auto stored = decode_and_store(decoder, json_with_image(webp), {ImageFormat::webp, 1, false}, "cut", &sink);
  EXPECT_FALSE(stored.ok);
  EXPECT_TRUE(stored.retryable);
  EXPECT_EQ(stored.error_kind, "truncated_image");
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() / "images"));
}

TEST(SinkTest, AFileNameGivesBackItsJobIdOnlyWhenItIsOneOfAJobsNames) {
  EXPECT_EQ(job_id_of_file_name("cat_0.webp"), "cat");
  EXPECT_EQ(job_id_of_file_name("a_1_3.png"), "a_1");  // the last _<k> is the variant
  EXPECT_EQ(job_id_of_file_name("x.y_2.jpg"), "x.y");
  EXPECT_EQ(job_id_of_file_name("cat_0.txt"), "cat");
  EXPECT_EQ(job_id_of_file_name("cat_0.json"), "cat");
  for (const char* other : {"notes.md", "cat.webp", "cat_.webp", "_0.webp", "cat_x.png", "cat_0", "cat_0.tar"})
    EXPECT_FALSE(job_id_of_file_name(other)) << other;
}
