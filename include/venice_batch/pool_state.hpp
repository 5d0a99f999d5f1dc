// The connection pool's bookkeeping, without sockets: which connection a request
// takes (the most recently parked idle one, else a new one under the size cap,
// else wait), what happens to it afterwards (parked for reuse or closed), and
// when a request goes again on a fresh connection. HttpClientPool maps slot ids
// to real connections and does the I/O; tests drive this unit directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "venice_batch/transport_error.hpp"

namespace venice_batch {

class ConnectionSlots {
 public:
  /// At most `max_size` connections open at once (idle + in use); at least 1.
  explicit ConnectionSlots(std::size_t max_size);

  struct Acquired {
    std::size_t id;  ///< stable while the connection lives
    bool reused;     ///< an idle keep-alive connection: it may have been closed by the server meanwhile
  };
  /// The most recently parked idle connection (warmest), else a new slot (the caller opens it),
  /// else nullopt: every slot is in use, wait for a release.
  std::optional<Acquired> acquire();
  /// A new connection only (reused false): a new slot under the cap, else the oldest idle one's
  /// slot (the caller closes that connection and opens another), else nullopt: wait.
  std::optional<Acquired> acquire_fresh();
  /// Ends a request on slot `id`: parked for reuse when `reusable`, otherwise closed and freed.
  void release(std::size_t id, bool reusable);
  /// Closes every idle slot; returns their ids (the caller closes the sockets).
  std::vector<std::size_t> drop_idle();

  std::size_t open() const { return in_use_ + idle_.size(); }
  std::size_t in_use() const { return in_use_; }
  std::size_t idle() const { return idle_.size(); }
  std::size_t max_size() const { return max_size_; }
  std::uint64_t opened_total() const { return opened_total_; }

 private:
  std::size_t max_size_;
  std::size_t in_use_ = 0;
  std::vector<std::size_t> idle_;       ///< parked ids, most recent last
  std::vector<std::size_t> free_ids_;   ///< ids of closed slots, for reuse
  std::size_t next_id_ = 0;
  std::uint64_t opened_total_ = 0;
};

/// A slot taken from ConnectionSlots, given back when the lease ends: closed unless keep() was
/// called, so an early return or an exception can never park a connection in an unknown state.
class ConnectionLease {
 public:
  ConnectionLease(ConnectionSlots& slots, ConnectionSlots::Acquired a) : slots_(&slots), acquired_(a) {}
  ConnectionLease(ConnectionLease&& o) noexcept : slots_(o.slots_), acquired_(o.acquired_), keep_(o.keep_) {
    o.slots_ = nullptr;
  }
  ConnectionLease(const ConnectionLease&) = delete;
  ConnectionLease& operator=(const ConnectionLease&) = delete;
  ConnectionLease& operator=(ConnectionLease&&) = delete;
  ~ConnectionLease() {
    if (slots_) slots_->release(acquired_.id, keep_);
  }
  std::size_t id() const { return acquired_.id; }
  bool reused() const { return acquired_.reused; }
  /// The response was complete and the server keeps the connection open: park it.
  void keep() { keep_ = true; }

 private:
  ConnectionSlots* slots_;
  ConnectionSlots::Acquired acquired_;
  bool keep_ = false;
};

/// Whether a failed request goes again, at once, on a fresh connection. Only when it failed on
/// a reused connection that the server had closed while idle (the write still succeeds; the
/// read fails before a single byte of the answer), and at most `max_size + 1` times for one
/// request: a server that closes every connection is a real failure, not a stale pool.
/// Such a resend is counted: the first POST was written, so it may have been billed.
bool resend_on_fresh_connection(bool reused, ExchangeStep failed_at, TransportError error,
                                std::size_t answer_bytes_read, unsigned resends_so_far, std::size_t max_size);

}  // namespace venice_batch
