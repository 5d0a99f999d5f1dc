// Generation metadata inside PNG, JPEG and WebP files, read back with the codecs' own readers
// (libpng's text chunks, libjpeg's saved COM markers, libwebpmux's XMP chunk); the pixels decode
// as before and every original chunk keeps its bytes.
#include <gtest/gtest.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <jpeglib.h>
#include <png.h>
#include <simdjson.h>
#include <webp/decode.h>
#include <webp/encode.h>
#include <webp/mux.h>

#include "venice_batch/embed_metadata.hpp"
#include "venice_batch/image_encode.hpp"
#include "venice_batch/text.hpp"

using namespace venice_batch;
using Bytes = std::vector<std::uint8_t>;

namespace {

// Quotes, markup characters, non-ASCII (é, 日本, an emoji), control characters, U+FFFE (not
// allowed in XML) and ill-formed bytes (a lone continuation byte, a cut sequence, 0xFF).
const std::string kHostilePrompt =
    "a \"quoted\" <cat> & 'dog' in caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x90\xB1 "
    "tab\there\nline\x01 nonchar\xEF\xBF\xBE bad\x80\xC3 \xFF end";

ImageMetadata sample_metadata() {
  ImageMetadata m;
  m.prompt = kHostilePrompt;
  m.negative_prompt = "blurry, <low> & bad";
  m.model = "venice-sd35";
  m.style_preset = "3D Model";
  m.server_id = "req-1234";
  m.seed = -987654321;
  m.width = 64;
  m.height = 48;
  m.steps = 25;
  m.cfg_scale = 7.5;
  return m;
}

// ---- libpng ----

struct PngContents {
  Bytes pixels;  // the rows as stored (no transforms)
  std::vector<std::pair<std::string, std::string>> itxt;  // keyword, text of each iTXt
};

struct MemoryInput {
  const std::uint8_t* data;
  std::size_t size, pos;
};

void png_read_memory(png_structp png, png_bytep out, png_size_t n) {
  auto* in = static_cast<MemoryInput*>(png_get_io_ptr(png));
  if (in->size - in->pos < n) png_error(png, "read past the end");
  std::memcpy(out, in->data + in->pos, n);
  in->pos += n;
}

// Decodes with libpng; false when libpng reports an error (a bad CRC in an ancillary chunk is
// only a warning: libpng then drops the chunk, which the tests notice as missing text).
bool read_png(const Bytes& bytes, PngContents& result) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  MemoryInput in{bytes.data(), bytes.size(), 0};
  // No object with a destructor lives in this frame past setjmp: longjmp skips no destructor.
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, &in, png_read_memory);
  png_read_info(png, info);
  const std::size_t row_bytes = png_get_rowbytes(png, info);
  const std::uint32_t height = png_get_image_height(png, info);
  result.pixels.assign(row_bytes * height, 0);
  for (std::uint32_t y = 0; y < height; ++y) png_read_row(png, result.pixels.data() + y * row_bytes, nullptr);
  png_read_end(png, info);
  png_textp text = nullptr;
  const int n = png_get_text(png, info, &text, nullptr);
  for (int i = 0; i < n; ++i) {
    if (text[i].compression == PNG_ITXT_COMPRESSION_NONE)
      result.itxt.emplace_back(text[i].key, std::string(text[i].text, text[i].itxt_length));
  }
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

// ---- libjpeg ----

struct JpegContents {
  Bytes pixels;
  std::vector<std::string> comments;  // every COM segment, in order
};

struct JpegErrorExit {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
};

