// The POST /image/generate request fields as documented in VENICE_API.md:
// their types and ranges, checked before anything is sent. Shared by the
// manifest reader (refuse a bad line locally) and the emulator (answer 400).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

namespace venice_batch {

/// One problem with a request, shaped like the API's `issues[]` entries.
struct FieldIssue {
  std::string path;     ///< the field name ("width", "style_references.0.strength"); empty for the whole body
  std::string code;     ///< "invalid_type", "too_small", "too_big", "invalid_enum_value", "invalid_string",
                        ///< "unrecognized_keys", "custom"
  std::string message;  ///< human-readable, names the allowed range or values
};

struct SchemaOptions {
  /// false: a field not in the documented set is an issue (the API rejects unknown fields).
  /// true: unknown fields pass through unchecked (for fields the API adds later).
  bool allow_unknown_fields = false;
  /// The cap on prompt and negative_prompt in code points: the spec's 7,500 without a catalog;
  /// with one, the largest promptCharacterLimit (each model's own is checked by preflight).
  std::size_t max_prompt_chars = 7500;
};

/// Every issue with `request` (an object), in field order; empty means valid.
/// Checks: required model and prompt, each documented field's type and range,
/// `variants` together with `return_binary: true`, the retired `inpaint`, unknown fields.
std::vector<FieldIssue> validate_request(simdjson::dom::object request, const SchemaOptions& options);

/// Empty, or only Unicode White_Space (U+3000 too): what the API refuses as a prompt.
bool is_blank_text(std::string_view s);

/// True if `name` is a documented request field.
bool is_known_request_field(std::string_view name);

}  // namespace venice_batch
