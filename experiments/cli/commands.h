// The `batchlab` subcommands. Each returns the process exit status:
// 0 success, 1 a failure while working, 2 bad input (reported in one line before any work).
#pragma once

namespace batchlab::cli {

int cmd_sweep(int argc, char** argv);        // simulated study from an INI file
int cmd_plot(int argc, char** argv);         // calls plots/*.py on a results directory
int cmd_noise_scale(int argc, char** argv);  // gradient noise scale of a landscape
int cmd_plan(int argc, char** argv);         // time and cost to target: study S(B) x step-time profile
int cmd_fit(int argc, char** argv);          // S(B) fit (or loss law) of any CSV table
#ifdef BATCHLAB_HAVE_REALTRAIN
int cmd_train(int argc, char** argv);        // one real data-parallel training run
int cmd_bench_step(int argc, char** argv);   // step-time profile -> profile.json (batchlab-train)
int cmd_study(int argc, char** argv);        // real-training study over batch sizes x lr grid
int cmd_pack(int argc, char** argv);         // ImageFolder -> shard files
int cmd_calibrate(int argc, char** argv);    // measured spectra -> NQM -> predicted S(B) (batchlab-train)
#endif

}  // namespace batchlab::cli