bool read_jpeg(const Bytes& bytes, JpegContents& result) {
  jpeg_decompress_struct c{};
  JpegErrorExit err{};
  c.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = [](j_common_ptr cinfo) { std::longjmp(reinterpret_cast<JpegErrorExit*>(cinfo->err)->jump, 1); };
  err.mgr.output_message = [](j_common_ptr) {};
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&c);
    return false;
  }
  jpeg_create_decompress(&c);
  jpeg_mem_src(&c, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_save_markers(&c, JPEG_COM, 0xffff);
  jpeg_read_header(&c, TRUE);
  for (jpeg_saved_marker_ptr m = c.marker_list; m; m = m->next) {
    if (m->marker == JPEG_COM) result.comments.emplace_back(reinterpret_cast<const char*>(m->data), m->data_length);
  }
  jpeg_start_decompress(&c);
  const std::size_t row_bytes = std::size_t{c.output_width} * c.output_components;
  result.pixels.assign(row_bytes * c.output_height, 0);
  while (c.output_scanline < c.output_height) {
    JSAMPROW row = result.pixels.data() + std::size_t{c.output_scanline} * row_bytes;
    jpeg_read_scanlines(&c, &row, 1);
  }
  jpeg_finish_decompress(&c);
  jpeg_destroy_decompress(&c);
  return true;
}

// ---- libwebp / libwebpmux ----

Bytes decode_webp_rgba(const Bytes& bytes) {
  int w = 0, h = 0;
  std::uint8_t* rgba = WebPDecodeRGBA(bytes.data(), bytes.size(), &w, &h);
  if (!rgba) return {};
  Bytes out(rgba, rgba + std::size_t(w) * h * 4);
  WebPFree(rgba);
  return out;
}

// The "XMP " chunk as libwebpmux reads it; nullopt when there is none.
std::optional<std::string> webp_xmp(const Bytes& bytes) {
  const WebPData data{bytes.data(), bytes.size()};
  WebPMux* mux = WebPMuxCreate(&data, 1);
  if (!mux) return std::nullopt;
  WebPData chunk;
  std::optional<std::string> xmp;
  if (WebPMuxGetChunk(mux, "XMP ", &chunk) == WEBP_MUX_OK) xmp.emplace(reinterpret_cast<const char*>(chunk.bytes), chunk.size);
  WebPMuxDelete(mux);
  return xmp;
}

// The JSON inside the XMP packet's dc:description, its XML entities undone.
std::string json_of_xmp(const std::string& xmp) {
  const std::string open = "<rdf:li xml:lang=\"x-default\">";
  EXPECT_TRUE(xmp.starts_with("<?xpacket begin="));
  EXPECT_TRUE(xmp.ends_with("<?xpacket end=\"r\"?>"));
  const auto begin = xmp.find(open);
  const auto end = xmp.find("</rdf:li>");
  if (begin == std::string::npos || end == std::string::npos) return {};
  const std::string escaped = xmp.substr(begin + open.size(), end - begin - open.size());
  // Well-formed XML character data: no raw '<', '&' only in an entity, no character XML forbids.
  EXPECT_EQ(escaped.find('<'), std::string::npos);
  for (std::size_t amp = escaped.find('&'); amp != std::string::npos; amp = escaped.find('&', amp + 1)) {
    const std::string_view rest = std::string_view(escaped).substr(amp);
    EXPECT_TRUE(rest.starts_with("&amp;") || rest.starts_with("&lt;") || rest.starts_with("&gt;") || rest.starts_with("&quot;"));
  }
  for (char c : escaped) EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r');
  EXPECT_EQ(escaped.find("\xEF\xBF\xBE"), std::string::npos);
  EXPECT_EQ(escaped.find("\xEF\xBF\xBF"), std::string::npos);
  std::string out;
  for (std::size_t i = 0; i < escaped.size();) {
    bool replaced = false;
    for (auto [entity, c] : {std::pair{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}}) {
      if (escaped.compare(i, std::strlen(entity), entity) == 0) {
        out += c;
        i += std::strlen(entity);
        replaced = true;
        break;
      }
    }
    if (!replaced) out += escaped[i++];
  }
  return out;
}

struct RiffChunk {
  std::string fourcc;
  Bytes payload;
};

