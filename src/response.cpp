#include "venice_batch/response.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <simdjson.h>

#include "venice_batch/base64.hpp"
#include "venice_batch/text.hpp"

namespace venice_batch {
namespace {

class ResponseErrorCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "venice.response"; }
  std::string message(int ev) const override {
    switch (static_cast<ResponseError>(ev)) {
      case ResponseError::invalid_json: return "response body is not the documented JSON";
      case ResponseError::missing_images: return "response does not hold the expected images";
      case ResponseError::invalid_base64: return "an image in the response is not valid base64";
      case ResponseError::not_an_image: return "response bytes are not a known image format";
      case ResponseError::truncated_image: return "an image in the response is cut short";
      case ResponseError::corrupt_image: return "an image in the response has a corrupt header";
    }
    return "unknown response error";
  }
};

// True when any header `name` says true (in any case, "1" too): a flag missed keeps a blurred
// image as a dataset image, so two headers that disagree count as flagged.
bool header_is_true(const HttpResponse& r, std::string_view name) {
  for (const auto& [key, value] : r.headers) {
    if (key != name) continue;
    std::string_view t = value;
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    if (t == "1" || (t.size() == 4 && (t[0] | 0x20) == 't' && (t[1] | 0x20) == 'r' && (t[2] | 0x20) == 'u' &&
                     (t[3] | 0x20) == 'e'))
      return true;
  }
  return false;
}

// The bytes as an image, if their container is whole. Whatever format they are is kept: the
// bytes decide (VENICE_API.md), the caller records what was asked.
boost::system::result<DecodedImage> checked_image(ImageBytes bytes) {
  const ImageCheck check = check_image(bytes);
  switch (check.defect) {
    case ImageDefect::none: break;
    case ImageDefect::unknown_format: return make_error_code(ResponseError::not_an_image);
    case ImageDefect::truncated: return make_error_code(ResponseError::truncated_image);
    case ImageDefect::corrupt: return make_error_code(ResponseError::corrupt_image);
  }
  return DecodedImage{*check.format, check.size, std::move(bytes)};
}

// Decodes one base64 image string and checks it is a whole image.
boost::system::result<DecodedImage> decode_image(std::string_view text) {
  auto bytes = ImageBytes::for_overwrite(base64::max_decoded_size(text.size()));  // not zeroed: all overwritten
  auto n = base64::decode(text, bytes.writable_data());
  if (!n) return make_error_code(ResponseError::invalid_base64);
  bytes.shrink_to(*n);
  return checked_image(std::move(bytes));
}

}  // namespace

std::string_view to_string(ResponseError e) {
  switch (e) {
    case ResponseError::invalid_json: return "invalid_json";
    case ResponseError::missing_images: return "missing_images";
    case ResponseError::invalid_base64: return "invalid_base64";
    case ResponseError::not_an_image: return "not_an_image";
    case ResponseError::truncated_image: return "truncated_image";
    case ResponseError::corrupt_image: return "corrupt_image";
  }
  return "invalid_response";
}

const boost::system::error_category& response_error_category() noexcept {
  static const ResponseErrorCategory category;
  return category;
}

boost::system::error_code make_error_code(ResponseError e) noexcept {
  return {static_cast<int>(e), response_error_category()};
}

