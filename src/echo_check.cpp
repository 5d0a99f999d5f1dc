#include "venice_batch/echo_check.hpp"

namespace venice_batch {

EchoCheck::Verdict EchoCheck::judge(std::optional<std::string_view> echo, std::string_view sent,
                                    bool reused_connection) {
  if (!echo) return Verdict::accept;
  State seen = state_.load(std::memory_order_acquire);
  if (*echo == sent) {
    if (seen == State::unknown) state_.compare_exchange_strong(seen, State::trusted, std::memory_order_acq_rel);
    return Verdict::accept;  // also when another answer turned the check off meanwhile
  }
  for (;;) {
    if (seen == State::off) return Verdict::accept;
    if (seen == State::trusted && reused_connection) return Verdict::refuse;
    // Unknown, or trusted on a new connection: the API echoes otherwise than it was sent.
    if (state_.compare_exchange_weak(seen, State::off, std::memory_order_acq_rel)) return Verdict::accept_and_turn_off;
  }
}

}  // namespace venice_batch