// The chunks after "RIFF" size "WEBP", payloads without their padding byte.
std::vector<RiffChunk> webp_chunks(const Bytes& b) {
  std::vector<RiffChunk> chunks;
  for (std::size_t pos = 12; b.size() - pos >= 8;) {
    const std::uint32_t len = b[pos + 4] | (b[pos + 5] << 8) | (b[pos + 6] << 16) | (std::uint32_t{b[pos + 7]} << 24);
    if (b.size() - pos - 8 < len) break;
    chunks.push_back({std::string(b.begin() + pos, b.begin() + pos + 4), Bytes(b.begin() + pos + 8, b.begin() + pos + 8 + len)});
    pos += 8 + len + (len & 1);
  }
  return chunks;
}

std::vector<std::string> fourccs(const std::vector<RiffChunk>& chunks) {
  std::vector<std::string> names;
  for (const auto& c : chunks) names.push_back(c.fourcc);
  return names;
}

Bytes webp_from(std::uint8_t* data, std::size_t size) {
  Bytes out(data, data + size);
  WebPFree(data);
  return out;
}

// A small RGBA picture whose alpha varies, so a lossy encoding needs an ALPH chunk.
std::vector<std::uint8_t> rgba_picture(int w, int h) {
  std::vector<std::uint8_t> rgba(std::size_t(w) * h * 4);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      std::uint8_t* p = &rgba[(std::size_t(y) * w + x) * 4];
      p[0] = static_cast<std::uint8_t>(x * 8);
      p[1] = static_cast<std::uint8_t>(y * 8);
      p[2] = static_cast<std::uint8_t>((x ^ y) * 16);
      p[3] = static_cast<std::uint8_t>(255 - x * 4);
    }
  return rgba;
}

// ---- the embedded JSON ----

struct EmbeddedFields {
  std::string prompt;
  std::int64_t seed = 0;
  bool truncated = false;
};

// The prompt and seed of embedded JSON; a failed parse fails the test.
EmbeddedFields fields_of(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  EmbeddedFields f;
  EXPECT_FALSE(parser.parse(json).get(root)) << json.substr(0, 200);
  std::string_view prompt;
  if (!root["prompt"].get_string().get(prompt)) f.prompt = std::string(prompt);
  EXPECT_FALSE(root["seed"].get_int64().get(f.seed));
  bool truncated = false;
  if (!root["truncated"].get_bool().get(truncated)) f.truncated = truncated;
  return f;
}

Bytes embed_or_fail(const Bytes& image, ImageFormat format, const ImageMetadata& meta) {
  auto embedded = embed_image_metadata(image, format, meta);
  EXPECT_TRUE(embedded.has_value()) << (embedded.has_value() ? "" : embedded.error().message());
  return embedded.has_value() ? Bytes(embedded->begin(), embedded->end()) : Bytes{};
}

// Decodes `original` and `embedded` (sample_metadata() put in) with the codec's own `read`, into
// `after` for the embedded one: the pixels are the same, and `texts` (a decoded image's metadata
// texts) finds none in the original and exactly one in the other, holding the sample's fields.
template <typename Contents, typename Texts>
void expect_same_pixels_and_one_sample_text(const Bytes& original, const Bytes& embedded,
                                            bool (*read)(const Bytes&, Contents&), Texts texts, Contents& after) {
  Contents before;
  ASSERT_TRUE(read(original, before));
  ASSERT_TRUE(read(embedded, after));
  EXPECT_EQ(after.pixels, before.pixels);
  ASSERT_EQ(texts(before).size(), 0u);
  ASSERT_EQ(texts(after).size(), 1u);  // PNG: a bad CRC would make libpng drop it
  const auto fields = fields_of(texts(after)[0]);
  EXPECT_EQ(fields.prompt, sanitize_utf8(kHostilePrompt));
  EXPECT_EQ(fields.seed, -987654321);
}

std::vector<std::string> itxt_texts(const PngContents& c) {
  std::vector<std::string> texts;
  for (const auto& [keyword, text] : c.itxt) texts.push_back(text);
  return texts;
}

}  // namespace

// ---- JSON and the request body ----