namespace {

// A long string taken out of the document before simdjson sees it (see skim).
struct Blob {
  std::size_t skeleton_offset = 0;  ///< where its now empty "" starts in the skeleton
  std::string_view text;            ///< its contents in the body, between the quotes
  bool used = false;                ///< decoded as an image
  bool decoded = false;             ///< `bytes` are the text decoded, found valid base64 by the skim
  ImageBytes bytes;
};

void free_bytes(std::uint8_t* p) { std::free(p); }  // NOLINT: the buffer is malloc'd
constexpr std::size_t kRoomSlack = 64 * 1024;  // unused room a decoded string may keep

// The string starting at `first` read as base64 while looking for its end: whole quads of the
// alphabet, then at most one padded quad, then the closing quote (base64 holds no backslash, so
// that quote is not escaped). Returns where that quote is, the bytes in `blob`; nullptr when the
// string is something else (a quote in its first `min_blob` bytes, escaped or not; not base64;
// no memory), which the caller then reads as any string, from `*resume` on: nothing before it can
// end the string.
const char* decode_base64_string(const char* first, const char* end, std::size_t min_blob, Blob& blob,
                                 const char** resume) {
  *resume = first;
  const auto rest = static_cast<std::size_t>(end - first);
  if (rest < min_blob || std::memchr(first, '"', min_blob) != nullptr) return nullptr;
  // Room for all the rest could hold: pages never written are never touched. The bytes keep it
  // when at most kRoomSlack of it is unused (an answer's last string: nearly always its only
  // image); otherwise (an earlier image of a multi-image answer) they are copied to their size.
  // Not realloc: shrinking in place leaves a small free chunk behind each image, and peak RSS at
  // concurrency 64 went from 100 to 215 MB (glibc keeps such chunks apart instead of merging).
  const std::size_t room_size = base64::max_decoded_size(rest) + 3;
  std::unique_ptr<std::uint8_t, void (*)(std::uint8_t*)> room(static_cast<std::uint8_t*>(std::malloc(room_size)),
                                                               &free_bytes);  // NOLINT
  if (!room) return nullptr;
  const std::size_t run = base64::decode_run(std::string_view(first, rest), room.get());
  const char* q = first + run;
  *resume = q;
  std::size_t n = run / 4 * 3;
  const char* close = nullptr;
  if (q < end && *q == '"') {
    close = q;
  } else if (end - q > 4 && q[4] == '"' && q[3] == '=') {
    if (auto last = base64::decode(std::string_view(q, 4), room.get() + n)) {
      n += *last;
      close = q + 4;
    }
  }
  if (close == nullptr) return nullptr;
  if (room_size - n > kRoomSlack) blob.bytes = ImageBytes(std::span<const std::uint8_t>(room.get(), n));
  else blob.bytes = ImageBytes::adopt(room.release(), n, &free_bytes);
  blob.decoded = true;
  return close;
}

// Why by hand: simdjson's stage 1 indexes every byte of the document, and nearly all of an
// answer's 557 KB is the base64 of its images, which have no structure to index (it was 8% of
// the client's CPU per image, more than decoding the base64). This copies the document without
// the contents of its long strings, keeping their quotes, so simdjson parses a skeleton of a few
// hundred bytes, as strictly as the whole: the structure is the same, the strings' places too;
// what stage 1 checks of a string's text is checked after (valid_string_text), and its escapes
// where it is read, as On-Demand does (json_string_text). A string that is long from its start is
// decoded as base64 while its end is looked for (decode_base64_string), so the body's base64 is
// read once, by the decoder; any other string's end is found by memchr.
// Returns false when a string does not end (the caller parses the body as it is and simdjson
// says what is wrong).
bool skim(std::string_view body, std::size_t min_blob, std::string& skeleton, std::vector<Blob>& blobs) {
  skeleton.clear();
  blobs.clear();
  const char* p = body.data();
  const char* const end = p + body.size();
  const char* copied = p;  // [copied, p) is still to be copied into the skeleton
  while (p < end) {
    // Outside strings a quote can only open one: the next quote opens the next string.
    const char* open = static_cast<const char*>(std::memchr(p, '"', static_cast<std::size_t>(end - p)));
    if (!open) break;
    const char* const first = open + 1;
    Blob blob;
    const char* resume = first;
    const char* close = decode_base64_string(first, end, min_blob, blob, &resume);
    for (const char* from = resume; close == nullptr;) {  // the first quote not escaped by an odd run of backslashes
      const char* quote = static_cast<const char*>(std::memchr(from, '"', static_cast<std::size_t>(end - from)));
      if (!quote) return false;
      const char* b = quote;
      while (b > first && b[-1] == '\\') --b;
      if ((quote - b) % 2 == 0) close = quote;
      from = quote + 1;
    }
    const auto length = static_cast<std::size_t>(close - first);
    const char* after = close + 1;  // a key (a string followed by ':') is always kept
    while (after < end && (*after == ' ' || *after == '\t' || *after == '\n' || *after == '\r')) ++after;
    const bool key = after < end && *after == ':';
    if (!key && length >= min_blob) {
      skeleton.append(copied, first);
      blob.skeleton_offset = skeleton.size() - 1;
      blob.text = std::string_view(first, length);
      blobs.push_back(std::move(blob));
      copied = close;  // the closing quote starts the next run copied
    }
    p = close + 1;
  }
  skeleton.append(copied, end);
  return true;
}

// What stage 1 checks of a string's text: valid UTF-8 and no unescaped control character.
bool valid_string_text(std::string_view text) {
  for (unsigned char c : text)
    if (c < 0x20) return false;
  return simdjson::validate_utf8(text.data(), text.size());
}

// A string's text (what is between its quotes in the document) as JSON reads it: as it is, or
// unescaped into `storage` when it holds a backslash (base64 never does: only an odd answer pays
// for this parse). Empty: the text is not a valid JSON string.
std::optional<std::string_view> json_string_text(std::string_view text, std::string& storage) {
  if (std::memchr(text.data(), '\\', text.size()) == nullptr) return text;
  std::string quoted;
  quoted.reserve(text.size() + 2 + simdjson::SIMDJSON_PADDING);
  quoted.append(1, '"').append(text).append(1, '"');
  simdjson::dom::parser parser;
  std::string_view unescaped;
  if (parser.parse(quoted.data(), quoted.size(), false).get_string().get(unescaped)) return std::nullopt;
  storage.assign(unescaped);
  return std::string_view(storage);
}

// Reads every token of `v`, a value the answer does not use ("request", a field this version does
// not know), so that its grammar is checked as the whole document's parse would: On-Demand checks
// only what is read, and a skipped value is only counted through (`{"a":nul}`, `[1:2]`, a missing
// comma passed). Numbers, literals, escapes, commas and colons are all checked; nesting deeper
// than kMaxDepth is refused rather than recursed into.
constexpr int kMaxDepth = 64;

// RFC 8259's number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, then only whitespace (the
// raw token carries what follows it up to the next structural character).
bool json_number_grammar(std::string_view t) {
  auto digit = [&](std::size_t i) { return i < t.size() && t[i] >= '0' && t[i] <= '9'; };
  std::size_t i = 0;
  if (i < t.size() && t[i] == '-') ++i;
  if (!digit(i)) return false;
  if (t[i++] != '0')
    while (digit(i)) ++i;
  if (i < t.size() && t[i] == '.') {
    if (!digit(++i)) return false;
    while (digit(i)) ++i;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    if (!digit(i)) return false;
    while (digit(i)) ++i;
  }
  return t.find_first_not_of(" \t\n\r", i) == std::string_view::npos;
}

// A number value: false when it is not JSON's; `held` is its value when simdjson can hold it.
// simdjson refuses numbers it cannot hold (an integer over 64 bits, 1e999) where JSON does not:
// those are held to JSON's grammar only, never taken for a broken answer (a paid answer refused
// for a seed written as a big integer would be paid for again).
bool json_number(simdjson::ondemand::value v, std::optional<double>& held) {
  const std::string_view raw = v.raw_json_token();  // before get_number, which neither moves on
  simdjson::ondemand::number n;
  if (v.get_number().get(n)) return json_number_grammar(raw);
  held = n.as_double();
  return true;
}

bool valid_value(simdjson::ondemand::value v, int depth = 0) {
  using namespace simdjson::ondemand;
  if (depth > kMaxDepth) return false;
  json_type type;
  if (v.type().get(type)) return false;
  switch (type) {
    case json_type::array: {
      array a;
      if (v.get_array().get(a)) return false;
      for (auto element : a) {
        value item;
        if (std::move(element).get(item) || !valid_value(item, depth + 1)) return false;
      }
      return true;
    }
    case json_type::object: {
      object o;
      if (v.get_object().get(o)) return false;
      for (auto field_result : o) {
        field f;
        std::string_view key;
        if (std::move(field_result).get(f) || f.unescaped_key().get(key) || !valid_value(f.value(), depth + 1))
          return false;
      }
      return true;
    }
    case json_type::number: {
      std::optional<double> unused;
      return json_number(v, unused);
    }
    case json_type::string: {
      std::string_view s;
      return !v.get_string().get(s);
    }
    case json_type::boolean: {
      bool b;
      return !v.get_bool().get(b);
    }
    case json_type::null: {
      bool is_null = false;
      return !v.is_null().get(is_null) && is_null;
    }
  }
  return false;
}

}  // namespace

