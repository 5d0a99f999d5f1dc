// Metadata into PNG, JPEG and WebP: PNG and JPEG by splicing one chunk or segment into the bytes
// at a place the container allows; WebP through libwebpmux, which also writes the VP8X header
// that a file with metadata needs.
#include "venice_batch/embed_metadata.hpp"

#include <algorithm>
#include <cmath>
#include <memory>

#include <webp/mux.h>
#include <zlib.h>

#include "json_fields.hpp"
#include "venice_batch/text.hpp"

namespace venice_batch {
namespace {

using Bytes = std::span<const std::uint8_t>;
using Writer = json::Writer;
using json::put_if_any;

class EmbedErrorCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "venice_batch.embed_metadata"; }
  std::string message(int ev) const override {
    switch (static_cast<EmbedError>(ev)) {
      case EmbedError::wrong_format: return "the bytes are not an image of the expected format";
      case EmbedError::malformed_image: return "the image is truncated or corrupt";
      case EmbedError::webp_has_xmp: return "the WebP already has XMP metadata";
      case EmbedError::webp_mux_failed: return "libwebpmux could not rewrite the WebP";
    }
    return "unknown metadata embedding error";
  }
};

// ---- JSON ----------------------------------------------------------------------------------

// `m`'s text fields must already be valid UTF-8.
std::string write_json(const ImageMetadata& m, bool truncated) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  put_if_any(w, "prompt", m.prompt);
  put_if_any(w, "negative_prompt", m.negative_prompt);
  put_if_any(w, "model", m.model);
  put_if_any(w, "seed", m.seed);
  put_if_any(w, "width", m.width);
  put_if_any(w, "height", m.height);
  put_if_any(w, "steps", m.steps);
  if (m.cfg_scale && std::isfinite(*m.cfg_scale)) {
    w.Key("cfg_scale");
    w.Double(*m.cfg_scale);
  }
  put_if_any(w, "style_preset", m.style_preset);
  put_if_any(w, "server_id", m.server_id);
  if (truncated) {
    w.Key("truncated");
    w.Bool(true);
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

ImageMetadata sanitized(const ImageMetadata& m) {
  ImageMetadata s = m;
  for (std::string* t : {&s.prompt, &s.negative_prompt, &s.model, &s.style_preset, &s.server_id}) *t = sanitize_utf8(*t);
  return s;
}

// The JSON in at most `max_bytes`. When the whole does not fit, every text field is cut (at a
// character boundary) to one common length, the largest that fits, found by bisection: short
// fields such as the model and the server id stay whole, a long prompt gives way.
std::string json_within(const ImageMetadata& meta, std::size_t max_bytes) {
  const ImageMetadata whole = sanitized(meta);
  std::string json = write_json(whole, false);
  if (json.size() <= max_bytes) return json;
  auto capped = [&](std::size_t cap) {
    ImageMetadata m = whole;
    for (std::string* t : {&m.prompt, &m.negative_prompt, &m.model, &m.style_preset, &m.server_id})
      *t = std::string(truncate_utf8(*t, cap));
    return write_json(m, true);
  };
  std::string best = capped(0);
  if (best.size() > max_bytes) return "{\"truncated\":true}";  // only for a cap below the fixed fields' size
  // capped(lo) fits; capped(hi) does not (at the longest field's length nothing is cut).
  std::size_t lo = 0, hi = 0;
  for (const std::string* t : {&whole.prompt, &whole.negative_prompt, &whole.model, &whole.style_preset, &whole.server_id})
    hi = std::max(hi, t->size());
  while (hi - lo > 1) {
    const std::size_t mid = lo + (hi - lo) / 2;
    std::string candidate = capped(mid);
    if (candidate.size() <= max_bytes) {
      lo = mid;
      best = std::move(candidate);
    } else {
      hi = mid;
    }
  }
  return best;
}

// ---- PNG -----------------------------------------------------------------------------------

void put_be32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

// Signature (8), then IHDR: length (4) "IHDR" (4) data (13) CRC (4); check_image has checked them.
constexpr std::size_t kPngAfterIhdr = 8 + 4 + 4 + 13 + 4;
// A chunk's data is at most 2^31 - 1 bytes.
constexpr std::size_t kPngChunkMax = 0x7fffffff;

std::vector<std::uint8_t> embed_png(Bytes png, const ImageMetadata& meta) {
  // iTXt data: keyword NUL, compression flag 0 (none), method 0, language tag "" NUL,
  // translated keyword "" NUL, then the UTF-8 text.
  const std::size_t header = kPngMetadataKeyword.size() + 5;
  const std::string json = json_within(meta, kPngChunkMax - header);
  std::vector<std::uint8_t> chunk;
  chunk.reserve(12 + header + json.size());
  put_be32(chunk, static_cast<std::uint32_t>(header + json.size()));
  chunk.insert(chunk.end(), {'i', 'T', 'X', 't'});
  chunk.insert(chunk.end(), kPngMetadataKeyword.begin(), kPngMetadataKeyword.end());
  chunk.insert(chunk.end(), {0, 0, 0, 0, 0});
  chunk.insert(chunk.end(), json.begin(), json.end());
  // The CRC covers the chunk type and data, not the length.
  put_be32(chunk, static_cast<std::uint32_t>(crc32_z(0, chunk.data() + 4, chunk.size() - 4)));

  std::vector<std::uint8_t> out;
  out.reserve(png.size() + chunk.size());
  out.insert(out.end(), png.begin(), png.begin() + kPngAfterIhdr);
  out.insert(out.end(), chunk.begin(), chunk.end());
  out.insert(out.end(), png.begin() + kPngAfterIhdr, png.end());
  return out;
}

// ---- JPEG ----------------------------------------------------------------------------------

// The offset after SOI and the APPn segments (FF E0..EF) right after it: JFIF and Exif expect
// their APP0 / APP1 first, so the comment goes behind them. nullopt if a segment overruns.
std::optional<std::size_t> jpeg_comment_offset(Bytes jpeg) {
  std::size_t pos = 2;
  while (jpeg.size() - pos >= 4 && jpeg[pos] == 0xff && jpeg[pos + 1] >= 0xe0 && jpeg[pos + 1] <= 0xef) {
    const std::size_t len = (std::size_t{jpeg[pos + 2]} << 8) | jpeg[pos + 3];
    if (len < 2 || jpeg.size() - pos - 2 < len) return std::nullopt;
    pos += 2 + len;
  }
  return pos;
}

boost::system::result<std::vector<std::uint8_t>> embed_jpeg(Bytes jpeg, const ImageMetadata& meta) {
  const auto at = jpeg_comment_offset(jpeg);
  if (!at) return make_error_code(EmbedError::malformed_image);
  const std::string json = json_within(meta, kJpegCommentMaxBytes);
  const std::size_t len = json.size() + 2;  // the length counts its own two bytes
  std::vector<std::uint8_t> out;
  out.reserve(jpeg.size() + 2 + len);
  out.insert(out.end(), jpeg.begin(), jpeg.begin() + static_cast<std::ptrdiff_t>(*at));
  out.insert(out.end(), {0xff, 0xfe, static_cast<std::uint8_t>(len >> 8), static_cast<std::uint8_t>(len & 0xff)});
  out.insert(out.end(), json.begin(), json.end());
  out.insert(out.end(), jpeg.begin() + static_cast<std::ptrdiff_t>(*at), jpeg.end());
  return out;
}

// ---- WebP ----------------------------------------------------------------------------------

// XML character data: markup characters as entities. XML 1.0 forbids U+FFFE and U+FFFF, which
// valid UTF-8 may hold (only inside JSON strings): they become the JSON escapes of the same
// characters, so the JSON read back means the same. JSON has already escaped every control byte.
std::string xml_escaped(std::string_view json) {
  std::string out;
  out.reserve(json.size() + json.size() / 8);
  for (std::size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '"') out += "&quot;";
    else if (c == '\xEF' && json.compare(i, 2, "\xEF\xBF") == 0 && i + 2 < json.size() &&
             (json[i + 2] == '\xBE' || json[i + 2] == '\xBF')) {
      out += json[i + 2] == '\xBE' ? "\\ufffe" : "\\uffff";
      i += 2;
    } else out += c;
  }
  return out;
}

