#include "venice_batch/echo_check.hpp"

namespace venice_batch {

std::string_view to_string(EchoCheck::Field f) {
  switch (f) {
    case EchoCheck::Field::prompt: return "prompt";
    case EchoCheck::Field::seed: return "seed";
    case EchoCheck::Field::model: return "model";
  }
  return "field";
}

EchoCheck::State& EchoCheck::state_of(Field f, std::string_view model) {
  if (f == Field::prompt) return prompt_;
  if (f == Field::model) return model_;
  auto it = seed_by_model_.find(model);
  if (it == seed_by_model_.end()) it = seed_by_model_.emplace(std::string(model), State::unknown).first;
  return it->second;
}

EchoCheck::State EchoCheck::state(Field f, std::string_view model) const {
  std::lock_guard lock(mutex_);
  if (f == Field::prompt) return prompt_;
  if (f == Field::model) return model_;
  const auto it = seed_by_model_.find(model);
  return it == seed_by_model_.end() ? State::unknown : it->second;
}

EchoCheck::Judgement EchoCheck::judge(std::string_view model, const RequestEcho& echoed, const RequestEcho& sent,
                                      bool reused_connection) {
  struct Compared {
    Field field;
    bool present, equal;
  };
  const bool models = echoed.model && sent.model;
  const std::array<Compared, kFields> fields{{
      {Field::prompt, echoed.prompt && sent.prompt, echoed.prompt && sent.prompt && *echoed.prompt == *sent.prompt},
      {Field::seed, echoed.seed && sent.seed, echoed.seed && sent.seed && *echoed.seed == *sent.seed},
      {Field::model, models,
       models && (*echoed.model == *sent.model || (!model.empty() && *echoed.model == model))},
  }};
  std::lock_guard lock(mutex_);
  // Whether any trusted field says "another request's" first: then nothing is learned from it.
  if (reused_connection)
    for (const auto& c : fields)
      if (c.present && !c.equal && state_of(c.field, model) == State::trusted) return {Verdict::refuse, c.field, {}};
  Judgement judgement;
  for (const auto& c : fields) {
    if (!c.present) continue;
    State& s = state_of(c.field, model);
    if (c.equal) {
      if (s == State::unknown) s = State::trusted;
    } else if (s != State::off) {
      // Unknown, or trusted on a new connection: the API echoes this field otherwise than it was sent.
      s = State::off;
      judgement.verdict = Verdict::accept_and_turn_off;
      judgement.turned_off[static_cast<std::size_t>(c.field)] = true;
    }
  }
  return judgement;
}

}  // namespace venice_batch