TEST(EmbedMetadataTest, JsonLeavesOutEmptyFieldsAndKeepsTheRequestsFieldNames) {
  EXPECT_EQ(image_metadata_json(ImageMetadata{}), "{}");
  ImageMetadata m;
  m.prompt = "a cat";
  m.model = "flux-dev";
  m.seed = 42;
  m.width = 1024;
  m.height = 768;
  m.cfg_scale = 3.5;
  m.server_id = "abc";
  EXPECT_EQ(image_metadata_json(m),
            R"({"prompt":"a cat","model":"flux-dev","seed":42,"width":1024,"height":768,"cfg_scale":3.5,"server_id":"abc"})");
  m.cfg_scale = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(image_metadata_json(m).find("cfg_scale"), std::string::npos);
}

TEST(EmbedMetadataTest, JsonIsValidUtf8AndParsesWhateverThePromptHolds) {
  const std::string json = image_metadata_json(sample_metadata());
  EXPECT_TRUE(is_valid_utf8(json));
  EXPECT_EQ(fields_of(json).prompt, sanitize_utf8(kHostilePrompt));
}

TEST(EmbedMetadataTest, RequestBodyGivesTheGenerationFieldsAndIgnoresTheRest) {
  const auto m = image_metadata_from_request(
      R"({"model":"venice-sd35","prompt":"a fox","negative_prompt":"rain","seed":7,"width":1024,"height":1280,)"
      R"("steps":30,"cfg_scale":5,"style_preset":"Anime","format":"png","variants":2,"hide_watermark":true})",
      "srv-9");
  EXPECT_EQ(m.model, "venice-sd35");
  EXPECT_EQ(m.prompt, "a fox");
  EXPECT_EQ(m.negative_prompt, "rain");
  EXPECT_EQ(m.seed, 7);
  EXPECT_EQ(m.width, 1024);
  EXPECT_EQ(m.height, 1280);
  EXPECT_EQ(m.steps, 30);
  EXPECT_EQ(m.cfg_scale, 5.0);
  EXPECT_EQ(m.style_preset, "Anime");
  EXPECT_EQ(m.server_id, "srv-9");
}

TEST(EmbedMetadataTest, RequestFieldsOfTheWrongTypeAreLeftOut) {
  const auto m = image_metadata_from_request(R"({"prompt":5,"seed":"7","width":10.5,"steps":20.0,"cfg_scale":"high","model":null})", "");
  EXPECT_EQ(m.prompt, "");
  EXPECT_FALSE(m.seed);
  EXPECT_FALSE(m.width);
  EXPECT_EQ(m.steps, 20);  // an integral number written as 20.0 is still 20 steps
  EXPECT_FALSE(m.cfg_scale);
  EXPECT_EQ(m.model, "");
  EXPECT_EQ(image_metadata_json(m), R"({"steps":20})");
}

TEST(EmbedMetadataTest, RequestBodyThatIsNotAnObjectGivesTheServerIdAlone) {
  for (const char* body : {"", "not json", "[1,2]", "{\"prompt\":", "\"a\""}) {
    const auto m = image_metadata_from_request(body, "srv");
    EXPECT_EQ(image_metadata_json(m), R"({"server_id":"srv"})") << body;
  }
}

// ---- PNG ----

TEST(EmbedMetadataTest, PngKeepsEveryOriginalChunkAndGainsOneITXtReadableByLibpng) {
  const Bytes png = encode_test_image(ImageFormat::png, 64, 48, 3);
  const Bytes out = embed_or_fail(png, ImageFormat::png, sample_metadata());
  ASSERT_FALSE(out.empty());

  PngContents after;
  expect_same_pixels_and_one_sample_text(png, out, read_png, itxt_texts, after);
  if (HasFatalFailure()) return;
  EXPECT_EQ(after.itxt[0].first, kPngMetadataKeyword);

  // The iTXt sits right after IHDR; without it the bytes are the original's.
  constexpr std::size_t kAfterIhdr = 33;
  ASSERT_GT(out.size(), kAfterIhdr + 12);
  EXPECT_EQ(std::string(out.begin() + kAfterIhdr + 4, out.begin() + kAfterIhdr + 8), "iTXt");
  const std::size_t len = (std::size_t{out[kAfterIhdr]} << 24) | (out[kAfterIhdr + 1] << 16) | (out[kAfterIhdr + 2] << 8) |
                          out[kAfterIhdr + 3];
  Bytes without = out;
  without.erase(without.begin() + kAfterIhdr, without.begin() + kAfterIhdr + 12 + len);
  EXPECT_EQ(without, png);
  EXPECT_EQ(out.size(), png.size() + 12 + len);
}

