// A sweep line's text: {"id":"s-<hash>[-r<n>]",<request fields>,"metadata":{"template":...,
// "values":{...}}}. The request part is the canonical body verbatim; metadata records the
// choices the template made (by label: "__animal__", "{1}") and each matrix axis's value.
#include <charconv>
#include <cstring>

#include "expand_internal.hpp"

namespace venice_batch {
namespace {

constexpr char kHex[] = "0123456789abcdef";

/// True for the bytes a JSON string must escape: '"', '\\' and the controls below 0x20.
bool needs_escape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

/// True if any of the 8 bytes in `v` needs escaping (SWAR: a byte below 0x20, or equal to '"' or '\\').
bool any_needs_escape(std::uint64_t v) {
  constexpr std::uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
  auto zero_byte = [&](std::uint64_t x) { return (x - ones) & ~x & highs; };
  const std::uint64_t below_space = (v - ones * 0x20) & ~v & highs;
  return (below_space | zero_byte(v ^ (ones * '"')) | zero_byte(v ^ (ones * '\\'))) != 0;
}

/// The length of the prefix of `s` that needs no escaping, 8 bytes at a time.
std::size_t plain_prefix(std::string_view s) {
  std::size_t i = 0;
  for (std::uint64_t v; i + 8 <= s.size(); i += 8) {
    std::memcpy(&v, s.data() + i, 8);
    if (any_needs_escape(v)) break;
  }
  while (i < s.size() && !needs_escape(static_cast<unsigned char>(s[i]))) ++i;
  return i;
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (;;) {
    const std::size_t plain = plain_prefix(s);
    out.append(s.data(), plain);
    if (plain == s.size()) break;
    const auto c = static_cast<unsigned char>(s[plain]);
    s.remove_prefix(plain + 1);
    out += '\\';
    switch (c) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '\b': out += 'b'; break;
      case '\f': out += 'f'; break;
      case '\n': out += 'n'; break;
      case '\r': out += 'r'; break;
      case '\t': out += 't'; break;
      default:  // as RapidJSON writes them: upper-case hex
        out += "u00";
        out += "0123456789ABCDEF"[c >> 4];
        out += "0123456789ABCDEF"[c & 0xF];
    }
  }
  out += '"';
}

void SweepLine::build_metadata() {
  metadata_.clear();
  metadata_ += "{\"template\":";
  metadata_ += sweep_.template_json;
  metadata_ += ",\"values\":{";
  bool first = true;
  auto key = [&](std::string_view key_json, std::uint32_t repeat) {
    if (!first) metadata_ += ',';
    first = false;
    if (repeat <= 1) {
      metadata_ += key_json;
    } else {  // a wildcard used twice: "__animal__", then "__animal__#2"
      metadata_.append(key_json.data(), key_json.size() - 1);
      char buf[16];
      metadata_ += '#';
      metadata_.append(buf, std::to_chars(buf, buf + sizeof buf, repeat).ptr);
      metadata_ += '"';
    }
    metadata_ += ':';
  };
  for (const auto& choice : expansion_.choices) {
    key(label_keys_[choice.label], ++label_seen_[choice.label]);
    append_json_string(metadata_, std::string_view(expansion_.prompt).substr(choice.begin, choice.end - choice.begin));
  }
  for (const auto& choice : expansion_.choices) label_seen_[choice.label] = 0;
  for (std::size_t i = 0; i < sweep_.axes.size(); ++i) {
    key(sweep_.axes[i].key_json, 1);
    metadata_ += axis_json(i);
  }
  metadata_ += "}}";
  metadata_built_ = true;
}

void SweepLine::append_line(std::uint32_t replicate, std::string& out) {
  if (!metadata_built_) build_metadata();
  out += "{\"id\":\"";
  out += sweep_.id_prefix;
  out += '-';
  for (unsigned d = id_hex_digits_; d-- > 0;) out += kHex[(short_id_ >> (4 * d)) & 0xF];
  if (replicate > 1) {
    char buf[16];
    out += "-r";
    out.append(buf, std::to_chars(buf, buf + sizeof buf, replicate).ptr);
  }
  out += "\",";
  out.append(body_, 1, body_.size() - 2);  // the request's fields, without its braces
  out += ",\"metadata\":";
  out += metadata_;
  out += "}\n";
}

}  // namespace venice_batch
