// SPDX-License-Identifier: Apache-2.0
// `ternary`: the command-line tool of Ternary Engine. Each subcommand lives in its own file and
// registers itself here; exit status 0 on success, 1 on a runtime failure, 2 on a usage error.

#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "commands.hpp"
#include "common.hpp"
#include "demo.hpp"
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "ternary/ternary.hpp"

namespace {

std::string version_line() {
  return fmt::format("ternary {} (cpu: {}; cuda: {})", ternary::version_string(),
                     ternary::isa_name(ternary::active_isa()),
                     ternary::cuda_built() ? "yes" : "no");
}

int run(int argc, char** argv) {
  namespace cli = ternary::cli;
  CLI::App app("Ternary Engine: packed ternary weights and GEMV/GEMM kernels", "ternary");
  app.set_version_flag("--version", version_line, "Print the version, CPU ISA and CUDA support");
  app.require_subcommand(1);
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return fmt::format("ternary: error: {}\nRun with --help for more information.\n", e.what());
  });

  cli::register_demo(app);
  cli::register_quantize(app);
  cli::register_convert(app);
  cli::register_inspect(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const std::string name = e.get_name();
    if (name == "RuntimeError") return e.get_exit_code();  // the subcommand reported already
    if (e.get_exit_code() == 0) return app.exit(e);        // --help, --version
    if (name == "RequiredError" && app.get_subcommands().empty()) {
      const std::vector<std::string> extra = app.remaining();
      if (extra.empty()) {
        std::cerr << app.help();  // nothing given: show what there is
      } else {
        cli::report_error(fmt::format("unknown subcommand or option '{}'", extra.front()));
        std::cerr << "Run with --help for more information.\n";
      }
      return cli::exit_usage;
    }
    app.exit(e);
    return cli::exit_usage;
  }
  return cli::exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "ternary: error: {}\n", e.what());
  } catch (...) {
    fmt::print(stderr, "ternary: error: unknown exception\n");
  }
  return ternary::cli::exit_failure;
}