// An XMP packet with the JSON as the image's dc:description (a language alternative), which
// image viewers and exiftool show as the description.
std::string xmp_packet(std::string_view json) {
  std::string xmp =
      "<?xpacket begin=\"\xEF\xBB\xBF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n"
      "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n"
      " <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n"
      "  <rdf:Description rdf:about=\"\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n"
      "   <dc:description><rdf:Alt><rdf:li xml:lang=\"x-default\">";
  xmp += xml_escaped(json);
  xmp +=
      "</rdf:li></rdf:Alt></dc:description>\n"
      "  </rdf:Description>\n"
      " </rdf:RDF>\n"
      "</x:xmpmeta>\n"
      "<?xpacket end=\"r\"?>";
  return xmp;
}

// The JSON is kept well below a RIFF chunk's 4 GB limit even after XML escaping (at most 6x).
constexpr std::size_t kWebpJsonMax = 0x7fffffff / 6;

boost::system::result<ImageBytes> embed_webp(Bytes webp, const ImageMetadata& meta) {
  const WebPData in{webp.data(), webp.size()};
  // copy_data = 0: the mux points into `webp`, which outlives it.
  std::unique_ptr<WebPMux, void (*)(WebPMux*)> mux(WebPMuxCreate(&in, 0), WebPMuxDelete);
  if (!mux) return make_error_code(EmbedError::webp_mux_failed);
  WebPData existing;
  if (WebPMuxGetChunk(mux.get(), "XMP ", &existing) == WEBP_MUX_OK) return make_error_code(EmbedError::webp_has_xmp);

  const std::string xmp = xmp_packet(json_within(meta, kWebpJsonMax));
  const WebPData chunk{reinterpret_cast<const std::uint8_t*>(xmp.data()), xmp.size()};
  if (WebPMuxSetChunk(mux.get(), "XMP ", &chunk, 1) != WEBP_MUX_OK) return make_error_code(EmbedError::webp_mux_failed);
  WebPData assembled;
  WebPDataInit(&assembled);
  if (WebPMuxAssemble(mux.get(), &assembled) != WEBP_MUX_OK) {
    WebPDataClear(&assembled);
    return make_error_code(EmbedError::webp_mux_failed);
  }
  return ImageBytes::adopt(const_cast<std::uint8_t*>(assembled.bytes), assembled.size,
                           [](std::uint8_t* p) { WebPFree(p); });
}

