// `batchlab train`: one real data-parallel training run (under mpirun / srun for K ranks).
//
// Bad input (unknown option or value, batch not divisible by ranks, missing dataset directory,
// unknown model / optimizer / sync policy) is ONE line on stderr, printed by rank 0 only, and
// exit status 2 on every rank before any rank starts training. Failures while training: exit 1.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <thread>

#include <boost/program_options.hpp>

#include "experiments/cli/commands.h"
#include "experiments/cli/train_branch.h"
#include "experiments/engine/provenance.h"
#include "optim/config.h"
#include "realtrain/process_group.h"
#include "realtrain/data/data_error.h"
#include "realtrain/train_config.h"
#include "realtrain/trainer.h"

namespace batchlab::cli {
namespace {

int bad_input(bool print, const std::string& msg) {
  if (print) {
    std::fprintf(stderr, "batchlab train: %s\n", msg.c_str());
  } else {
    // mpirun aborts the whole job when the first rank exits non-zero: a silent rank that got
    // here first on a busy machine would kill rank 0 before its one line is written.
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
  return 2;
}

}  // namespace

int cmd_train(int argc, char** argv) {
  namespace po = boost::program_options;
  realtrain::TrainConfig cfg;
  po::options_description desc = realtrain::train_options(cfg);
  TrainBranchOptions branch;  // --branch-from / --warmup-*: train_branch.h
  desc.add(train_branch_options(branch));
  desc.add_options()("help,h", "show this help");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return bad_input(realtrain::launcher_rank() == 0, e.what());
  }
  if (vm.count("help")) {
    if (realtrain::launcher_rank() == 0) std::cout << "usage: batchlab train [options]\n" << desc << "\n";
    return 0;
  }

  realtrain::ProcessGroup* pg = nullptr;
  try {
    pg = &realtrain::init_process_group(cfg.backend);
  } catch (const std::exception& e) {
    return bad_input(realtrain::launcher_rank() == 0, e.what());
  }
  const bool rank0 = pg->rank == 0;
  int status = 0;
  if (branch.branching() || branch.warmup()) {
    try {
      status = run_train_branch(cfg, branch, *pg, experiments::provenance(argc + 1, argv - 1));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "batchlab train: rank %d: %s\n", pg->rank, e.what());
      status = 1;
    }
    realtrain::finalize_process_group();
    return status;
  }
  try {
    std::unique_ptr<realtrain::Trainer> trainer;
    try {  // the Trainer validates the settings (validate_train_config) before anything else
      trainer = std::make_unique<realtrain::Trainer>(cfg, *pg,
                                                     experiments::provenance(argc + 1, argv - 1));
    } catch (const optim::ConfigError& e) {
      status = bad_input(rank0, e.what());
    } catch (const data::DataError& e) {
      status = bad_input(rank0, e.what());
    }
    if (trainer) {
      const bool lm = trainer->model().is_language_model();
      if (rank0)
        std::printf("batchlab train: model %s, %lld parameters\n", cfg.model.c_str(),
                    static_cast<long long>(trainer->parameter_count()));
      const realtrain::TrainResult r = trainer->run();
      if (rank0 && lm)
        std::printf("batchlab train: %s after %lld steps, validation loss %.4f nats/token = %.4f bits/byte, "
                    "%.0f tokens/s -> %s\n",
                    r.status.c_str(), static_cast<long long>(r.steps), r.final_eval_loss,
                    r.final_eval_loss / std::log(2.0), r.tokens_per_s, cfg.output.c_str());
      else if (rank0)
        std::printf("batchlab train: %s after %lld steps, test accuracy %.4f, %.1f img/s -> %s\n",
                    r.status.c_str(), static_cast<long long>(r.steps), r.final_accuracy,
                    r.img_per_s, cfg.output.c_str());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "batchlab train: rank %d: %s\n", pg->rank, e.what());
    status = 1;
  }
  realtrain::finalize_process_group();
  return status;
}

}  // namespace batchlab::cli
