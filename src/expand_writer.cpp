// A sweep line's text: {"id":"s-<hash>[-r<n>]",<request fields>,"metadata":{"template":...,
// "values":{...}}}. The request part is the canonical body verbatim; metadata records the
// choices the template made (by label: "__animal__", "{1}") and each matrix axis's value.
#include <charconv>

#include "expand_internal.hpp"

namespace venice_batch {
namespace {

constexpr char kHex[] = "0123456789abcdef";

/// True for the bytes a JSON string must escape: '"', '\\' and the controls below 0x20.
bool needs_escape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  std::size_t run = 0;  // start of the bytes not yet copied
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (!needs_escape(c)) continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
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
  out.append(s.data() + run, s.size() - run);
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
    const SweepAxis& axis = sweep_.axes[i];
    key(axis.key_json, 1);
    metadata_ += axis.values.empty() ? range_json_[i] : axis.values[digits_[i]].json;
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
