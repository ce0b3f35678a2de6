// batchlab: one executable, one subcommand per job (see `batchlab --help`).
#include <cstdio>
#include <cstring>
#include <string_view>

#include "experiments/commands.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* help;
};

constexpr Command kCommands[] = {
    {"sweep", batchlab::cli::cmd_sweep, "simulated study: batchlab sweep CONFIG.ini [--section.key=value ...]"},
    {"plot", batchlab::cli::cmd_plot, "figures from a results directory: batchlab plot DIR"},
    {"noise-scale", batchlab::cli::cmd_noise_scale, "gradient noise scale of a landscape"},
#ifdef BATCHLAB_HAVE_REALTRAIN
    {"train", batchlab::cli::cmd_train, "one real data-parallel run (under mpirun/srun for K ranks)"},
    {"study", batchlab::cli::cmd_study, "real-training study: batchlab study CONFIG.ini"},
    {"pack", batchlab::cli::cmd_pack, "ImageFolder -> sequential shard files"},
#endif
};

void usage(std::FILE* out) {
  std::fprintf(out, "usage: batchlab COMMAND [options]   (batchlab COMMAND --help)\n\ncommands:\n");
  for (const auto& c : kCommands) std::fprintf(out, "  %-12s %s\n", c.name, c.help);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const std::string_view cmd = argv[1];
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    usage(stdout);
    return 0;
  }
  for (const auto& c : kCommands)
    if (cmd == c.name) return c.run(argc - 1, argv + 1);
  std::fprintf(stderr, "batchlab: unknown command '%s' (try batchlab --help)\n", argv[1]);
  return 2;
}