TEST(EmbedMetadataTest, PngKeepsAHundredKilobytePromptWhole) {
  ImageMetadata m = sample_metadata();
  m.prompt = std::string(100 * 1024, 'x');
  const Bytes out = embed_or_fail(encode_test_image(ImageFormat::png, 16, 16, 1), ImageFormat::png, m);
  PngContents read;
  ASSERT_TRUE(read_png(out, read));
  ASSERT_EQ(read.itxt.size(), 1u);
  const auto fields = fields_of(read.itxt[0].second);
  EXPECT_EQ(fields.prompt, m.prompt);
  EXPECT_FALSE(fields.truncated);
}

// ---- JPEG ----

TEST(EmbedMetadataTest, JpegGainsOneCommentAfterJfifReadableByLibjpegAndDecodesTheSame) {
  const Bytes jpeg = encode_test_image(ImageFormat::jpeg, 64, 48, 3);
  const Bytes out = embed_or_fail(jpeg, ImageFormat::jpeg, sample_metadata());
  ASSERT_FALSE(out.empty());

  JpegContents after;
  expect_same_pixels_and_one_sample_text(jpeg, out, read_jpeg, [](const JpegContents& c) { return c.comments; }, after);
  if (HasFatalFailure()) return;

  // SOI, the JFIF APP0 unchanged, then the COM; without it the bytes are the original's.
  ASSERT_EQ(jpeg[2], 0xff);
  ASSERT_EQ(jpeg[3], 0xe0);
  const std::size_t com = 4 + ((std::size_t{jpeg[4]} << 8) | jpeg[5]);
  ASSERT_GT(out.size(), com + 4);
  EXPECT_EQ(out[com], 0xff);
  EXPECT_EQ(out[com + 1], 0xfe);
  const std::size_t len = (std::size_t{out[com + 2]} << 8) | out[com + 3];
  Bytes without = out;
  without.erase(without.begin() + com, without.begin() + com + 2 + len);
  EXPECT_EQ(without, jpeg);
}

TEST(EmbedMetadataTest, JpegCommentGoesAfterAnExifSegmentToo) {
  const Bytes plain = encode_test_image(ImageFormat::jpeg, 32, 32, 2);
  // An APP1 "Exif" segment after JFIF, as cameras and some servers write.
  const std::size_t after_app0 = 4 + ((std::size_t{plain[4]} << 8) | plain[5]);
  const Bytes app1 = {0xff, 0xe1, 0x00, 0x08, 'E', 'x', 'i', 'f', 0, 0};
  Bytes jpeg = plain;
  jpeg.insert(jpeg.begin() + after_app0, app1.begin(), app1.end());

  const Bytes out = embed_or_fail(jpeg, ImageFormat::jpeg, sample_metadata());
  ASSERT_GT(out.size(), after_app0 + app1.size() + 2);
  EXPECT_TRUE(std::equal(app1.begin(), app1.end(), out.begin() + after_app0));
  EXPECT_EQ(out[after_app0 + app1.size()], 0xff);
  EXPECT_EQ(out[after_app0 + app1.size() + 1], 0xfe);
  JpegContents read;
  ASSERT_TRUE(read_jpeg(out, read));
  ASSERT_EQ(read.comments.size(), 1u);
  EXPECT_EQ(fields_of(read.comments[0]).seed, -987654321);
}