// ---- request body --------------------------------------------------------------------------

// The text of a string field; empty for any other type.
std::string text(simdjson::dom::element v) { return json::text(v).value_or(""); }

}  // namespace

const boost::system::error_category& embed_error_category() noexcept {
  static const EmbedErrorCategory category;
  return category;
}

boost::system::error_code make_error_code(EmbedError e) noexcept { return {static_cast<int>(e), embed_error_category()}; }

ImageMetadata image_metadata_from_request(std::string_view request_body_json, std::string_view server_id) {
  ImageMetadata m;
  m.server_id = std::string(server_id);
  const auto fields = json::object_fields(request_body_json);
  if (!fields) return m;
  for (auto [key, value] : *fields) {
    double d = 0;
    if (key == "prompt") m.prompt = text(value);
    else if (key == "negative_prompt") m.negative_prompt = text(value);
    else if (key == "model") m.model = text(value);
    else if (key == "style_preset") m.style_preset = text(value);
    else if (key == "seed") m.seed = json::integer(value);
    else if (key == "width") m.width = json::integer(value);
    else if (key == "height") m.height = json::integer(value);
    else if (key == "steps") m.steps = json::integer(value);
    else if (key == "cfg_scale") m.cfg_scale = value.get_double().get(d) ? std::nullopt : std::optional<double>(d);
  }
  return m;
}

std::string image_metadata_json(const ImageMetadata& meta) { return write_json(sanitized(meta), false); }

boost::system::result<ImageBytes> embed_image_metadata(std::span<const std::uint8_t> image, ImageFormat format,
                                                       const ImageMetadata& meta) {
  const ImageCheck check = check_image(image);
  if (check.format != format) return make_error_code(EmbedError::wrong_format);
  if (!check.ok()) return make_error_code(EmbedError::malformed_image);
  switch (format) {
    case ImageFormat::png: return ImageBytes(embed_png(image, meta));
    case ImageFormat::jpeg: {
      auto jpeg = embed_jpeg(image, meta);
      if (!jpeg) return jpeg.error();
      return ImageBytes(std::move(*jpeg));
    }
    case ImageFormat::webp: return embed_webp(image, meta);
  }
  return make_error_code(EmbedError::wrong_format);
}

}  // namespace venice_batch
