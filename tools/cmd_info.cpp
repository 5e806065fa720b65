// `bertrank info`: what this build and CPU will run (kernel ISA, threads).
#include <omp.h>

#include <cstdio>

#include "kernels/kernels.h"
#include "tools/commands.h"

namespace bertrank::cli {

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Print the kernel ISA in use and what the CPU supports");
  cmd->callback([] {
    using namespace bertrank::kernels;
    const KernelTable& t = active();
    std::printf("isa: %s\n", isa_name(t.isa));
    for (Isa isa : {Isa::ref, Isa::avx2, Isa::avx512})
      std::printf("  %-7s cpu:%s build:%s\n", isa_name(isa), cpu_supports(isa) ? "yes" : "no",
                  kernels_for(isa) || !cpu_supports(isa) ? (kernels_for(isa) ? "yes" : "?") : "no");
    std::printf("threads: %d\n", omp_get_max_threads());
  });
}

}  // namespace bertrank::cli