TEST(EmbedMetadataTest, JpegHundredKilobytePromptIsCutToFitOneCommentAsValidJson) {
  ImageMetadata m = sample_metadata();
  // 3-byte characters, so a cut at an arbitrary byte would split one.
  std::string huge;
  while (huge.size() < 100 * 1024) huge += "\xE6\x97\xA5\"";
  m.prompt = huge;
  const Bytes out = embed_or_fail(encode_test_image(ImageFormat::jpeg, 16, 16, 1), ImageFormat::jpeg, m);
  JpegContents read;
  ASSERT_TRUE(read_jpeg(out, read));
  ASSERT_EQ(read.comments.size(), 1u);
  const std::string& comment = read.comments[0];
  EXPECT_LE(comment.size(), kJpegCommentMaxBytes);
  EXPECT_GT(comment.size(), kJpegCommentMaxBytes - 16);  // cut no more than needed
  EXPECT_TRUE(is_valid_utf8(comment));
  const auto fields = fields_of(comment);
  EXPECT_TRUE(fields.truncated);
  EXPECT_EQ(fields.seed, -987654321);  // the other fields survive whole
  EXPECT_FALSE(fields.prompt.empty());
  EXPECT_EQ(huge.compare(0, fields.prompt.size(), fields.prompt), 0);  // a prefix of the prompt
}

// ---- WebP ----

TEST(EmbedMetadataTest, SimpleLossyWebpGainsVp8xAndXmpAndKeepsTheVp8ChunkBytes) {
  const Bytes webp = encode_test_image(ImageFormat::webp, 64, 48, 3);
  ASSERT_EQ(fourccs(webp_chunks(webp)), (std::vector<std::string>{"VP8 "}));
  const Bytes out = embed_or_fail(webp, ImageFormat::webp, sample_metadata());
  ASSERT_FALSE(out.empty());

  const auto chunks = webp_chunks(out);
  ASSERT_EQ(fourccs(chunks), (std::vector<std::string>{"VP8X", "VP8 ", "XMP "}));
  EXPECT_EQ(chunks[1].payload, webp_chunks(webp)[0].payload);
  EXPECT_EQ(decode_webp_rgba(out), decode_webp_rgba(webp));
  EXPECT_FALSE(decode_webp_rgba(out).empty());
  EXPECT_EQ(check_image(out).size.width, 64u);
  EXPECT_EQ(check_image(out).size.height, 48u);

  const auto xmp = webp_xmp(out);
  ASSERT_TRUE(xmp);
  EXPECT_TRUE(is_valid_utf8(*xmp));
  const auto fields = fields_of(json_of_xmp(*xmp));
  EXPECT_EQ(fields.prompt, sanitize_utf8(kHostilePrompt));
  EXPECT_EQ(fields.seed, -987654321);
  // U+FFFE may not appear in XML: it is written as the JSON escape \ufffe.
  EXPECT_NE(xmp->find("\\ufffe"), std::string::npos);
}

TEST(EmbedMetadataTest, LosslessWebpKeepsTheVp8lChunkBytes) {
  const auto rgba = rgba_picture(24, 20);
  std::uint8_t* data = nullptr;
  const std::size_t n = WebPEncodeLosslessRGBA(rgba.data(), 24, 20, 24 * 4, &data);
  const Bytes webp = webp_from(data, n);
  ASSERT_EQ(fourccs(webp_chunks(webp)), (std::vector<std::string>{"VP8L"}));

  const Bytes out = embed_or_fail(webp, ImageFormat::webp, sample_metadata());
  const auto chunks = webp_chunks(out);
  ASSERT_EQ(fourccs(chunks), (std::vector<std::string>{"VP8X", "VP8L", "XMP "}));
  EXPECT_EQ(chunks[1].payload, webp_chunks(webp)[0].payload);
  EXPECT_EQ(decode_webp_rgba(out), rgba);
  ASSERT_TRUE(webp_xmp(out));
  EXPECT_EQ(fields_of(json_of_xmp(*webp_xmp(out))).prompt, sanitize_utf8(kHostilePrompt));
}