struct ResponseDecoder::Impl {
  simdjson::ondemand::parser parser;
  std::size_t min_blob = ResponseDecoder::kDefaultSkimBytes;
  std::string skeleton;  // reused: no allocation per answer once it has grown
  std::vector<Blob> blobs;

  // The JSON answer: skimmed (when it has long strings), parsed, its images decoded.
  boost::system::result<GenerateResult> decode_document(const std::string& body, const ExpectedImages& expected,
                                                        GenerateResult result);
};

void ResponseDecoder::set_skim_threshold(std::size_t bytes) { impl_->min_blob = bytes; }

ResponseDecoder::ResponseDecoder() : impl_(std::make_unique<Impl>()) {}
ResponseDecoder::~ResponseDecoder() = default;

boost::system::result<GenerateResult> ResponseDecoder::Impl::decode_document(const std::string& body,
                                                                            const ExpectedImages& expected,
                                                                            GenerateResult result) {
  using namespace simdjson;
  padded_string_view document(body.data(), body.size(), body.capacity());
  if (skim(body, min_blob, skeleton, blobs) && !blobs.empty()) {
    skeleton.reserve(skeleton.size() + SIMDJSON_PADDING);
    document = padded_string_view(skeleton.data(), skeleton.size(), skeleton.capacity());
  } else {
    blobs.clear();
  }
  ondemand::document doc;
  if (parser.iterate(document).get(doc)) return make_error_code(ResponseError::invalid_json);
  ondemand::object root;
  if (doc.get_object().get(root)) return make_error_code(ResponseError::invalid_json);
  // The blob a string token "" of the skeleton stands for (nullptr: a string of its own).
  auto skimmed = [&](std::string_view raw) -> Blob* {
    if (blobs.empty() || raw.size() < 2 || raw[0] != '"' || raw[1] != '"') return nullptr;
    const auto at = static_cast<std::size_t>(raw.data() - skeleton.data());
    auto it = std::lower_bound(blobs.begin(), blobs.end(), at,
                               [](const Blob& b, std::size_t offset) { return b.skeleton_offset < offset; });
    return it == blobs.end() || it->skeleton_offset != at ? nullptr : &*it;
  };

  // A string value, skimmed out or not, unescaped into `storage` when it must be.
  auto string_of = [&](ondemand::value value, std::string& storage) -> std::optional<std::string_view> {
    if (Blob* blob = skimmed(value.raw_json_token())) return json_string_text(blob->text, storage);
    std::string_view text;
    if (value.get_string().get(text)) return std::nullopt;
    return text;
  };
  // The prompt, seed and model of `request` when the answer echoes it ({"success": true, "data":
  // {..., "prompt", "seed", "model"}}, VENICE_API.md); every other part is checked and not used.
  // on_field(key, value) for each field of an object value; false at the first grammar error or
  // false from on_field. Anything but an object is only checked.
  auto each_field = [&](ondemand::value value, auto on_field) -> bool {
    ondemand::json_type type;
    if (value.type().get(type)) return false;
    if (type != ondemand::json_type::object) return valid_value(value);
    ondemand::object object;
    if (value.get_object().get(object)) return false;
    for (auto field_result : object) {
      ondemand::field field;
      std::string_view key;
      if (std::move(field_result).get(field) || field.unescaped_key().get(key) || !on_field(key, field.value()))
        return false;
    }
    return true;
  };
  auto read_echo = [&](ondemand::value request) -> bool {
    return each_field(request, [&](std::string_view key, ondemand::value data) {
      if (key != "data") return valid_value(data);
      return each_field(data, [&](std::string_view data_key, ondemand::value v) {
        ondemand::json_type type;
        if (data_key == "seed" && !v.type().get(type) && type == ondemand::json_type::number) {
          std::int64_t seed = 0;
          if (v.get_int64().get(seed)) return valid_value(v);  // 1.5, 1e3, too big: not a seed, checked only
          result.echoed_seed = seed;
          return true;
        }
        const bool wanted = data_key == "prompt" || data_key == "model";
        if (!wanted || v.type().get(type) || type != ondemand::json_type::string) return valid_value(v);
        std::string storage;
        auto text = string_of(v, storage);
        if (text) (data_key == "prompt" ? result.echoed_prompt : result.echoed_model).emplace(*text);
        return text.has_value();
      });
    });
  };

  bool saw_images = false;
  for (auto field_result : root) {
    ondemand::field field;
    if (std::move(field_result).get(field)) return make_error_code(ResponseError::invalid_json);
    std::string_view key;
    if (field.unescaped_key().get(key)) return make_error_code(ResponseError::invalid_json);
    ondemand::value value = field.value();
    if (key == "id") {
      std::string_view id;
      std::string unescaped;
      if (Blob* blob = skimmed(value.raw_json_token())) {
        auto text = json_string_text(blob->text, unescaped);
        if (!text) return make_error_code(ResponseError::invalid_json);
        id = *text;
      } else if (value.get_string().get(id)) {
        return make_error_code(ResponseError::invalid_json);
      }
      result.server_id.assign(id);
    } else if (key == "images") {
      if (saw_images) return make_error_code(ResponseError::invalid_json);  // twice: which one is meant?
      ondemand::array images;
      if (value.get_array().get(images)) return make_error_code(ResponseError::invalid_json);
      saw_images = true;
      for (auto element : images) {
        ondemand::value item;
        if (std::move(element).get(item)) return make_error_code(ResponseError::invalid_json);
        // Zero copy: base64 has no JSON escapes, so the raw token between the quotes is the
        // text. Only a string with a backslash (an escaped '/') goes through unescaping.
        std::string_view raw = item.raw_json_token();
        if (raw.size() < 2 || raw.front() != '"')
          return make_error_code(ResponseError::invalid_json);
        while (!raw.empty() && raw.back() != '"') raw.remove_suffix(1);  // trailing whitespace
        // Skimmed out of the document, its text is in the body; its bytes are checked by the base64
        // decoder (an ASCII alphabet).
        Blob* blob = skimmed(raw);
        if (blob) blob->used = true;
        const std::string_view text = blob ? blob->text : raw.substr(1, raw.size() - 2);
        auto image = blob && blob->decoded ? checked_image(std::move(blob->bytes)) : decode_image(text);
        std::string unescaped;
        if (!image && std::memchr(text.data(), '\\', text.size()) != nullptr) {
          // An escaped '/' ("\/"): the text as JSON reads it, decoded again.
          auto plain = json_string_text(text, unescaped);
          if (!plain) return make_error_code(ResponseError::invalid_json);
          image = decode_image(*plain);
        }
        if (!image) return image.error();
        result.images.push_back(std::move(*image));
      }
    } else if (ondemand::json_type type; key == "timing" && !value.type().get(type) && type == ondemand::json_type::object) {
      // Informative only: a field that is not a number is read past (checked, not used).
      ondemand::object timing;
      if (value.get_object().get(timing)) return make_error_code(ResponseError::invalid_json);
      ServerTiming t;
      for (auto tf_result : timing) {
        ondemand::field tf;
        std::string_view tk;
        if (std::move(tf_result).get(tf) || tf.unescaped_key().get(tk)) return make_error_code(ResponseError::invalid_json);
        ondemand::value tv = tf.value();
        ondemand::json_type type;
        if (tv.type().get(type)) return make_error_code(ResponseError::invalid_json);
        if (type != ondemand::json_type::number) {
          if (!valid_value(tv)) return make_error_code(ResponseError::invalid_json);
          continue;
        }
        std::optional<double> held;
        if (!json_number(tv, held)) return make_error_code(ResponseError::invalid_json);
        if (!held) continue;  // JSON, but no time simdjson can hold: not used
        const double ms = *held;
        if (tk == "inferenceDuration") t.inference_ms = ms;
        else if (tk == "inferencePreprocessingTime") t.preprocessing_ms = ms;
        else if (tk == "inferenceQueueTime") t.queue_ms = ms;
        else if (tk == "total") t.total_ms = ms;
      }
      result.timing = t;
    } else if (key == "request") {
      if (!read_echo(value)) return make_error_code(ResponseError::invalid_json);
    } else if (!valid_value(value)) {  // a null timing, anything newer: checked, not used
      return make_error_code(ResponseError::invalid_json);
    }
  }
  // Nothing after the root object (simdjson 3.0's document has no at_end(): its location is out of
  // bounds there).
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) return make_error_code(ResponseError::invalid_json);
  // A content violation is the header's verdict (VENICE_API.md): its placeholders are never kept,
  // so an answer that leaves them out is no less a violation (asking again would get the same).
  if (result.content_violation) return result;
  if (!saw_images || static_cast<int>(result.images.size()) != expected.variants)
    return make_error_code(ResponseError::missing_images);
  return result;
}

