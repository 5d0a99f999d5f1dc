// Regenerating what the filter spoiled (`--regenerate-flagged N`, issue 11): a 200 whose images
// the API blurred (x-venice-is-blurred: true) or replaced by a content-violation placeholder is
// flagged, and the job is asked again with a new random seed, at most N times. The decision is
// here, without I/O and with an injected random source; the run only sends the new body.
// The seed is changed in the body sent, never in the line: the request hash that decides "this
// line changed" is the line's, so a resume never pays for a regeneration again.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "venice_batch/attempt_policy.hpp"
#include "venice_batch/journal.hpp"

namespace venice_batch {

enum class ImageFlag { none, blurred, content_violation };

/// "blurred", "content_violation" ("" for none): as results.jsonl's attempt_log names the flag.
std::string_view to_string(ImageFlag flag);

struct RegenerationDecision {
  bool again = false;
  std::int64_t seed = 0;  ///< the next try's seed, when again
};

/// After a try flagged `flag`, with `done` regenerations already sent of at most `max`: ask again
/// with a seed uniform in [1, 999,999,999] (VENICE_API.md: the API's range; 0 is a literal seed,
/// so it is never drawn), or stop. An unflagged try never regenerates.
RegenerationDecision decide_regeneration(ImageFlag flag, unsigned done, unsigned max, const RandomSource& random);

/// A new seed, uniform in [1, 999,999,999]: a regeneration's, also when a rerun goes on with one.
std::int64_t random_seed(const RandomSource& random);

/// A job that is run again goes on with the regeneration its last record was waiting for (0: it
/// starts with the line's own request). Only a record of this same request (`request_hash64`)
/// that stopped between two tries, retryable, carries one: a changed line, or --retry-failed on a
/// job that ended flagged, starts from the line again. So a kill never pays for the flagged tries
/// again, and the try after them is sent with a new seed, not the line's (which was flagged).
unsigned resume_regeneration(const JournalState* previous, std::uint64_t request_hash64);

/// `body` (a JSON object) with "seed" set to `seed`: the field replaced where it is, or added.
/// A body that is not a JSON object is returned as it is (it was checked before it was sent).
std::string request_with_seed(std::string_view body, std::int64_t seed);

}  // namespace venice_batch
