// Checking each answer against the request it echoes (VENICE_API.md: a 200 carries its request,
// `request.data`, "with defaults filled"), so that an answer nobody asked for, which puts a
// keep-alive connection's answers out of step, is never kept as another job's image. The decision
// only: no I/O; safe to call from the threads that decode answers (one lock, held for a few
// comparisons per answer).
//
// Three fields are compared: the prompt; the model, which may be echoed as the line names it or
// as the catalog's id; and the seed when the request sent one (a sweep sends one prompt many
// times, over seeds or models). Each field's check is earned on its own: it starts unknown and
// becomes trusted once an answer echoes exactly what was sent. The prompt and the model are the
// API's to echo, one way for every model: their trust is the run's. How the seed is echoed may
// depend on the model (VENICE_API.md: some ignore it): its trust is earned per model. An echo
// that differs while its field is not trusted, or on a connection opened for the request (where
// no earlier answer can wait), is the API's own way of echoing: that field is checked no more,
// and the run says so once. Once a field is trusted, an answer on a connection that carried
// answers before and echoing another value of it is refused: not written, its connection never
// used again, the job sent again on a new one. A refused answer teaches nothing.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace venice_batch {

/// What a request said, or what an answer echoes of it (nullopt: not said, not echoed).
struct RequestEcho {
  std::optional<std::string_view> prompt;
  std::optional<std::int64_t> seed;
  std::optional<std::string_view> model;
};

class EchoCheck {
 public:
  enum class State : std::uint8_t { unknown, trusted, off };
  enum class Field : std::uint8_t { prompt, seed, model };
  static constexpr std::size_t kFields = 3;
  enum class Verdict : std::uint8_t {
    accept,               ///< every echoed field matches, is not echoed, or is not checked
    refuse,               ///< another request's answer: not kept, its connection not reused
    accept_and_turn_off,  ///< a field's echo differs where that proves nothing: checked no more (say it)
  };
  struct Judgement {
    Verdict verdict = Verdict::accept;
    Field refused_by = Field::prompt;       ///< refuse: the field whose echo is another request's
    std::array<bool, kFields> turned_off{};  ///< accept_and_turn_off: by Field, those this answer turned off
  };

  /// `model`: the catalog's id the request was paced under (the seed's trust is kept per model;
  /// the echo may name the model so as well as the line's way, sent.model); `echoed`: what the
  /// answer echoes; `sent`: what the request said; `reused_connection`: the answer came on a
  /// connection that had carried answers before. A field is turned off for one caller only,
  /// whichever judged first.
  Judgement judge(std::string_view model, const RequestEcho& echoed, const RequestEcho& sent, bool reused_connection);

  State state(Field f, std::string_view model = {}) const;

 private:
  State& state_of(Field f, std::string_view model);

  mutable std::mutex mutex_;
  State prompt_ = State::unknown, model_ = State::unknown;
  std::map<std::string, State, std::less<>> seed_by_model_;
};

std::string_view to_string(EchoCheck::Field f);

}  // namespace venice_batch
