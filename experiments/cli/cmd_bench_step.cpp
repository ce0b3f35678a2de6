// `batchlab bench-step`: the step-time profile of a model on this machine -> profile.json
// (docs/profile_schema.md; the model it feeds is experiments/engine/step_time.h). Runs under
// mpirun / srun like `train`; with K ranks it measures, in order:
//   1. updates at each --local-batches b: rank 0 alone (the others wait without spinning): the
//      compute entry of 1 busy rank, fit alpha_c + beta_c b; then all K ranks in synchronous
//      updates, with the configured bucketed overlap (T_sync) and with every bucket all-reduced
//      after backward (T_blocking);
//   2. data: the loader alone delivering batches of b (all ranks at once), fit alpha_d + beta_d b;
//   3. all-reduce: one all-reduce of each --message-bytes over the K ranks, fit alpha + beta n,
//      which gives T_grad, the gradient's all-reduce in its buckets;
//   4. from 1 and 3: the fraction of T_grad hidden behind backward, phi = mean over b of
//      (T_blocking - T_sync) / T_grad in [0, 1], and the compute entry of K busy ranks,
//      T_sync(b) - (1 - phi) T_grad (inside the synchronous regime the trainer runs, where every
//      update waits for the slowest rank).
// The update is that of `batchlab train` with the same update-rule options (--optimizer, its
// settings, --precondition kfac): with a rule that recomputes its preconditioner every
// --precond-every updates (shampoo, kfac) every timed window is a multiple of that many updates,
// so each point carries the recomputation at the rate training pays it.
// With one rank only 1 and 2. Every timing runs at least --steps updates and --min-time seconds;
// each point is the mean of --rounds rounds, and within a round the three kinds of update at one
// b run back to back (load from other jobs then reaches them alike). Bad input: one line on
// stderr (rank 0), exit 2 on every rank.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "experiments/cli/commands.h"
#include "experiments/engine/grid.h"
#include "experiments/engine/provenance.h"
#include "experiments/engine/results_writer.h"
#include "experiments/engine/step_time.h"
#include "optim/config.h"
#include "optim/registry.h"
#include "realtrain/data/data_error.h"
#include "realtrain/process_group.h"
#include "realtrain/step_probe.h"
#include "realtrain/train_config.h"