boost::system::result<GenerateResult> ResponseDecoder::decode(const HttpResponse& response,
                                                              const ExpectedImages& expected) {
  GenerateResult result;
  result.content_violation = header_is_true(response, "x-venice-is-content-violation");
  result.blurred = header_is_true(response, "x-venice-is-blurred");

  if (expected.return_binary) {
    // Binary mode: the body is the image, in whatever format its bytes are (VENICE_API.md).
    const auto* p = reinterpret_cast<const std::uint8_t*>(response.body.data());
    auto image = checked_image(ImageBytes(std::span<const std::uint8_t>(p, response.body.size())));
    if (!image && result.content_violation) return result;  // the placeholder is not kept: any body will do
    if (!image) return image.error();
    result.images.push_back(std::move(*image));
    return result;
  }

  const std::string& body = response.body;
  if (body.capacity() < body.size() + simdjson::SIMDJSON_PADDING) {
    // The pool always pads; a caller that did not is served by a padded copy.
    HttpResponse padded = response;
    padded.body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
    return decode(padded, expected);
  }

  auto decoded = impl_->decode_document(body, expected, std::move(result));
  // Skimmed or not, an answer fails as the whole document would: text that stage 1 rejects in a
  // skimmed string makes it invalid JSON, whatever else failed first. On success only the strings
  // not decoded as images need the check: a decoded one held nothing but base64's alphabet.
  // Their escapes too: a string with a backslash must read as JSON (json_string_text), as the
  // whole document's parse would require.
  bool valid = true;
  std::string unescaped;
  for (const auto& blob : impl_->blobs)
    if ((!decoded || !blob.used) &&
        (!valid_string_text(blob.text) || !json_string_text(blob.text, unescaped)))
      valid = false;
  impl_->blobs.clear();  // with the bytes of any not taken
  if (!valid) return make_error_code(ResponseError::invalid_json);
  return decoded;
}

