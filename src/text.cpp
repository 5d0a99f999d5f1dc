#include "venice_batch/text.hpp"

#include <charconv>
#include <cmath>

#include <cstdint>

#include <fmt/format.h>
#include <simdjson.h>

namespace venice_batch {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

/// One character read from UTF-8: its code point, or -1 for an ill-formed subpart; `length`
/// bytes either way (at least 1).
struct Char {
  std::int32_t code_point = -1;
  std::size_t length = 1;
};

bool in(std::uint8_t b, std::uint8_t lo, std::uint8_t hi) { return b >= lo && b <= hi; }

// The well-formed sequences of Unicode's Table 3-7. An ill-formed sequence is consumed as its
// maximal subpart (the valid prefix of a sequence, or a single byte), so one bad byte never
// swallows the good character after it.
Char read_char(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<std::uint8_t>(s[i]);
  if (b0 < 0x80) return {b0, 1};
  std::size_t need = 0;
  std::uint8_t lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  std::int32_t cp = 0;
  if (in(b0, 0xC2, 0xDF)) need = 1, cp = b0 & 0x1F;
  else if (b0 == 0xE0) need = 2, cp = b0 & 0x0F, lo = 0xA0;
  else if (b0 == 0xED) need = 2, cp = b0 & 0x0F, hi = 0x9F;
  else if (in(b0, 0xE1, 0xEF)) need = 2, cp = b0 & 0x0F;
  else if (b0 == 0xF0) need = 3, cp = b0 & 0x07, lo = 0x90;
  else if (b0 == 0xF4) need = 3, cp = b0 & 0x07, hi = 0x8F;
  else if (in(b0, 0xF1, 0xF3)) need = 3, cp = b0 & 0x07;
  else return {-1, 1};
  std::size_t n = 1;
  for (; n <= need; ++n) {
    if (i + n >= s.size()) return {-1, n};
    const auto b = static_cast<std::uint8_t>(s[i + n]);
    if (n == 1 ? !in(b, lo, hi) : !in(b, 0x80, 0xBF)) return {-1, n};
    cp = (cp << 6) | (b & 0x3F);
  }
  return {cp, n};
}

bool needs_terminal_escape(std::int32_t cp) {
  return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) ||  // C0, DEL, C1
         cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||  // bidi marks, embeddings, overrides
         (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029;  // bidi isolates, line separators
}

std::string terminal_escape(std::int32_t cp) {
  switch (cp) {
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default: break;
  }
  if (cp < 0x80) return fmt::format("\\x{:02x}", cp);
  return fmt::format("\\u{{{:04x}}}", cp);
}

std::string cut_note(std::size_t bytes) { return fmt::format("\u2026 ({} bytes cut)", bytes); }

}  // namespace

bool is_valid_utf8(std::string_view text) { return simdjson::validate_utf8(text.data(), text.size()); }

std::string sanitize_utf8(std::string_view text) {
  if (is_valid_utf8(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 16);
  for (std::size_t i = 0; i < text.size();) {
    const Char c = read_char(text, i);
    if (c.code_point < 0) out.append(kReplacement);
    else out.append(text.substr(i, c.length));
    i += c.length;
  }
  return out;
}

std::string_view truncate_utf8(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t end = 0;
  for (std::size_t i = 0; i < max_bytes;) {
    const std::size_t next = i + read_char(text, i).length;
    if (next > max_bytes) break;
    end = i = next;
  }
  return text.substr(0, end);
}

std::string valid_utf8_prefix(std::string_view text, std::size_t max_bytes) {
  return std::string(truncate_utf8(sanitize_utf8(truncate_utf8(text, max_bytes)), max_bytes));
}

std::string capped_utf8(std::string_view text, std::size_t max_bytes) {
  std::string out = valid_utf8_prefix(text, max_bytes);
  if (text.size() > max_bytes) out += cut_note(text.size() - truncate_utf8(text, max_bytes).size());
  return out;
}

std::string escape_for_terminal(std::string_view text, std::size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes) + 32);
  std::size_t i = 0;
  while (i < text.size()) {
    const Char c = read_char(text, i);
    std::string escaped;
    std::string_view piece = text.substr(i, c.length);
    if (c.code_point < 0) {
      for (char b : piece) escaped += fmt::format("\\x{:02x}", static_cast<unsigned char>(b));
      piece = escaped;
    } else if (needs_terminal_escape(c.code_point)) {
      escaped = terminal_escape(c.code_point);
      piece = escaped;
    }
    if (out.size() + piece.size() > max_bytes) break;
    out.append(piece);
    i += c.length;
  }
  if (i < text.size()) out += cut_note(text.size() - i);
  return out;
}

std::optional<double> parse_decimal(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  double v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v, std::chars_format::fixed);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace venice_batch
