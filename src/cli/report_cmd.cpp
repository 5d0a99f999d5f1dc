// `venice-batch report OUTDIR`: writes OUTDIR/report.html from a run's out dir (report.hpp).
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "venice_batch/exit_status.hpp"
#include "venice_batch/report.hpp"

namespace venice_batch::cli {

Command add_report_command(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand(
      "report", "Write OUTDIR/report.html: summary, latency per phase, throughput over time, image gallery, failures");
  cmd->add_option("OUTDIR", *dir, "The out dir of a run")->required()->check(CLI::ExistingDirectory);
  return {cmd, [dir] {
            std::string why;
            auto path = write_report(*dir, &why);
            if (!path) {
              std::cerr << "venice-batch: " << why << "\n";
              return static_cast<int>(exit_usage);
            }
            std::cout << path->string() << "\n";
            return static_cast<int>(exit_ok);
          }};
}

}  // namespace venice_batch::cli
