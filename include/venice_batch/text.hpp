// Text from outside (server headers and error bodies, manifest prompts) made safe to keep and to
// show: valid UTF-8 for the JSON journal, cut only at character boundaries, and control
// characters made visible before anything reaches a terminal. Pure functions, no I/O.
#pragma once

#include <cstddef>
#include <string>
#include <optional>
#include <string_view>

namespace venice_batch {

/// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool is_valid_utf8(std::string_view text);

/// `text` with every ill-formed sequence replaced by U+FFFD (one per maximal ill-formed
/// subpart, as Unicode recommends); valid text comes back unchanged.
std::string sanitize_utf8(std::string_view text);

/// The longest prefix of `text` of at most `max_bytes` bytes that does not end inside a UTF-8
/// character. Ill-formed bytes count as one character each.
std::string_view truncate_utf8(std::string_view text, std::size_t max_bytes);

/// sanitize_utf8 of `text`, then truncate_utf8 to `max_bytes`: valid UTF-8 of at most `max_bytes`,
/// however long or ill-formed the input (only its first `max_bytes` are read).
std::string valid_utf8_prefix(std::string_view text, std::size_t max_bytes);

/// valid_utf8_prefix(text, max_bytes), followed by "… (N bytes cut)" when `text` was longer
/// (N counted in `text`): for a message that must stay short and say it was cut.
std::string capped_utf8(std::string_view text, std::size_t max_bytes);

/// `text` for a terminal or a log: valid UTF-8, with ESC, NUL, CR, LF, TAB, the other C0 and C1
/// controls, DEL and the bidirectional overrides shown as visible escapes (`\x1b`, `\r`,
/// `\u{202e}`), and ill-formed bytes as `\xNN`. At most `max_bytes` of the escaped text are kept,
/// cut at a character boundary; a cut ends with "… (N bytes cut)", N counted in `text`.
std::string escape_for_terminal(std::string_view text, std::size_t max_bytes);

/// A header's decimal number ("12.3456", "-0.5", surrounding spaces allowed), or nullopt for
/// anything else (empty, "NaN", "1e999", trailing text): a balance header is data, not trusted.
std::optional<double> parse_decimal(std::string_view text);

}  // namespace venice_batch
