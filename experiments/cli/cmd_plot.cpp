// batchlab plot DIR: figures of a results directory (plots/*.py, PNG + PDF into DIR).
#include <cstdio>
#include <cstring>

#include "experiments/cli/commands.h"
#include "experiments/engine/plots.h"

namespace batchlab::cli {

int cmd_plot(int argc, char** argv) {
  if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::printf("usage: batchlab plot DIR\n  steps_vs_batch, lr_vs_batch (and curves if curves.csv) as PNG + PDF in DIR\n");
    return 0;
  }
  if (argc != 2) {
    std::fprintf(stderr, "batchlab plot: expected one results directory (usage: batchlab plot DIR)\n");
    return 2;
  }
  return experiments::run_plots(argv[1], "batchlab plot");
}

}  // namespace batchlab::cli
