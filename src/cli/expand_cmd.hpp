// `venice-batch expand SPEC [-o manifest.jsonl]`: a sweep spec (expand.hpp) to a manifest on
// standard output or, all or nothing, into a file. Registered like the other subcommands
// (commands.hpp): main() adds add_expand_command(app) to its list.
#pragma once

#include <CLI/CLI.hpp>

#include "commands.hpp"

namespace venice_batch::cli {

/// Registers `expand` on `app`. Its action returns 0 (written), 2 (a bad spec, a refusal:
/// --max-jobs or --sample, or an id collision) or 3 (the manifest could not be written).
Command add_expand_command(CLI::App& app);

}  // namespace venice_batch::cli