namespace batchlab::cli {
namespace {

using experiments::LinearFit;
using experiments::TimedPoint;
constexpr const char* kWho = "batchlab bench-step";

struct BenchArgs {
  realtrain::TrainConfig train;
  std::string local_batches = "16,32,64,128,256", message_bytes = "auto", output = "profile.json";
  int steps = 10, warmup = 3, allreduce_iters = 10, rounds = 3;
  double min_time = 0.5;
  std::vector<std::int64_t> batches;
  std::vector<double> bytes;  // empty: chosen from the gradient size once the model exists
};

boost::program_options::options_description bench_options(BenchArgs& a) {
  namespace po = boost::program_options;
  realtrain::TrainConfig& c = a.train;
  po::options_description d("batchlab bench-step options (model, data and update-rule options as in batchlab train)");
  d.add_options()
      ("help,h", "show this help")
      ("dataset", po::value(&c.dataset)->default_value(c.dataset), "fashion-mnist | mnist | cifar10 | cifar100 | imagenet | packed")
      ("data-dir", po::value(&c.data_dir)->default_value(c.data_dir), "dataset directory")
      ("model", po::value(&c.model)->default_value(c.model), "mlp[:H1-H2-...] | simple-cnn | resnet8 | resnet20 | resnet32 | resnet50")
      ("backend", po::value(&c.backend)->default_value(c.backend), "mpi | nccl")
      ("bucket-mb", po::value(&c.bucket_mb)->default_value(c.bucket_mb), "gradient all-reduce bucket size (MiB), as train")
      ("no-overlap", po::bool_switch(&c.no_overlap), "all-reduce after backward instead of during it, as train")
      ("threads", po::value(&c.threads)->default_value(c.threads), "torch threads per rank (0: auto, as train)")
      ("loader-threads", po::value(&c.loader_threads)->default_value(c.loader_threads), "data loader threads per rank")
      ("seed", po::value(&c.seed)->default_value(c.seed), "seed of the initial model and data order")
      ("local-batches", po::value(&a.local_batches)->default_value(a.local_batches), "local (per-rank) batch sizes b, >= 2 of them")
      ("steps", po::value(&a.steps)->default_value(a.steps), "timed updates per point (at least)")
      ("rounds", po::value(&a.rounds)->default_value(a.rounds), "rounds over all points; each point is their mean")
      ("warmup", po::value(&a.warmup)->default_value(a.warmup), "untimed updates before each point")
      ("min-time", po::value(&a.min_time)->default_value(a.min_time), "seconds each point is timed for (at least)")
      ("message-bytes", po::value(&a.message_bytes)->default_value(a.message_bytes),
       "all-reduce sizes in bytes (auto: 4 KiB x 4^i up to 4x the gradient)")
      ("allreduce-iters", po::value(&a.allreduce_iters)->default_value(a.allreduce_iters), "timed all-reduces per size (at least)")
      ("output", po::value(&a.output)->default_value(a.output), "profile file to write");
  // The update timed is the one `batchlab train` runs with the same options (its state, Shampoo's
  // inverse roots and K-FAC's factors included): the same option group, the same validation.
  d.add(realtrain::optimizer_options(c));
  return d;
}

// Bench-specific checks; the trainer's own rules check the rest (validate_train_config).
void check_bench_args(BenchArgs& a, int world) {
  a.batches = experiments::parse_batch_sizes("--local-batches", a.local_batches);
  if (a.batches.size() < 2)
    throw optim::ConfigError("--local-batches = '" + a.local_batches + "': needs >= 2 batch sizes to fit alpha + beta b");
  if (a.steps < 1) throw optim::ConfigError("--steps = " + std::to_string(a.steps) + ": must be >= 1");
  if (a.rounds < 1) throw optim::ConfigError("--rounds = " + std::to_string(a.rounds) + ": must be >= 1");
  if (a.warmup < 0) throw optim::ConfigError("--warmup = " + std::to_string(a.warmup) + ": must be >= 0");
  if (a.allreduce_iters < 1)
    throw optim::ConfigError("--allreduce-iters = " + std::to_string(a.allreduce_iters) + ": must be >= 1");
  if (!(a.min_time >= 0.0)) throw optim::ConfigError("--min-time: must be >= 0");
  if (a.message_bytes != "auto") {
    for (const auto& item : experiments::split_list(a.message_bytes, ',')) {
      const double v = experiments::parse_double("--message-bytes", item);
      if (!(v >= 4.0)) throw optim::ConfigError("--message-bytes = '" + a.message_bytes + "': " + item + " is below 4 bytes");
      a.bytes.push_back(v);
    }
    std::sort(a.bytes.begin(), a.bytes.end());
    a.bytes.erase(std::unique(a.bytes.begin(), a.bytes.end()), a.bytes.end());
    if (a.bytes.size() < 2) throw optim::ConfigError("--message-bytes = '" + a.message_bytes + "': needs >= 2 sizes");
  }
  a.train.batch_size = a.batches.front() * world;
  a.train.steps = 1;
  realtrain::validate_train_config(a.train, world);
}

std::string load_average() {
  std::ifstream f("/proc/loadavg");
  std::string one, five, fifteen;
  f >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

double max_of(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }

// Updates between the recomputations of a rule that recomputes its preconditioner (Shampoo's
// inverse roots, K-FAC's inverses), else 1. A timed window of a multiple of it carries that
// cost once per this many updates, as training does.
int recompute_period(const realtrain::TrainConfig& c) {
  const bool periodic = c.precondition == "kfac" || optim::canonical_rule_name(c.optimizer) == "shampoo";
  return periodic ? static_cast<int>(std::max<std::int64_t>(1, c.precond_every)) : 1;
}

int round_up(int n, int multiple) { return (n + multiple - 1) / multiple * multiple; }

std::string format_ms(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g ms", 1e3 * s);
  return buf;
}

// Timed updates at b: at least a.steps and a.min_time seconds, the count agreed by all ranks
// from a pilot run. `alone`: only rank 0 works, the others wait idle; returns rank 0's timing
// (on every rank). Otherwise every rank works and the slowest rank's timing is returned.
realtrain::UpdateTiming timed_updates(realtrain::StepProbe& probe, const BenchArgs& a, std::int64_t b,
                                      realtrain::StepProbe::Mode mode, const realtrain::ProcessGroup& pg) {
  const bool alone = mode == realtrain::StepProbe::Mode::kLocal && pg.world > 1;
  const bool works = !alone || pg.rank == 0;
  double pilot = 0.0;
  if (works) pilot = probe.time_updates(b, mode, a.warmup, 2).step_s;
  if (alone) probe.idle_barrier();
  const double longest = max_of(probe.gather(pilot));
  const int steps = round_up(std::max(a.steps, static_cast<int>(std::ceil(a.min_time / std::max(longest, 1e-6)))),
                             recompute_period(a.train));
  realtrain::UpdateTiming t;
  if (works) t = probe.time_updates(b, mode, 1, steps);
  if (alone) probe.idle_barrier();
  const std::vector<double> step = probe.gather(t.step_s), wait = probe.gather(t.data_wait_s);
  if (alone) return {step[0], wait[0]};
  return {max_of(step), max_of(wait)};
}

LinearFit fit_or_throw(const std::vector<TimedPoint>& pts, const char* what) {
  try {
    return experiments::fit_linear(pts);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(std::string(what) + ": " + e.what());
  }
}

// The mean, not the median, of the rounds: training time is a sum of update times, so the
// occasional slow round (another job taking the core) belongs in the estimate.
double mean(const std::vector<double>& v) {
  double s = 0.0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// Every round's timings at one local batch: rank 0 alone (with > 1 rank), and all ranks in
// synchronous updates, with the configured overlap and with the all-reduce after backward.
struct BatchRounds {
  std::vector<double> alone, sync, blocking, wait;
};

// The kinds of update are timed back to back at each b, round after round, so that load from
// other jobs, which drifts over seconds, reaches all of them alike; points are means over the
// rounds.
std::vector<BatchRounds> measure_updates(realtrain::StepProbe& probe, const BenchArgs& a,
                                         const realtrain::ProcessGroup& pg) {
  using Mode = realtrain::StepProbe::Mode;
  std::vector<BatchRounds> out(a.batches.size());
  for (int r = 0; r < a.rounds; ++r)
    for (std::size_t i = 0; i < a.batches.size(); ++i) {
      const std::int64_t b = a.batches[i];
      BatchRounds& o = out[i];
      const realtrain::UpdateTiming t = timed_updates(probe, a, b, Mode::kLocal, pg);
      o.alone.push_back(t.step_s);
      o.wait.push_back(t.data_wait_s);
      if (pg.world > 1) {
        o.sync.push_back(timed_updates(probe, a, b, Mode::kSync, pg).step_s);
        o.blocking.push_back(timed_updates(probe, a, b, Mode::kSyncBlocking, pg).step_s);
      }
      if (pg.rank == 0)
        std::printf("round %d, b = %lld: %.4g ms/update on rank 0 alone (data wait %.3g ms)%s\n", r + 1,
                    static_cast<long long>(b), 1e3 * t.step_s, 1e3 * t.data_wait_s,
                    pg.world > 1 ? ("; " + std::to_string(pg.world) + " ranks, synchronous: " +
                                    format_ms(o.sync.back()) + ", all-reduce after backward: " +
                                    format_ms(o.blocking.back()))
                                       .c_str()
                                 : "");
    }
  return out;
}

experiments::ComputeEntry alone_entry(const BenchArgs& a, const std::vector<BatchRounds>& rounds) {
  std::vector<TimedPoint> pts;
  for (std::size_t i = 0; i < a.batches.size(); ++i)
    pts.push_back({static_cast<double>(a.batches[i]), mean(rounds[i].alone)});
  return {1, fit_or_throw(pts, "compute fit")};
}

LinearFit measure_data(realtrain::StepProbe& probe, const BenchArgs& a, const realtrain::ProcessGroup& pg) {
  std::vector<TimedPoint> pts;
  for (std::int64_t b : a.batches) {
    std::vector<double> rounds;
    for (int r = 0; r < a.rounds; ++r)
      rounds.push_back(max_of(probe.gather(probe.time_loader(b, a.warmup, std::max(a.steps, 20)))));
    pts.push_back({static_cast<double>(b), mean(rounds)});
    if (pg.rank == 0)
      std::printf("data, b = %lld: %.4g ms/batch (%.3g us/example)\n", static_cast<long long>(b),
                  1e3 * pts.back().s, 1e6 * pts.back().s / static_cast<double>(b));
  }
  return fit_or_throw(pts, "data fit");
}

experiments::AllreduceEntry measure_allreduce(realtrain::StepProbe& probe, const BenchArgs& a,
                                              const realtrain::ProcessGroup& pg, std::vector<double> sizes) {
  if (sizes.empty()) {
    const double top = std::max(4.0 * 4.0 * static_cast<double>(probe.parameters()), 1048576.0);
    for (double n = 4096.0; n <= top; n *= 4.0) sizes.push_back(n);
  }
  std::vector<TimedPoint> pts;
  for (double n : sizes) {
    const double pilot = max_of(probe.gather(probe.time_allreduce(n, 1, 2)));
    const int iters = std::max(a.allreduce_iters, static_cast<int>(std::ceil(a.min_time / std::max(pilot, 1e-7))));
    // The ranks agree on the count: rank 0's choice, broadcast as the maximum.
    const int agreed = static_cast<int>(max_of(probe.gather(pg.rank == 0 ? iters : 0)));
    std::vector<double> rounds;
    for (int r = 0; r < a.rounds; ++r) rounds.push_back(max_of(probe.gather(probe.time_allreduce(n, 2, agreed))));
    pts.push_back({n, mean(rounds)});
    if (pg.rank == 0) std::printf("all-reduce, %d ranks, %.0f bytes: %.4g ms\n", pg.world, n, 1e3 * pts.back().s);
  }
  return {pg.world, fit_or_throw(pts, "all-reduce fit")};
}

// phi (step_time.h, SyncOverhead) and the compute entry of all ranks busy,
// T_sync - (1 - phi) T_grad.
void sync_from_rounds(const BenchArgs& a, const std::vector<BatchRounds>& rounds, const realtrain::ProcessGroup& pg,
                      experiments::StepTimeProfile& p) {
  const LinearFit& ar = p.allreduce.back().time;
  const double t_grad = static_cast<double>(p.gradient_buckets) * ar.alpha + ar.beta * p.gradient_bytes();
  std::vector<experiments::SyncPoint> pts;
  for (std::size_t i = 0; i < a.batches.size(); ++i) {
    pts.push_back({static_cast<double>(a.batches[i]), mean(rounds[i].sync), mean(rounds[i].blocking)});
    if (pg.rank == 0)
      std::printf("b = %lld: synchronous update %.4g ms, all-reduce after backward %.4g ms, gradient all-reduce "
                  "alone %.4g ms\n", static_cast<long long>(a.batches[i]), 1e3 * pts.back().sync_step_s,
                  1e3 * pts.back().blocking_step_s, 1e3 * t_grad);
  }
  p.sync = experiments::fit_sync_overhead(pts, t_grad, pg.world);
  std::vector<TimedPoint> compute;
  for (std::size_t i = 0; i < pts.size(); ++i) {
    const experiments::SyncPoint& q = pts[i];
    double tc = q.sync_step_s - (1.0 - p.sync.overlap) * t_grad;
    if (!(tc > 0.0)) {
      // The all-reduce, timed on its own, came out slower than the whole synchronous update: the
      // machine was busier during one of the two measurements. The profile is still written (a
      // study on a shared machine should not fail on it), with this rank's update time alone at
      // that batch as the compute entry (a lower bound) and the warning in profile.json "warnings".
      const std::string w = "at b = " + std::to_string(static_cast<long long>(q.local_batch)) +
                            " the synchronous update (" + format_ms(q.sync_step_s) +
                            ") is shorter than its exposed all-reduce (" + format_ms((1.0 - p.sync.overlap) * t_grad) +
                            "): noisy measurement, compute entry = the update time with one rank busy; rerun with "
                            "more --rounds or --min-time for a better profile";
      if (pg.rank == 0) std::fprintf(stderr, "batchlab bench-step: warning: %s\n", w.c_str());
      p.extra["warnings"].push_back(w);
      tc = mean(rounds[i].alone);
    }
    compute.push_back({q.local_batch, tc});
  }
  p.compute.push_back({pg.world, fit_or_throw(compute, "compute fit")});
  if (pg.rank == 0)
    std::printf("synchronous update: %.3f +- %.3f of the gradient all-reduce hidden behind backward\n",
                p.sync.overlap, p.sync.overlap_error);
}

experiments::StepTimeProfile measure(realtrain::StepProbe& probe, BenchArgs& a, realtrain::ProcessGroup& pg) {
  experiments::StepTimeProfile p;
  p.source = "batchlab bench-step";
  p.model = a.train.model;
  p.dataset = a.train.dataset;
  p.optimizer = a.train.optimizer;
  p.precondition = a.train.precondition;
  p.parameters = probe.parameters();
  p.parameter_tensors = probe.parameter_tensors();
  p.optimizer_state_values = probe.optimizer_state_values();
  p.optimizer_state_tensors = probe.optimizer_state_tensors();
  p.gradient_buckets = static_cast<std::int64_t>(probe.gradient_buckets());
  p.bucket_bytes = a.train.bucket_mb * 1024.0 * 1024.0;
  p.backend = pg.backend;
  p.device = probe.device().str();
  p.devices_per_node = pg.local_size;
  p.threads_per_rank = probe.threads();
  p.loader_threads = a.train.loader_threads;
  const std::string load_before = load_average();
  const std::vector<BatchRounds> rounds = measure_updates(probe, a, pg);
  p.compute.push_back(alone_entry(a, rounds));
  p.has_data = true;
  p.data = measure_data(probe, a, pg);
  if (pg.world > 1) {
    p.allreduce.push_back(measure_allreduce(probe, a, pg, a.bytes));
    sync_from_rounds(a, rounds, pg, p);
  }
  if (!probe.weights_finite()) {
    const std::string w = "the weights of rank " + std::to_string(pg.rank) +
                          " are no longer finite after the timed updates: the timings include NaN arithmetic";
    std::fprintf(stderr, "batchlab bench-step: warning: %s\n", w.c_str());
    p.extra["warnings"].push_back(w);
  }
  nlohmann::json raw = nlohmann::json::array();
  for (std::size_t i = 0; i < a.batches.size(); ++i)
    raw.push_back({{"local_batch", a.batches[i]}, {"alone_s", rounds[i].alone}, {"alone_data_wait_s", rounds[i].wait},
                   {"sync_s", rounds[i].sync}, {"blocking_s", rounds[i].blocking}});
  p.extra["load_average"] = {{"before", load_before}, {"after", load_average()}};
  p.extra["bench"] = {{"ranks", pg.world}, {"local_batches", a.batches}, {"rounds", a.rounds},
                      {"steps_at_least", a.steps}, {"warmup", a.warmup}, {"min_time_s", a.min_time},
                      {"allreduce_iters_at_least", a.allreduce_iters}, {"lr", "fixed 1e-4"},
                      {"updates_per_window_multiple_of", recompute_period(a.train)},
                      {"update_rounds", raw}};
  return p;
}

}  // namespace

int cmd_bench_step(int argc, char** argv) {
  namespace po = boost::program_options;
  BenchArgs a;
  const bool print = realtrain::launcher_rank() == 0;
  po::variables_map vm;
  const po::options_description desc = bench_options(a);
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    if (print) std::fprintf(stderr, "%s: %s\n", kWho, e.what());
    return 2;
  }
  if (vm.count("help")) {
    if (print) std::cout << "usage: batchlab bench-step [options] (under mpirun -np K for K ranks)\n" << desc << "\n";
    return 0;
  }
  realtrain::ProcessGroup* pg = nullptr;
  try {
    pg = &realtrain::init_process_group(a.train.backend);
  } catch (const std::exception& e) {
    if (print) std::fprintf(stderr, "%s: %s\n", kWho, e.what());
    return 2;
  }
  int status = 0;
  try {
    std::unique_ptr<realtrain::StepProbe> probe;
    try {
      check_bench_args(a, pg->world);
      probe = std::make_unique<realtrain::StepProbe>(a.train, *pg);
      const std::int64_t need = a.batches.back() * pg->world;
      if (need > probe->train_examples())
        throw optim::ConfigError("--local-batches: " + std::to_string(a.batches.back()) + " x " +
                                 std::to_string(pg->world) + " ranks exceeds the " +
                                 std::to_string(probe->train_examples()) + " training examples");
    } catch (const optim::ConfigError& e) {
      if (pg->rank == 0) std::fprintf(stderr, "%s: %s\n", kWho, e.what());
      status = 2;
    } catch (const data::DataError& e) {
      if (pg->rank == 0) std::fprintf(stderr, "%s: %s\n", kWho, e.what());
      status = 2;
    }
    if (probe) {
      experiments::StepTimeProfile p = measure(*probe, a, *pg);
      if (pg->rank == 0) {
        p.extra["provenance"] = experiments::provenance(argc + 1, argv - 1);
        experiments::write_file_atomic(a.output, experiments::profile_to_json(p).dump(2) + "\n");
        std::printf("%s: %s, %lld parameters, %d rank(s) -> %s\n", kWho, p.model.c_str(),
                    static_cast<long long>(p.parameters), pg->world, a.output.c_str());
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: rank %d: %s\n", kWho, pg->rank, e.what());
    status = 1;
  }
  realtrain::finalize_process_group();
  return status;
}

}  // namespace batchlab::cli
