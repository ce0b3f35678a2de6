// batchlab-train: the LibTorch half of `batchlab`. The user runs `batchlab train|calibrate|bench-step
// ...`; batchlab (which never loads LibTorch) execs this program with the same arguments
// (experiments/cli/main.cpp), so argv[1] is the command.
#include <cstdio>
#include <string_view>

#include "experiments/cli/commands.h"
#include "realtrain/cpu_memory.h"

int main(int argc, char** argv) {
  // Line by line also into a file (a study trial's train.log, a Slurm job's job.out): a process
  // killed mid-run (a crash, the OOM killer) leaves what it printed, which a failed trial's
  // failure.txt quotes.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  // Activations freed by one update are reused by the next instead of page-faulted in again
  // (realtrain/cpu_memory.h: twice the Simple CNN's update speed on CPU, and step times that do
  // not depend on what the process allocated before).
  batchlab::realtrain::keep_freed_memory_for_reuse();
  const std::string_view cmd = argc >= 2 ? argv[1] : "";
  if (cmd == "train") return batchlab::cli::cmd_train(argc - 1, argv + 1);
  if (cmd == "calibrate") return batchlab::cli::cmd_calibrate(argc - 1, argv + 1);
  if (cmd == "bench-step") return batchlab::cli::cmd_bench_step(argc - 1, argv + 1);
  std::fprintf(stderr, "batchlab-train: run it as `batchlab train|calibrate|bench-step [options]` (got '%s')\n",
               argc >= 2 ? argv[1] : "");
  return 2;
}
