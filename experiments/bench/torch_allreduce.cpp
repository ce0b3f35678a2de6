// Gradient all-reduce under mpirun: bucketed all-reduce overlapped with backward
// (realtrain::GradientSynchronizer) vs one blocking MPI_Allreduce of the whole flattened gradient
// after backward, on real models (Simple CNN on 1x28x28, ResNet-20 on 3x32x32).
//
//   mpirun -np 2 [--allow-run-as-root] bench_torch_allreduce [--models simple-cnn,resnet20]
//       [--batch-size 32] [--warmup 3] [--steps 20] [--bucket-mb 25,1,0.25] [--threads 1] [--json FILE]
//
// Per model, the time per step (forward + backward + gradient synchronisation; per step the
// slowest rank's time; median and mean over the timed steps) of: `local` (no communication: the
// ideal), `blocking`, `bucketed` (overlapped) and `buck-noov` (same buckets, sent after
// backward) per bucket size; efficiency = ideal / median step time. The modes take turns step
// by step so that load from other processes on a shared machine affects them alike. Then, as nccl-tests does, the
// all-reduce alone on the flattened gradient: time, algorithm bandwidth (bytes / time) and bus
// bandwidth (algBw * 2(n-1)/n). Correctness: #wrong = gradient entries where the bucketed result
// differs from the blocking one (exact with 2 ranks: a+b and the scale by 1/2 are exact).
//
//   bench_torch_allreduce --loop-seconds S [--pid-dir DIR]
// Failure-test mode (tests/cli/rt_comm_kill.sh): each rank writes DIR/rank<r>.pid, then loops
// 1 MB all-reduces for S seconds; killing one rank must end the job.
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "experiments/bench/harness.h"
#include "realtrain/grad_sync.h"
#include "realtrain/process_group.h"
#include "realtrain/models.h"
#include "realtrain/provenance.h"
#include "optim/io.h"

namespace br = batchlab::realtrain;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::vector<std::string> models = {"simple-cnn", "resnet20"};
  int batch_size = 32;
  int warmup = 3;
  int steps = 20;
  std::vector<double> bucket_mb = {25, 1, 0.25};
  int threads = 1;
  double loop_seconds = 0;
  std::string pid_dir;
};

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "bench_torch_allreduce: %s\n", msg.c_str());
  std::exit(2);
}

Options parse(int argc, char** argv, batchlab::bench::Harness& h) {
  Options o;
  std::vector<std::string> buckets = {"25", "1", "0.25"};
  h.option("models", o.models, "comma list: simple-cnn, resnet20");
  h.option("batch-size", o.batch_size, "batch per rank");
  h.option("bucket-mb", buckets, "comma list of bucket sizes (MiB)");
  h.option("threads", o.threads, "torch threads per rank");
  h.option("loop-seconds", o.loop_seconds, "failure-test mode: loop 1 MB all-reduces this long");
  h.option("pid-dir", o.pid_dir, "failure-test mode: write rank<r>.pid here");
  h.timing(3, 20, {"steps"});
  h.parse(argc, argv);
  o.warmup = h.warmup();
  o.steps = h.iters();
  for (const auto& m : o.models)
    if (m != "simple-cnn" && m != "resnet20") usage_error("--models: unknown model '" + m + "' (simple-cnn, resnet20)");
  o.bucket_mb.clear();
  for (const auto& b : buckets) {
    const auto v = batchlab::optim::to_double(b);
    if (!v || !(*v > 0)) usage_error("--bucket-mb = '" + b + "': must be a positive number");
    o.bucket_mb.push_back(*v);
  }
  if (o.loop_seconds < 0) usage_error("--loop-seconds must be > 0");
  return o;
}

double max_over_ranks(double x) {
  MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return x;
}

struct Workload {
  std::string name;
  std::shared_ptr<br::Model> model;
  std::vector<torch::Tensor> params;
  torch::Tensor x, y;
  int64_t grad_elements = 0;
};

Workload make_workload(const std::string& name, int batch_size, int rank) {
  br::ModelSpec spec;
  spec.name = name;
  if (name == "resnet20") spec.in_channels = 3, spec.height = 32, spec.width = 32;
  torch::manual_seed(1);  // same weights on every rank, as after the initial broadcast
  Workload w;
  w.name = name;
  w.model = br::make_model(spec);
  w.params = w.model->parameters();
  for (auto& p : w.params) w.grad_elements += p.numel();
  torch::manual_seed(100 + rank);  // different data per rank
  w.x = torch::randn({batch_size, spec.in_channels, spec.height, spec.width});
  w.y = torch::randint(0, spec.num_classes, {batch_size});
  return w;
}

void forward_backward(Workload& w) {
  for (auto& p : w.params) p.mutable_grad() = torch::Tensor();
  torch::nn::functional::cross_entropy(w.model->forward(w.x), w.y).backward();
}

