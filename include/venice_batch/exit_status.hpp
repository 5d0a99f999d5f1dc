// Exit statuses of `venice-batch` (documented in --help and the README).
#pragma once

namespace venice_batch {

enum ExitStatus : int {
  exit_ok = 0,            ///< every job succeeded (or was already done)
  exit_some_failed = 1,   ///< some jobs failed or were invalid; see results.jsonl
  exit_usage = 2,         ///< usage or configuration error: nothing was sent
  exit_stopped = 3,       ///< stopped early: bad key (401), no balance (402), certificate refused, disk full,
                          ///< API unreachable for longer than max_outage_s; resumable
  exit_user_limit = 4,    ///< stopped at a limit the user set (--max-spend, --min-balance, a model's daily
                          ///< request cap); resumable: run again (with a higher limit)
  exit_sigint = 130,
  exit_sigterm = 143,
};

}  // namespace venice_batch
