#include "venice_batch/echo_check.hpp"

namespace venice_batch {

std::string_view to_string(EchoCheck::Field f) { return f == EchoCheck::Field::prompt ? "prompt" : "seed"; }

EchoCheck::Judgement EchoCheck::judge(const RequestEcho& echoed, const RequestEcho& sent, bool reused_connection) {
  // Which fields can be compared, and whether they match.
  struct Compared {
    Field field;
    bool present, equal;
  };
  const std::array<Compared, 2> fields{{
      {Field::prompt, echoed.prompt && sent.prompt, echoed.prompt && sent.prompt && *echoed.prompt == *sent.prompt},
      {Field::seed, echoed.seed && sent.seed, echoed.seed && sent.seed && *echoed.seed == *sent.seed},
  }};
  // First whether any trusted field says "another request's": then nothing is learned from it.
  if (reused_connection)
    for (const auto& c : fields)
      if (c.present && !c.equal && state(c.field) == State::trusted) return {Verdict::refuse, c.field, {}};
  Judgement judgement;
  for (const auto& c : fields) {
    if (!c.present) continue;
    auto& s = states_[static_cast<int>(c.field)];
    State seen = s.load(std::memory_order_acquire);
    if (c.equal) {
      if (seen == State::unknown) s.compare_exchange_strong(seen, State::trusted, std::memory_order_acq_rel);
      continue;  // also when another answer turned it off meanwhile
    }
    for (;;) {
      if (seen == State::off) break;
      // Trusted meanwhile by another thread's answer, on a reused connection: another request's.
      if (seen == State::trusted && reused_connection) return {Verdict::refuse, c.field, judgement.turned_off};
      // Unknown, or trusted on a new connection: the API echoes this field otherwise than it was sent.
      if (s.compare_exchange_weak(seen, State::off, std::memory_order_acq_rel)) {
        judgement.verdict = Verdict::accept_and_turn_off;
        judgement.turned_off[static_cast<int>(c.field)] = true;
        break;
      }
    }
  }
  return judgement;
}

}  // namespace venice_batch