TEST(EmbedMetadataTest, ExtendedWebpWithAlphaKeepsItsAlphaAndImageChunks) {
  const auto rgba = rgba_picture(24, 20);
  std::uint8_t* data = nullptr;
  const std::size_t n = WebPEncodeRGBA(rgba.data(), 24, 20, 24 * 4, 80.0f, &data);
  const Bytes webp = webp_from(data, n);
  const auto original = webp_chunks(webp);
  ASSERT_EQ(fourccs(original), (std::vector<std::string>{"VP8X", "ALPH", "VP8 "}));

  const Bytes out = embed_or_fail(webp, ImageFormat::webp, sample_metadata());
  const auto chunks = webp_chunks(out);
  ASSERT_EQ(fourccs(chunks), (std::vector<std::string>{"VP8X", "ALPH", "VP8 ", "XMP "}));
  EXPECT_EQ(chunks[1].payload, original[1].payload);
  EXPECT_EQ(chunks[2].payload, original[2].payload);
  // The VP8X flags gain the XMP bit (0x04); the canvas size stays.
  EXPECT_EQ(chunks[0].payload[0], original[0].payload[0] | 0x04);
  EXPECT_TRUE(std::equal(chunks[0].payload.begin() + 4, chunks[0].payload.end(), original[0].payload.begin() + 4));
  EXPECT_EQ(decode_webp_rgba(out), decode_webp_rgba(webp));
}

TEST(EmbedMetadataTest, WebpThatAlreadyHasXmpIsLeftAlone) {
  const Bytes once = embed_or_fail(encode_test_image(ImageFormat::webp, 16, 16, 1), ImageFormat::webp, sample_metadata());
  const auto twice = embed_image_metadata(once, ImageFormat::webp, ImageMetadata{});
  ASSERT_FALSE(twice.has_value());
  EXPECT_EQ(twice.error(), make_error_code(EmbedError::webp_has_xmp));
}

// ---- bad input ----

TEST(EmbedMetadataTest, BytesOfAnotherFormatAreRefused) {
  const Bytes png = encode_test_image(ImageFormat::png, 8, 8, 1);
  for (auto f : {ImageFormat::jpeg, ImageFormat::webp}) {
    const auto r = embed_image_metadata(png, f, sample_metadata());
    ASSERT_FALSE(r.has_value()) << to_string(f);
    EXPECT_EQ(r.error(), make_error_code(EmbedError::wrong_format));
  }
  const Bytes text = {'{', '"', 'e', '"', ':', '1', '}'};
  EXPECT_FALSE(embed_image_metadata(text, ImageFormat::png, {}).has_value());
  EXPECT_FALSE(embed_image_metadata({}, ImageFormat::jpeg, {}).has_value());
}

TEST(EmbedMetadataTest, EveryTruncationOfEachFormatIsAnErrorNotACrash) {
  for (auto f : {ImageFormat::png, ImageFormat::jpeg, ImageFormat::webp}) {
    const Bytes image = encode_test_image(f, 12, 10, 5);
    for (std::size_t n = 0; n < image.size(); ++n) {
      const auto r = embed_image_metadata(std::span(image.data(), n), f, sample_metadata());
      ASSERT_FALSE(r.has_value()) << to_string(f) << " cut to " << n << " of " << image.size();
      EXPECT_EQ(r.error().category(), embed_error_category());
    }
  }
}

TEST(EmbedMetadataTest, CorruptHeaderBytesNeverCrashAndAnEmbeddedResultStillParses) {
  for (auto f : {ImageFormat::png, ImageFormat::jpeg, ImageFormat::webp}) {
    const Bytes image = encode_test_image(f, 12, 10, 5);
    for (std::size_t i = 0; i < std::min<std::size_t>(image.size(), 64); ++i) {
      for (std::uint8_t v : {0x00, 0xff, 0x7f}) {
        Bytes bad = image;
        bad[i] = v;
        const auto r = embed_image_metadata(bad, f, sample_metadata());
        if (r.has_value()) {
          EXPECT_TRUE(check_image(*r).ok()) << to_string(f) << " byte " << i << " = " << int(v);
        }
      }
    }
  }
}

TEST(EmbedMetadataTest, ErrorsSayWhatIsWrong) {
  EXPECT_EQ(make_error_code(EmbedError::malformed_image).message(), "the image is truncated or corrupt");
  EXPECT_EQ(make_error_code(EmbedError::webp_has_xmp).message(), "the WebP already has XMP metadata");
}
