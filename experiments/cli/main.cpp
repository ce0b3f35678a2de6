// batchlab: one command for the user, one subcommand per job (see `batchlab --help`).
//
// Two executables stand behind it. This one (the simulator, the study driver, plots, pack) does
// not link LibTorch, so `batchlab --help` or `batchlab sweep --check` start in milliseconds
// instead of the ~0.65 s it takes to load LibTorch and its ~300 shared libraries. `batchlab
// train` and `batchlab bench-step` replace this process (execv: same pid, environment and
// arguments, so mpirun/srun see no difference) with batchlab-train, installed beside it, which
// links LibTorch (experiments/cli/train_main.cpp).
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>

#include "experiments/cli/commands.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* help;
};

#ifdef BATCHLAB_HAVE_REALTRAIN
// argv is still the whole command line (argv[0] = batchlab, argv[1] = "train", ...).
char** g_argv = nullptr;

// The commands that need LibTorch (train, calibrate, bench-step) run in batchlab-train.
int exec_batchlab_train(int, char**) {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::string exe = ((ec ? std::filesystem::path(g_argv[0]) : self).parent_path() / "batchlab-train").string();
  ::execv(exe.c_str(), g_argv);
  std::fprintf(stderr, "batchlab %s: cannot run %s (%s); it is built and installed beside batchlab\n",
               g_argv[1], exe.c_str(), std::strerror(errno));
  return 2;
}
#endif

constexpr Command kCommands[] = {
    {"sweep", batchlab::cli::cmd_sweep, "simulated study: batchlab sweep CONFIG.ini [--section.key=value ...]"},
    {"plot", batchlab::cli::cmd_plot, "figures from a results directory: batchlab plot DIR"},
    {"noise-scale", batchlab::cli::cmd_noise_scale, "gradient noise scale of a landscape"},
    {"fit", batchlab::cli::cmd_fit, "critical batch (or loss law) of any table: batchlab fit TABLE.csv [--by COLUMN]"},
    {"branch", batchlab::cli::cmd_branch, "branched critical batch (or CBS batch warm-up) of a simulated run: batchlab branch CONFIG.ini --branch-at-step T ..."},
    {"plan", batchlab::cli::cmd_plan, "time and device-hours to target vs workers and batch: batchlab plan STUDY --profile P"},
#ifdef BATCHLAB_HAVE_REALTRAIN
    {"train", exec_batchlab_train, "one real data-parallel run (under mpirun/srun for K ranks)"},
    {"bench-step", exec_batchlab_train, "step-time profile of a model (compute, all-reduce, overlap, data) -> profile.json"},
    {"study", batchlab::cli::cmd_study, "real-training study: batchlab study CONFIG.ini"},
    {"pack", batchlab::cli::cmd_pack, "ImageFolder -> sequential shard files"},
    {"calibrate", exec_batchlab_train, "measured Hessian / noise spectra -> NQM -> predicted S(B) of a real study"},
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
#ifdef BATCHLAB_HAVE_REALTRAIN
  g_argv = argv;
#endif
  for (const auto& c : kCommands)
    if (cmd == c.name) return c.run(argc - 1, argv + 1);
  std::fprintf(stderr, "batchlab: unknown command '%s' (try batchlab --help)\n", argv[1]);
  return 2;
}
