// `venice-batch plan`: a dry run of a manifest against the model catalog (plan.hpp).
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "venice_batch/plan.hpp"

namespace venice_batch::cli {

Command add_plan_command(CLI::App& app) {
  struct State {
    PlanOptions plan;
    ConnectionOptions connection;
    std::string manifest, catalog, out = ".", json;
  };
  auto s = std::make_shared<State>();
  auto* cmd = app.add_subcommand(
      "plan",
      "Dry run (no image requested): per model the jobs, images, invalid lines with reasons, estimated cost, the "
      "time the rate limits imply, and the disk space the images need");
  cmd->add_option("--manifest", s->manifest, "JSONL manifest to plan")->required()->check(CLI::ExistingFile);
  cmd->add_option("--catalog", s->catalog, "A saved catalog.json (from a run's out dir) with the models and prices")
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", s->out,
                  "The out dir the run will use: its file system's free space is checked (default .); when a run "
                  "has used it, only what a run resuming there would send is planned");
  cmd->add_flag("--retry-failed", s->plan.retry_failed, "As run --retry-failed: plan the jobs that failed for good too");
  cmd->add_option("--json", s->json, "Also write the plan as JSON to this file");
  s->connection.add_to(cmd);
  cmd->footer(kExitStatuses);
  return {cmd, [s, cmd] {
            s->plan.config = s->connection.load(cmd);
            validate_config(s->plan.config);  // as run does: a config run would refuse is refused here too
            s->plan.manifest = s->manifest;
            s->plan.catalog_file = s->catalog;
            s->plan.out_dir = s->out;
            s->plan.json_file = s->json;
            s->plan.api_key = api_key_from_env();
            return run_plan(s->plan, std::cout);
          }};
}

}  // namespace venice_batch::cli
