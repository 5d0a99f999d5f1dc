#include "venice_batch/resume.hpp"

namespace venice_batch {

ResumeAction resume_job(const JournalState* previous, std::uint64_t request_hash64, bool retry_failed) {
  if (!previous) return ResumeAction::run;
  // A record of another request: the user changed the line. Hash 0 is a record without one.
  if (previous->request_hash64 != 0 && previous->request_hash64 != request_hash64) return ResumeAction::run_changed;
  switch (previous->status) {
    case JobStatus::ok: return ResumeAction::skip_done;
    case JobStatus::invalid: return ResumeAction::run;  // the line was fixed: now it is valid
    case JobStatus::failed:
    case JobStatus::content_violation: break;  // recorded as not retryable: --retry-failed asks again
  }
  if (previous->retryable || retry_failed) return ResumeAction::run;
  return ResumeAction::skip_failed;
}

ResumeAction resume_invalid_line(const JournalState* previous, std::uint64_t line_hash64) {
  if (!previous) return ResumeAction::record_invalid;
  if (previous->status == JobStatus::ok) return ResumeAction::keep_done;
  if (previous->status == JobStatus::invalid && previous->request_hash64 == line_hash64 && line_hash64 != 0)
    return ResumeAction::skip_invalid;
  return ResumeAction::record_invalid;
}

}  // namespace venice_batch
