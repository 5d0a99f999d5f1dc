#include "venice_batch/pool_state.hpp"

#include <algorithm>

namespace venice_batch {

ConnectionSlots::ConnectionSlots(std::size_t max_size) : max_size_(std::max<std::size_t>(max_size, 1)) {}

std::optional<ConnectionSlots::Acquired> ConnectionSlots::acquire() {
  if (!idle_.empty()) {
    const std::size_t id = idle_.back();
    idle_.pop_back();
    ++in_use_;
    return Acquired{id, true};
  }
  if (open() >= max_size_) return std::nullopt;
  std::size_t id;
  if (!free_ids_.empty()) {
    id = free_ids_.back();
    free_ids_.pop_back();
  } else {
    id = next_id_++;
  }
  ++in_use_;
  ++opened_total_;
  return Acquired{id, false};
}

std::optional<ConnectionSlots::Acquired> ConnectionSlots::acquire_fresh() {
  std::size_t id;
  if (open() < max_size_) {
    if (!free_ids_.empty()) {
      id = free_ids_.back();
      free_ids_.pop_back();
    } else {
      id = next_id_++;
    }
  } else if (!idle_.empty()) {
    id = idle_.front();  // the coldest idle one's slot: the caller closes it and opens another
    idle_.erase(idle_.begin());
  } else {
    return std::nullopt;
  }
  ++in_use_;
  ++opened_total_;
  return Acquired{id, false};
}

void ConnectionSlots::release(std::size_t id, bool reusable) {
  if (in_use_ > 0) --in_use_;
  if (reusable) idle_.push_back(id);
  else free_ids_.push_back(id);
}

std::vector<std::size_t> ConnectionSlots::drop_idle() {
  std::vector<std::size_t> dropped;
  dropped.swap(idle_);
  free_ids_.insert(free_ids_.end(), dropped.begin(), dropped.end());
  return dropped;
}

bool resend_on_fresh_connection(bool reused, ExchangeStep failed_at, TransportError error,
                                std::size_t answer_bytes_read, unsigned resends_so_far, std::size_t max_size) {
  if (!reused || answer_bytes_read != 0) return false;
  if (failed_at != ExchangeStep::write && failed_at != ExchangeStep::read_header) return false;
  if (error != TransportError::connection_lost) return false;
  return resends_so_far <= max_size;
}

}  // namespace venice_batch
