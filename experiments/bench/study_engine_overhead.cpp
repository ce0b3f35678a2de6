// Benchmark: overhead of the study engine and results writer per trial, with a trial runner that
// does no work (so the numbers are the engine's own cost: grid decoding, the reorder buffer,
// CSV formatting, atomic commits, the best-per-batch reduction). Run by hand:
//   build/<dir>/experiments/bench_study_engine_overhead [trials=200000] [threads=2]
// Prints trials/s for the engine alone and for engine + writer, and checks that every trial
// reached the sink in order (#wrong must be 0).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <unistd.h>

#include "experiments/engine/provenance.h"
#include "experiments/engine/results_writer.h"
#include "experiments/engine/study_engine.h"

using namespace batchlab::experiments;

int main(int argc, char** argv) {
  const std::int64_t want = argc > 1 ? std::atoll(argv[1]) : 200000;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  StudyGrid g;
  g.study = "bench";
  g.landscape = "none";
  g.optimizers = {{"sgd", {0.0}, {0.0}}};
  g.batch_sizes = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
  g.seeds = {0};
  const std::int64_t n_lr = std::max<std::int64_t>(1, want / 10);
  for (std::int64_t i = 0; i < n_lr; ++i) g.lr_grid.push_back(1e-4 * (1.0 + static_cast<double>(i)));
  const TrialRunner noop = [](const TrialPoint& p) {
    TrialOutcome o;
    o.status = TrialStatus::kReached;
    o.steps_to_target = 1000 - static_cast<std::int64_t>(p.lr_index % 1000);
    o.final_metric = 0.01;
    return o;
  };
  std::printf("# bench_study_engine_overhead: %lld trials, %d threads, git %s, %s\n",
              static_cast<long long>(g.size()), threads, git_sha().c_str(), library_versions()["compiler"].get<std::string>().c_str());

  {
    BestTracker t(g);
    std::int64_t next = 0, wrong = 0;
    const auto t0 = std::chrono::steady_clock::now();
    run_trials(g, 0, noop, [&](const TrialPoint& p, TrialOutcome&& o) {
      if (p.trial_id != next++) ++wrong;
      t.add(p, o);
    }, {.threads = threads});
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("engine only:     %10.0f trials/s  (%.3f s, #wrong %lld)\n", static_cast<double>(g.size()) / s, s,
                static_cast<long long>(wrong));
  }
  {
    const auto dir = std::filesystem::temp_directory_path() / ("batchlab_bench_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    ResultsWriter w(dir, g, {});
    BestTracker t(g);
    w.open({{"study.name", "bench"}}, t);
    std::int64_t next = 0, wrong = 0;
    const auto t0 = std::chrono::steady_clock::now();
    run_trials(g, 0, noop, [&](const TrialPoint& p, TrialOutcome&& o) {
      if (p.trial_id != next++) ++wrong;
      w.append(p, o);
      t.add(p, o);
    }, {.threads = threads});
    w.flush();
    write_summaries(dir, g, t, {});
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("engine + writer: %10.0f trials/s  (%.3f s, #wrong %lld, trials.csv %.1f MB)\n",
                static_cast<double>(g.size()) / s, s, static_cast<long long>(wrong),
                static_cast<double>(std::filesystem::file_size(dir / "trials.csv")) / 1e6);
    std::filesystem::remove_all(dir);
  }
  return 0;
}
