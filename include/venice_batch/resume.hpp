// Resume: what a run does with each manifest line, given what the journal
// (results.jsonl) says of its id from earlier runs. No I/O: the run hands it
// the journal state and the line's request hash.
#pragma once

#include <cstdint>

#include "venice_batch/journal.hpp"

namespace venice_batch {

enum class ResumeAction {
  run,            ///< never recorded, or recorded as retryable: send it
  run_changed,    ///< recorded for another request (the line changed): send it, and say so
  skip_done,      ///< recorded ok or content violation for this request: nothing to do
  skip_failed,    ///< failed for good earlier; only --retry-failed retries it
  record_invalid, ///< an invalid line: record it
  skip_invalid,   ///< the same invalid line was recorded already
  keep_done,      ///< an invalid line whose id is recorded ok (a duplicate id): never overwrite the ok
};

/// For a valid line. `previous` is the journal's state for the id (nullptr: none);
/// `request_hash64` the line's request hash (hash_prefix64); `retry_failed`: --retry-failed.
ResumeAction resume_job(const JournalState* previous, std::uint64_t request_hash64, bool retry_failed);

/// For an invalid line, with the hash of the line's text (a fixed line has another hash).
ResumeAction resume_invalid_line(const JournalState* previous, std::uint64_t line_hash64);

}  // namespace venice_batch
