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

/// `body` (a JSON object) with "seed" set to `seed`: the field replaced where it is, or added.
/// A body that is not a JSON object is returned as it is (it was checked before it was sent).
std::string request_with_seed(std::string_view body, std::int64_t seed);

}  // namespace venice_batch