namespace {

void keep_as_text(ApiError& out, std::string_view body) {
  out.body_text = valid_utf8_prefix(body, kApiBodyKeptBytes);
  out.body_truncated = body.size() > kApiBodyKeptBytes;
}

// The message of any documented shape: StandardError, DetailedError, the failure lock, nested.
std::string_view message_of(simdjson::dom::object obj) {
  std::string_view message, s;
  simdjson::dom::element e;
  if (obj["error"].get(e) == simdjson::SUCCESS) {
    if (e.get_string().get(s) == simdjson::SUCCESS) {
      message = s;
    } else if (e.is_object()) {  // some gateways nest it: {"error": {"message", "customMessage"}}
      if (e["customMessage"].get_string().get(s) == simdjson::SUCCESS) message = s;
      else if (e["message"].get_string().get(s) == simdjson::SUCCESS) message = s;
    }
  }
  if (obj["customMessage"].get_string().get(s) == simdjson::SUCCESS) {
    if (message.empty() || s.starts_with("Too many failed attempts")) message = s;
  }
  if (message.empty() && obj["message"].get_string().get(s) == simdjson::SUCCESS) message = s;
  if (message.empty() && obj["code"].get_string().get(s) == simdjson::SUCCESS) message = s;
  return message;
}

// DetailedError: which fields were wrong, as "path: message; path: message".
std::string issues_of(simdjson::dom::object obj) {
  std::string detail;
  simdjson::dom::array issues;
  if (obj["issues"].get_array().get(issues) != simdjson::SUCCESS) return detail;
  for (auto issue : issues) {
    std::string_view msg;
    if (issue["message"].get_string().get(msg)) continue;
    std::string path;
    simdjson::dom::array parts;
    if (issue["path"].get_array().get(parts) == simdjson::SUCCESS) {
      for (auto part : parts) {
        std::string_view ps;
        int64_t pi;
        if (!path.empty()) path += '.';
        if (part.get_string().get(ps) == simdjson::SUCCESS) path.append(ps);
        else if (part.get_int64().get(pi) == simdjson::SUCCESS) path += std::to_string(pi);
      }
    }
    detail += detail.empty() ? "" : "; ";
    detail += path.empty() ? std::string(msg) : path + ": " + std::string(msg);
  }
  return detail;
}

}  // namespace

ApiError parse_api_error(std::string_view body) {
  constexpr std::size_t kExcerpt = 200;  // of a body with no message field
  ApiError out;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size(), true).get(root)) {
    keep_as_text(out, body);
    out.message = capped_utf8(body, kExcerpt);
    return out;
  }
  std::string json = simdjson::minify(root);  // one line: results.jsonl is line-based
  if (json.size() <= kApiBodyKeptBytes) out.body_json = json;
  else keep_as_text(out, json);  // cut JSON is no JSON: keep its start as text
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) {
    out.message = capped_utf8(json, kExcerpt);
    return out;
  }
  std::string message(message_of(obj));
  if (message.empty()) message = capped_utf8(json, kExcerpt);
  if (auto detail = issues_of(obj); !detail.empty()) message += " (" + detail + ")";
  out.failure_lock = message.find("Too many failed attempts") != std::string::npos;
  out.message = capped_utf8(message, kApiMessageKeptBytes);
  return out;
}

}  // namespace venice_batch
