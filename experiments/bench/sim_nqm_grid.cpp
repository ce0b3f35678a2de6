// bench_sim_nqm_grid: the analytic NQM grid of experiments/bench/nqm_numpy.py through
// sim::run_trial, timed, with the steps-to-target of every trial written for comparison.
//
//   bench_sim_nqm_grid [--threads N] [--repeat R] [--out FILE.csv] [--optimizers sgd,precond]
//                      [--lrs 160] [--max-steps 10000000]
// Grid (the numpy peer's, default): d = 1e4, h_i = 1/i, c_i = h_i, E theta_0^2 = 1, target 0.01,
// B = 2^2, 2^4, ..., 2^20, lr = 160 values log-spaced in [1e-4, 10^0.5], sgd and precond
// (p = 0.5). Trials are split over N threads (default 1) by index; each trial is independent.
// Prints the wall time per repetition (after one warm-up run), trials/s, and the best
// (lr, steps) per (optimizer, batch).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sim/trial.h"

using namespace batchlab;

int main(int argc, char** argv) {
  int threads = 1, repeat = 3, n_lr = 160;
  std::int64_t max_steps = 10000000;
  std::string out, optimizers = "sgd,precond";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_sim_nqm_grid: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--threads") threads = std::stoi(next());
    else if (a == "--repeat") repeat = std::stoi(next());
    else if (a == "--out") out = next();
    else if (a == "--optimizers") optimizers = next();
    else if (a == "--lrs") n_lr = std::stoi(next());
    else if (a == "--max-steps") max_steps = std::stoll(next());
    else {
      std::fprintf(stderr, "bench_sim_nqm_grid: unknown argument '%s'\n", a.c_str());
      return 2;
    }
  }
  if (threads < 1 || repeat < 1 || n_lr < 2) {
    std::fprintf(stderr, "bench_sim_nqm_grid: --threads, --repeat >= 1 and --lrs >= 2 required\n");
    return 2;
  }
  std::vector<std::string> opts;
  std::stringstream ss(optimizers);
  for (std::string o; std::getline(ss, o, ',');) opts.push_back(o);

  std::vector<sim::TrialSpec> specs;
  for (const auto& o : opts)
    for (int e = 2; e <= 20; e += 2)
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
  for (const auto& s : specs) sim::validate(s);  // bad input before any timing
  std::vector<sim::TrialResult> res(specs.size());
  auto run_all = [&]() {
    std::atomic<std::size_t> next{0};
    auto work = [&]() {
      for (std::size_t i; (i = next.fetch_add(1)) < specs.size();) res[i] = sim::run_trial(specs[i]);
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
  };
  run_all();  // warm-up
  std::vector<double> times, cpu;
  for (int r = 0; r < repeat; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::clock_t c0 = std::clock();
    run_all();
    cpu.push_back(double(std::clock() - c0) / CLOCKS_PER_SEC);
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  std::sort(cpu.begin(), cpu.end());
  std::printf("argv:");
  for (int i = 0; i < argc; ++i) std::printf(" %s", argv[i]);
  std::printf("\ntrials %zu threads %d: wall best %.4f s, median %.4f s (%.0f trials/s); "
              "process CPU best %.4f s\n",
              specs.size(), threads, times.front(), times[times.size() / 2],
              specs.size() / times.front(), cpu.front());
  std::size_t k = 0;
  for (const auto& o : opts)
    for (int e = 2; e <= 20; e += 2) {
      std::int64_t best = -1;
      double best_lr = 0.0;
      for (int j = 0; j < n_lr; ++j, ++k)
        if (res[k].status == sim::TrialStatus::kReached &&
            (best < 0 || res[k].steps_to_target < best)) {
          best = res[k].steps_to_target;
          best_lr = specs[k].lr;
        }
      std::printf("%-8s B=2^%-2d best lr %.5g steps %lld\n", o.c_str(), e, best_lr,
                  static_cast<long long>(best));
    }
  if (!out.empty()) {
    std::ofstream f(out);
    f << "optimizer,batch_size,lr_index,status,steps_to_target\n";
    k = 0;
    for (const auto& o : opts)
      for (int e = 2; e <= 20; e += 2)
        for (int j = 0; j < n_lr; ++j, ++k)
          f << o << ',' << (std::int64_t{1} << e) << ',' << j << ',' << sim::to_string(res[k].status)
            << ',' << res[k].steps_to_target << '\n';
  }
  return 0;
}
