// Benchmark: overhead of the study engine and results writer per trial, with a trial runner that
// does no work (so the numbers are the engine's own cost: grid decoding, the reorder buffer,
// CSV formatting, atomic commits, the best-per-batch reduction). Run by hand:
//   build/<dir>/experiments/bench_study_engine_overhead [--trials 200000] [--threads 2]
//       [--warmup 0] [--iters 1] [--json FILE]
// Prints trials/s for the engine alone and for engine + writer (median of the timed
// iterations), and checks that every trial reached the sink in order (#wrong must be 0).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>

#include "experiments/bench/harness.h"
#include "experiments/engine/results_writer.h"
#include "experiments/engine/study_engine.h"

using namespace batchlab::experiments;
namespace bench = batchlab::bench;

namespace {

StudyGrid make_grid(std::int64_t trials) {
  StudyGrid g;
  g.study = "bench";
  g.landscape = "none";
  g.optimizers = {{"sgd", {0.0}, {0.0}}};
  g.batch_sizes = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
  g.seeds = {0};
  const std::int64_t n_lr = std::max<std::int64_t>(1, trials / 10);
  for (std::int64_t i = 0; i < n_lr; ++i) g.lr_grid.push_back(1e-4 * (1.0 + static_cast<double>(i)));
  return g;
}

TrialOutcome noop(const TrialPoint& p) {
  TrialOutcome o;
  o.status = TrialStatus::kReached;
  o.steps_to_target = 1000 - static_cast<std::int64_t>(p.lr_index % 1000);
  o.final_metric = 0.01;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Harness h("bench_study_engine_overhead", "per-trial cost of the study engine and results writer");
  std::int64_t trials = 200000;
  int threads = 2;
  h.option("trials", trials, "trials in the grid (rounded to a multiple of 10)");
  h.option("threads", threads, "engine threads");
  h.timing(0, 1);
  h.parse(argc, argv);
  const StudyGrid g = make_grid(trials);
  h.print_header();
  std::printf("# %lld trials, %d threads\n", static_cast<long long>(g.size()), threads);

  std::int64_t wrong = 0;
  // Counts trials that reach the sink out of order.
  auto in_order = [&wrong](std::int64_t& next, const TrialPoint& p) { wrong += p.trial_id != next++; };
  const bench::Samples engine = h.time([&] {
    BestTracker t(g);
    std::int64_t next = 0;
    run_trials(g, 0, noop, [&](const TrialPoint& p, TrialOutcome&& o) {
      in_order(next, p);
      t.add(p, o);
    }, {.threads = threads});
  });
  const double n = static_cast<double>(g.size());
  std::printf("engine only:     %10.0f trials/s  (%.3f s)\n", n / engine.median_wall(), engine.median_wall());
  h.record({{"case", "engine"}, {"trials", g.size()}, {"median_s", engine.median_wall()}});

  const auto dir = std::filesystem::temp_directory_path() / ("batchlab_bench_" + std::to_string(::getpid()));
  double csv_mb = 0.0;
  const bench::Samples writer = h.time([&] {
    std::filesystem::remove_all(dir);
    ResultsWriter w(dir, g, {});
    BestTracker t(g);
    w.open({{"study.name", "bench"}}, t);
    std::int64_t next = 0;
    run_trials(g, 0, noop, [&](const TrialPoint& p, TrialOutcome&& o) {
      in_order(next, p);
      w.append(p, o);
      t.add(p, o);
    }, {.threads = threads});
    w.flush();
    write_summaries(dir, g, t, {});
    csv_mb = static_cast<double>(std::filesystem::file_size(dir / "trials.csv")) / 1e6;
  });
  std::filesystem::remove_all(dir);
  std::printf("engine + writer: %10.0f trials/s  (%.3f s, trials.csv %.1f MB)\n", n / writer.median_wall(),
              writer.median_wall(), csv_mb);
  h.record({{"case", "engine+writer"}, {"trials", g.size()}, {"median_s", writer.median_wall()}, {"trials_csv_mb", csv_mb}});
  return h.finish(wrong);
}
