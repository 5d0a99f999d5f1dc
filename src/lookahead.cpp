#include "venice_batch/lookahead.hpp"

namespace venice_batch {

const AdmitResult* LookaheadPass::answer_for(std::string_view model) const {
  for (const auto& [name, answer] : answers_)
    if (name == model) return &answer;
  return nullptr;
}

const AdmitResult& LookaheadPass::note(std::string_view model, const AdmitResult& answer) {
  if (answer.kind == AdmitResult::Kind::wait && (!retry_at_ || answer.until < *retry_at_)) retry_at_ = answer.until;
  return answers_.emplace_back(std::string(model), answer).second;
}

}  // namespace venice_batch
