// Checking each answer against the prompt it echoes (VENICE_API.md: a 200 carries its request,
// `request.data.prompt`), so that an answer nobody asked for, which puts a keep-alive
// connection's answers out of step, is never kept as another job's image. The decision only: no
// I/O, and safe to call from the threads that decode answers (one atomic state).
//
// The check is earned. It starts unknown and becomes trusted once an answer echoes exactly the
// prompt that was sent. An echo that differs while the check is not trusted, or on a connection
// opened for the request (where no earlier answer can wait), is the API's own way of echoing:
// the check is off for the rest of the run, and the run says so once. Once trusted, an answer
// on a connection that carried answers before and echoing another prompt is refused: not
// written, its connection never used again, the job sent again on a new one.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>

namespace venice_batch {

class EchoCheck {
 public:
  enum class State : std::uint8_t { unknown, trusted, off };
  enum class Verdict : std::uint8_t {
    accept,               ///< the echo matches, there is none, or the check is off
    refuse,               ///< another request's answer: not kept, its connection not reused
    accept_and_turn_off,  ///< the echo differs where that proves nothing: checked no more (say it)
  };

  explicit EchoCheck(State initial = State::unknown) : state_(initial) {}

  /// `echo`: the prompt the answer echoes (nullopt: none); `sent`: the request's prompt;
  /// `reused_connection`: the answer came on a connection that had carried answers before.
  /// accept_and_turn_off is given to one caller only, whichever turned the check off.
  Verdict judge(std::optional<std::string_view> echo, std::string_view sent, bool reused_connection);

  State state() const { return state_.load(std::memory_order_acquire); }

 private:
  std::atomic<State> state_;
};

}  // namespace venice_batch
