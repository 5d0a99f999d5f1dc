// Checking each answer against the request it echoes (VENICE_API.md: a 200 carries its request,
// `request.data`, "with defaults filled"), so that an answer nobody asked for, which puts a
// keep-alive connection's answers out of step, is never kept as another job's image. The decision
// only: no I/O, and safe to call from the threads that decode answers (atomic states).
//
// Two fields are compared: the prompt, and the seed when the request sent one (a seed sweep sends
// one prompt many times). Each field's check is earned on its own, per model (one EchoCheck per
// model: one model's way of echoing says nothing of another's). It starts unknown and becomes
// trusted once an answer echoes exactly what was sent. An echo that differs while that field is
// not trusted, or on a connection opened for the request (where no earlier answer can wait), is
// the API's own way of echoing: that field is checked no more, and the run says so once. Once a
// field is trusted, an answer on a connection that carried answers before and echoing another
// value of it is refused: not written, its connection never used again, the job sent again on a
// new one.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>

namespace venice_batch {

/// What a request said, or what an answer echoes of it (nullopt: not said, not echoed).
struct RequestEcho {
  std::optional<std::string_view> prompt;
  std::optional<std::int64_t> seed;
};

class EchoCheck {
 public:
  enum class State : std::uint8_t { unknown, trusted, off };
  enum class Field : std::uint8_t { prompt, seed };
  enum class Verdict : std::uint8_t {
    accept,               ///< every echoed field matches, is not echoed, or is not checked
    refuse,               ///< another request's answer: not kept, its connection not reused
    accept_and_turn_off,  ///< a field's echo differs where that proves nothing: checked no more (say it)
  };
  struct Judgement {
    Verdict verdict = Verdict::accept;
    Field refused_by = Field::prompt;          ///< refuse: the field whose echo is another request's
    std::array<bool, 2> turned_off{};          ///< accept_and_turn_off: by Field, those this answer turned off
  };

  EchoCheck() = default;
  EchoCheck(State prompt, State seed) : states_{prompt, seed} {}

  /// `echoed`: what the answer echoes; `sent`: what the request said; `reused_connection`: the
  /// answer came on a connection that had carried answers before. accept_and_turn_off is given for
  /// a field to one caller only, whichever turned that field off.
  Judgement judge(const RequestEcho& echoed, const RequestEcho& sent, bool reused_connection);

  State state(Field f) const { return states_[static_cast<int>(f)].load(std::memory_order_acquire); }

 private:
  std::array<std::atomic<State>, 2> states_{State::unknown, State::unknown};
};

std::string_view to_string(EchoCheck::Field f);

}  // namespace venice_batch
