// batchlab-train: the LibTorch half of `batchlab`. The user runs `batchlab train ...`; batchlab
// (which never loads LibTorch) execs this program with the same arguments (experiments/cli/main.cpp),
// so argv[1] is "train" (or "calibrate", which measures a real model and runs the NQM prediction).
#include <cstdio>
#include <string_view>

#include "experiments/cli/commands.h"

int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "train") return batchlab::cli::cmd_train(argc - 1, argv + 1);
  if (argc >= 2 && std::string_view(argv[1]) == "calibrate") return batchlab::cli::cmd_calibrate(argc - 1, argv + 1);
  std::fprintf(stderr, "batchlab-train: run it as `batchlab train|calibrate [options]` (got '%s')\n",
               argc >= 2 ? argv[1] : "");
  return 2;
}