// One blocking all-reduce of the whole flattened gradient, after backward.
void blocking_allreduce(Workload& w, br::ProcessGroup& g) {
  std::vector<torch::Tensor> parts;
  for (auto& p : w.params) parts.push_back(p.grad().reshape(-1));
  auto flat = torch::cat(parts);
  auto ref = batchlab::optim::BufferRef{flat.data_ptr(), static_cast<std::size_t>(flat.numel()),
                                        batchlab::optim::DType::kFloat32};
  g.global->allreduce_mean(std::span<const batchlab::optim::BufferRef>(&ref, 1));
  int64_t off = 0;
  for (auto& p : w.params) {
    p.mutable_grad().copy_(flat.narrow(0, off, p.numel()).view(p.sizes()));
    off += p.numel();
  }
}

struct Timed {
  double step_s = 0;  // slowest rank's mean time per call
};

template <class Step>
Timed time_steps(int warmup, int steps, Step&& step) {
  for (int i = 0; i < warmup; ++i) step();
  MPI_Barrier(MPI_COMM_WORLD);
  const auto t0 = Clock::now();
  for (int i = 0; i < steps; ++i) step();
  Timed t;
  t.step_s = max_over_ranks(std::chrono::duration<double>(Clock::now() - t0).count() / steps);
  return t;
}

std::vector<torch::Tensor> grads_of(const Workload& w) {
  std::vector<torch::Tensor> out;
  for (const auto& p : w.params) out.push_back(p.grad().clone());
  return out;
}

long count_wrong(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  long wrong = 0;
  for (std::size_t k = 0; k < a.size(); ++k) wrong += a[k].ne(b[k]).sum().item<long>();
  return wrong;
}

struct Mode {
  std::string name;
  double bucket_mb = 0;
  std::unique_ptr<br::GradientSynchronizer> sync;  // null: local or blocking
  bool blocking = false;
  std::vector<double> step_s;  // slowest rank's time of each timed step
};

