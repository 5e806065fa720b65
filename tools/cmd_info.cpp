// `bertrank info`: what this build and CPU will run (kernel ISA, threads).
#include <omp.h>

#include <cstdio>

#include "tools/cli_util.h"
#include "tools/commands.h"

namespace bertrank::cli {

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Print the kernel ISA in use and what the CPU supports");
  cmd->callback([] {
    std::printf("bertrank %s\n", bertrank_version());
    std::printf("isa: %s\n", bertrank_isa());
    for (const char* isa : {"ref", "avx2", "avx512"})
      std::printf("  %-7s available:%s\n", isa, bertrank_isa_available(isa) ? "yes" : "no");
    std::printf("threads: %d\n", omp_get_max_threads());
  });
}

}  // namespace bertrank::cli
