// bench_sim_nqm_grid: the analytic NQM grid of experiments/bench/nqm_numpy.py through
// sim::run_trial, timed, with the steps-to-target of every trial written for comparison.
//
//   bench_sim_nqm_grid [--threads N] [--repeat R] [--out FILE.csv] [--optimizers sgd,precond]
//                      [--lrs 160] [--max-steps 10000000] [--json FILE]
// Grid (the numpy peer's, default): d = 1e4, h_i = 1/i, c_i = h_i, E theta_0^2 = 1, target 0.01,
// B = 2^2, 2^4, ..., 2^20, lr = 160 values log-spaced in [1e-4, 10^0.5], sgd and precond
// (p = 0.5). Trials are split over N threads (default 1) by index; each trial is independent.
// Prints the wall time per repetition (after one warm-up run), trials/s, and the best
// (lr, steps) per (optimizer, batch). The whole process (start-up included) against the numpy
// script is experiments/bench/sim_vs_numpy_process.sh.
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "experiments/bench/harness.h"
#include "optim/config.h"
#include "sim/trial.h"

using namespace batchlab;

namespace {

constexpr int kMinExp = 2, kMaxExp = 20, kExpStep = 2;  // B = 2^2, 2^4, ..., 2^20

std::vector<sim::TrialSpec> grid_specs(const std::vector<std::string>& optimizers, int n_lr, std::int64_t max_steps) {
  std::vector<sim::TrialSpec> specs;
  for (const auto& o : optimizers)
    for (int e = kMinExp; e <= kMaxExp; e += kExpStep)
      for (int j = 0; j < n_lr; ++j) {
        sim::TrialSpec s;
        s.mode = "analytic";
        s.landscape.kind = "nqm";
        s.landscape.dim = 10000;
        s.optimizer.name = o;
        if (o == "momentum") s.optimizer.momentum = 0.9;
        if (o == "ema") s.ema_decay = 0.9;
        s.optimizer.precond_power = 0.5;
        s.batch_size = std::int64_t{1} << e;
        s.lr = std::pow(10.0, -4.0 + 4.5 * j / (n_lr - 1));
        s.target = 0.01;
        s.max_steps = max_steps;
        specs.push_back(s);
      }
  return specs;
}

// Every trial, split over `threads` threads by index.
void run_all(const std::vector<sim::TrialSpec>& specs, std::vector<sim::TrialResult>& res, int threads) {
  std::atomic<std::size_t> next{0};
  auto work = [&]() {
    for (std::size_t i; (i = next.fetch_add(1)) < specs.size();) res[i] = sim::run_validated_trial(specs[i]);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
}

}  // namespace

int main(int argc, char** argv) {
  bench::Harness h("bench_sim_nqm_grid", "the analytic NQM grid of nqm_numpy.py through the simulator");
  int threads = 1, n_lr = 160;
  std::int64_t max_steps = 10000000;
  std::string out;
  std::vector<std::string> opts = {"sgd", "precond"};
  h.option("threads", threads, "trial threads");
  h.option("lrs", n_lr, "lrs per (optimizer, batch), log-spaced in [1e-4, 10^0.5]", 2);
  h.option("max-steps", max_steps, "steps before a trial counts as not reached");
  h.option("optimizers", opts, "comma list of optimizers");
  h.option("out", out, "CSV of every trial's status and steps (for nqm_numpy.py --compare)");
  h.timing(1, 3, {"repeat"});
  h.parse(argc, argv);

  const std::vector<sim::TrialSpec> specs = grid_specs(opts, n_lr, max_steps);
  try {
    for (const auto& s : specs) sim::validate(s);  // bad input before any timing
  } catch (const optim::ConfigError& e) {
    std::fprintf(stderr, "bench_sim_nqm_grid: %s\n", e.what());
    return 2;
  }
  h.print_header();
  std::vector<sim::TrialResult> res(specs.size());
  const bench::Samples t = h.time([&] { run_all(specs, res, threads); });
  std::printf("trials %zu threads %d: wall best %.4f s, median %.4f s (%.0f trials/s); "
              "process CPU best %.4f s\n",
              specs.size(), threads, t.min_wall(), t.median_wall(), static_cast<double>(specs.size()) / t.min_wall(),
              t.min_cpu());
  h.record({{"trials", specs.size()}, {"threads", threads}, {"wall_best_s", t.min_wall()},
            {"wall_median_s", t.median_wall()}, {"cpu_best_s", t.min_cpu()}});
  std::size_t k = 0;
  for (const auto& o : opts)
    for (int e = kMinExp; e <= kMaxExp; e += kExpStep) {
      std::int64_t best = -1;
      double best_lr = 0.0;
      for (int j = 0; j < n_lr; ++j, ++k)
        if (res[k].status == sim::TrialStatus::kReached && (best < 0 || res[k].steps_to_target < best)) {
          best = res[k].steps_to_target;
          best_lr = specs[k].lr;
        }
      std::printf("%-8s B=2^%-2d best lr %.5g steps %lld\n", o.c_str(), e, best_lr, static_cast<long long>(best));
    }
  if (!out.empty()) {
    std::ofstream f(out);
    f << "optimizer,batch_size,lr_index,status,steps_to_target\n";
    k = 0;
    for (const auto& o : opts)
      for (int e = kMinExp; e <= kMaxExp; e += kExpStep)
        for (int j = 0; j < n_lr; ++j, ++k)
          f << o << ',' << (std::int64_t{1} << e) << ',' << j << ',' << sim::to_string(res[k].status) << ','
            << res[k].steps_to_target << '\n';
  }
  // The correctness check is the comparison with the numpy peer (nqm_numpy.py --compare).
  return h.finish(0);
}