long bench_model(const Options& o, br::ProcessGroup& g, const std::string& name, batchlab::bench::Harness& h) {
  auto w = make_workload(name, o.batch_size, g.rank);
  const double grad_mb = w.grad_elements * 4.0 / (1 << 20);

  std::vector<Mode> modes;
  modes.push_back({"local", 0, nullptr, false, {}});
  modes.push_back({"blocking", grad_mb, nullptr, true, {}});
  for (bool overlap : {true, false}) {
    for (double mb : o.bucket_mb) {
      modes.push_back({overlap ? "bucketed" : "buck-noov", mb,
                       std::make_unique<br::GradientSynchronizer>(
                           w.params, *g.global, static_cast<std::size_t>(mb * (1 << 20)), overlap),
                       false, {}});
    }
  }
  forward_backward(w);
  blocking_allreduce(w, g);
  const auto reference = grads_of(w);
  std::vector<long> wrong(modes.size(), 0);

  auto run = [&](Mode& m) {
    if (m.sync) {
      for (auto& p : w.params) p.mutable_grad() = torch::Tensor();
      m.sync->prepare(true);
      torch::nn::functional::cross_entropy(w.model->forward(w.x), w.y).backward();
      m.sync->finish();
    } else {
      forward_backward(w);
      if (m.blocking) blocking_allreduce(w, g);
    }
  };
  // Modes take turns step by step (starting point rotating), so load from other processes on a
  // shared machine hits them alike; each step starts together on both ranks.
  for (int round = 0; round < o.warmup + o.steps; ++round) {
    for (std::size_t j = 0; j < modes.size(); ++j) {
      const std::size_t k = (j + static_cast<std::size_t>(round)) % modes.size();
      MPI_Barrier(MPI_COMM_WORLD);
      const auto t0 = Clock::now();
      run(modes[k]);
      const double dt = max_over_ranks(std::chrono::duration<double>(Clock::now() - t0).count());
      if (round >= o.warmup) modes[k].step_s.push_back(dt);
      if (round == o.warmup + o.steps - 1 && modes[k].name != "local") wrong[k] = count_wrong(grads_of(w), reference);
    }
  }
  MPI_Allreduce(MPI_IN_PLACE, wrong.data(), static_cast<int>(wrong.size()), MPI_LONG, MPI_SUM, MPI_COMM_WORLD);

  const double ideal_s = batchlab::bench::median(modes[0].step_s);
  for (std::size_t k = 0; k < modes.size(); ++k) {
    const auto& m = modes[k];
    const double med = batchlab::bench::median(m.step_s);
    double mean = 0;
    for (double x : m.step_s) mean += x / m.step_s.size();
    const double wait_ms = m.sync ? max_over_ranks(m.sync->comm_seconds() / (o.warmup + o.steps)) * 1e3 : 0;
    const std::size_t buckets = m.sync ? m.sync->bucket_count() : (m.blocking ? 1 : 0);
    const std::size_t early = m.sync ? m.sync->buckets_launched_during_backward() : 0;
    if (g.rank == 0) {
      std::printf("%-10s %9lld %8.3f %5d  %-9s %7.2f %7zu %5zu %9.2f %9.2f %9.2f %6.1f%% %9.2f %6ld\n", name.c_str(),
                  static_cast<long long>(w.grad_elements), grad_mb, o.batch_size, m.name.c_str(), m.bucket_mb, buckets,
                  early, med * 1e3, mean * 1e3, ideal_s * 1e3, 100.0 * ideal_s / med, wait_ms, wrong[k]);
      h.record({{"model", name}, {"mode", m.name}, {"bucket_mb", m.bucket_mb}, {"median_step_s", med},
                {"mean_step_s", mean}, {"efficiency", ideal_s / med}, {"wrong", wrong[k]}});
    }
  }

  // The all-reduce alone, on the flattened gradient (nccl-tests' algBw and busBw).
  auto flat = torch::ones({w.grad_elements});
  auto ref = batchlab::optim::BufferRef{flat.data_ptr(), static_cast<std::size_t>(flat.numel()),
                                        batchlab::optim::DType::kFloat32};
  const int iters = std::max(20, o.steps);
  Timed ar = time_steps(o.warmup, iters, [&] { g.global->allreduce_mean(std::span(&ref, 1)); });
  long ar_wrong = flat.ne(1.0f).sum().item<long>();  // the mean of all-ones stays all-ones
  MPI_Allreduce(MPI_IN_PLACE, &ar_wrong, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
  const double bytes = w.grad_elements * 4.0;
  const double alg_gbs = bytes / ar.step_s / 1e9;
  const double bus_gbs = alg_gbs * 2.0 * (g.world - 1) / g.world;
  if (g.rank == 0) {
    std::printf("%-10s allreduce-only: %.0f bytes  time %.3f ms  algBw %.3f GB/s  busBw %.3f GB/s  #wrong %ld\n",
                name.c_str(), bytes, ar.step_s * 1e3, alg_gbs, bus_gbs, ar_wrong);
    h.record({{"model", name}, {"mode", "allreduce-only"}, {"bytes", bytes}, {"time_s", ar.step_s},
              {"alg_gb_per_s", alg_gbs}, {"bus_gb_per_s", bus_gbs}, {"wrong", ar_wrong}});
  }
  long total = ar_wrong;
  for (long x : wrong) total += x;
  return total;
}

int loop_allreduces(const Options& o, br::ProcessGroup& g) {
  if (!o.pid_dir.empty()) {
    std::ofstream(o.pid_dir + "/rank" + std::to_string(g.rank) + ".pid") << getpid() << "\n";
  }
  std::vector<float> buf(1 << 18, 1.0f);
  auto ref = batchlab::optim::buffer_ref(std::span<float>(buf));
  const auto t0 = Clock::now();
  long iters = 0;
  while (std::chrono::duration<double>(Clock::now() - t0).count() < o.loop_seconds) {
    g.global->allreduce_mean(std::span(&ref, 1));
    ++iters;
  }
  if (g.rank == 0) std::printf("loop: %ld all-reduces in %.1f s, no failure\n", iters, o.loop_seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  batchlab::bench::Harness h("bench_torch_allreduce", "bucketed overlapped gradient all-reduce vs one blocking all-reduce");
  const Options o = parse(argc, argv, h);
  auto& g = br::init_process_group("mpi");
  torch::set_num_threads(o.threads);
  if (o.loop_seconds > 0) return loop_allreduces(o, g);
  h.version("torch", br::torch_version());
  h.version("mpi", br::mpi_library_version());
  if (g.rank == 0) {
    h.print_header();
    std::printf("# ranks %d x %d thread(s)\n", g.world, o.threads);
    std::printf("# step = forward + backward + sync; per step the slowest rank's time; median and mean over %d "
                "steps after %d warm-up, modes interleaved step by step; eff = ideal (local median) / median; "
                "early = buckets sent during backward; wait = time blocked in finish() per step\n",
                o.steps, o.warmup);
    std::printf("%-10s %9s %8s %5s  %-9s %7s %7s %5s %9s %9s %9s %7s %9s %6s\n", "model", "grad_elts", "grad_MB",
                "batch", "mode", "bkt_MB", "buckets", "early", "med_ms", "mean_ms", "ideal_ms", "eff", "wait_ms",
                "#wrong");
  }
  long wrong = 0;
  for (const auto& m : o.models) wrong += bench_model(o, g, m, h);
  br::finalize_process_group();
  return h.finish(wrong, /*report=*/g.rank == 0);
}
