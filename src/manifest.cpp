// The manifest as a stream: lines from a file or a pipe (LineReader), blank lines skipped, a
// BOM and CRLF tolerated, a line over the API's body limit refused without being kept, and a
// repeated id refused on its later line. Plus the fast count for progress totals.
#include "venice_batch/manifest.hpp"

#include <algorithm>
#include <stdexcept>

#include <sys/stat.h>

#include <fmt/format.h>
#include <simdjson.h>

#include "venice_batch/id_map.hpp"
#include "venice_batch/line_reader.hpp"

namespace venice_batch {
namespace {

// A line longer than this cannot become a request the API accepts (it refuses bodies over 35 MB
// with 413); stopping here also keeps a file without newlines from being read into memory whole.
constexpr std::size_t kMaxLineBytes = 35u << 20;
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

/// The line as the parser sees it: without a BOM at the start of the file or a trailing '\r'.
std::string_view text_of(const LineReader::Line& line) {
  std::string_view text = line.text;
  if (line.offset == 0 && text.starts_with(kUtf8Bom)) text.remove_prefix(kUtf8Bom.size());
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  return text;
}

/// What makes a line blank, for the reader and count_manifest_jobs alike.
bool is_blank(const LineReader::Line& line) {
  if (line.too_long) return line.blank;
  const std::string_view text = text_of(line);
  return std::all_of(text.begin(), text.end(), is_line_space);
}

InvalidLine too_long_line(const LineReader::Line& line, std::uint64_t line_no) {
  return InvalidLine{line_no, derived_job_id(line_no),
                     fmt::format("line is longer than {} MiB (the API refuses request bodies over 35 MB)", kMaxLineBytes >> 20),
                     manifest_line_hash(fmt::format("<{} bytes>", line.length))};
}

}  // namespace

struct ManifestReader::Impl {
  Impl(const std::filesystem::path& path, const ManifestOptions& options)
      : parser(options), keyer(options), lines(path, "manifest", kMaxLineBytes) {}

  /// The journal's slot of a line recorded finished with this very text, or nullptr. A line that
  /// names no "id" key is known by its derived id (one lookup, no parse); else its `id` field (an
  /// OpenAI Batch line's `custom_id`) is read with On-Demand (only that field). Equal keys mean equal text and options, so the line
  /// resolves to the id it was recorded under. (An "id" key spelled with escapes is missed and
  /// the line takes the full path: never a wrong skip.)
  std::uint64_t* finished_slot(std::string_view text, std::size_t capacity) {
    auto matches = [&](std::string_view id) -> std::uint64_t* {
      const auto job = recorded(id);
      if (!job || job->finished_key == 0 || job->finished_key != keyer.key64(text)) return nullptr;
      return job->first_line;
    };
    // An OpenAI Batch line is known by its custom_id.
    const bool batch = text.find("\"custom_id\"") != std::string_view::npos;
    if (!batch && text.find("\"id\"") == std::string_view::npos) return matches(derived_job_id(line_no));
    simdjson::ondemand::document doc;
    if (ondemand.iterate(simdjson::padded_string_view(text.data(), text.size(), capacity)).get(doc)) return nullptr;
    std::string_view field;
    const auto err = doc[batch ? "custom_id" : "id"].get_string().get(field);
    if (err == simdjson::NO_SUCH_FIELD) return matches(derived_job_id(line_no));  // "id" was text in a value
    return err ? nullptr : matches(field);
  }

  /// Notes that this line names `id`; false (and `first` set) if an earlier line did. A recorded
  /// id is noted in the journal's slot, any other in first_line_of_id.
  bool note_id(const std::string& id, std::uint64_t& first) {
    if (recorded) {
      if (const auto job = recorded(id)) {
        if (*job->first_line != 0) {
          first = *job->first_line;
          return false;
        }
        *job->first_line = line_no;
        return true;
      }
    }
    auto [it, inserted] = first_line_of_id.try_emplace(id, line_no);
    first = it->second;
    return inserted;
  }

  ManifestLineParser parser;
  ManifestLineKeyer keyer;
  LineReader lines;
  std::uint64_t line_no = 0;
  IdMap<std::uint64_t> first_line_of_id;
  RecordedKey recorded;
  simdjson::ondemand::parser ondemand;
  std::uint64_t skipped = 0;
};

ManifestReader::ManifestReader(const std::filesystem::path& path, ManifestOptions options)
    : impl_(std::make_unique<Impl>(path, options)) {}

ManifestReader::~ManifestReader() = default;

std::optional<ManifestEntry> ManifestReader::next() {
  auto& s = *impl_;
  while (auto line = s.lines.next()) {
    ++s.line_no;
    if (is_blank(*line)) continue;
    if (s.recorded && !line->too_long) {
      const std::string_view text = text_of(*line);
      const std::size_t capacity = line->text.size() - (text.data() - line->text.data()) + LineReader::kPadding;
      if (std::uint64_t* first_line = s.finished_slot(text, capacity); first_line && *first_line == 0) {
        *first_line = s.line_no;  // a repeated id is not skipped: the full path refuses it as a duplicate
        ++s.skipped;
        continue;
      }
    }
    auto entry = line->too_long ? ManifestEntry(too_long_line(*line, s.line_no)) : s.parser.parse(text_of(*line), s.line_no);
    const std::string& id = std::visit([](const auto& e) -> const std::string& { return e.id; }, entry);
    if (std::uint64_t first = 0; !s.note_id(id, first)) {
      std::string hash = line->too_long ? too_long_line(*line, s.line_no).line_hash : manifest_line_hash(text_of(*line));
      return InvalidLine{s.line_no, id, fmt::format("duplicate id '{}' (first on line {})", id, first), std::move(hash)};
    }
    return entry;
  }
  return std::nullopt;
}

void ManifestReader::skip_finished(RecordedKey recorded) { impl_->recorded = std::move(recorded); }
std::uint64_t ManifestReader::skipped() const { return impl_->skipped; }
void ManifestReader::set_max_prompt_chars(std::size_t chars) { impl_->parser.set_max_prompt_chars(chars); }
void ManifestReader::set_model_sizes(ModelSizesLookup sizes) { impl_->parser.set_model_sizes(std::move(sizes)); }

std::optional<std::uint64_t> count_manifest_jobs(const std::filesystem::path& path) {
  // A pipe (or a FIFO, a terminal) can be read once: counting would leave nothing to run.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  try {
    // Lines are only told blank or not: no need to hold a long one.
    LineReader lines(path, "manifest", std::size_t{1} << 20);
    if (!lines.is_regular_file()) return std::nullopt;
    std::uint64_t count = 0;
    while (auto line = lines.next()) count += is_blank(*line) ? 0 : 1;
    return count;
  } catch (const std::runtime_error&) {
    return std::nullopt;  // the reader says why when it meets the same error
  }
}

}  // namespace venice_batch
