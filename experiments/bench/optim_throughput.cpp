// Update-rule throughput on one group of n float32 parameters (Eigen backend, one thread),
// next to a plain copy of the same bytes measured in the same run.
//
//   bench_optim_throughput [--n 10000000] [--warmup 3] [--iters 15] [--json FILE]
//
// For each kernel: warm-up iterations, timed iterations, median time; GB/s of bytes touched
// (the minimum traffic the update needs: SGD reads w, g and writes w = 3 n floats; heavy-ball
// 5 n; Adam, AdamW and LAMB read w, g, m, v and write w, m, v = 7 n; copy 2 n), updates/s
// (optimizer steps per second) and the ratio of its GB/s to the copy's. A correctness check
// per kernel counts wrong entries against closed forms (constant gradient: SGD moves by
// steps * lr g; Adam's bias-corrected direction is exactly g / (|g| + eps) every step).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "experiments/bench/harness.h"
#include "optim/backend_eigen.h"
#include "optim/optimizer.h"

using namespace batchlab::optim;
using Vec = Eigen::VectorXf;

namespace {

struct Options {
  std::int64_t n = 10'000'000;
  int warmup = 3;
  int iters = 15;
};

double median_seconds(const Options& o, const std::function<void()>& f) {
  return batchlab::bench::time_calls(o.warmup, o.iters, f).median_wall();
}

struct Row {
  std::string name;
  double floats_touched;  // per element
  double seconds;
  long wrong;
};

// Gradient entries of both signs and magnitudes in [0.5, 1.5] x 1e-2.
Vec make_gradient(long n) {
  Vec g(n);
  for (long i = 0; i < n; ++i)
    g[i] = static_cast<float>((i % 2 ? 1.0 : -1.0) * (1.0 + 0.5 * std::sin(0.001 * i)) * 1e-2);
  return g;
}

long count_wrong(const Vec& got, const std::function<double(long)>& want, double rel) {
  long wrong = 0;
  for (long i = 0; i < got.size(); ++i) {
    const double w = want(i);
    if (!(std::abs(got[i] - w) <= rel * (std::abs(w) + 1e-3))) ++wrong;
  }
  return wrong;
}

Row run_rule(const std::string& label, const std::string& rule, double floats, const Options& o,
             const Vec& g, const std::function<long(const Vec& w, int steps)>& check) {
  OptimizerConfig c;
  c.name = rule;
  c.momentum = rule == "momentum" ? 0.9 : 0.0;
  c.eps = 1e-8;
  Optimizer<EigenF> opt(c, {GroupOptions{"w"}});
  Vec w = Vec::Constant(o.n, 1.0f);
  int steps = 0;
  const double lr = 1e-3;
  const double s = median_seconds(o, [&] {
    opt.step({w}, {g}, lr);
    ++steps;
  });
  return {label, floats, s, check(w, steps)};
}

}  // namespace

int main(int argc, char** argv) {
  batchlab::bench::Harness h("bench_optim_throughput", "update-rule throughput on n float32 parameters vs a copy");
  Options o;
  h.option("n", o.n, "float32 parameters in the group");
  h.timing(3, 15);
  h.parse(argc, argv);
  o.warmup = h.warmup();
  o.iters = h.iters();
  h.print_header();
  std::printf("# n = %lld float32, one thread\n", static_cast<long long>(o.n));

  const Vec g = make_gradient(o.n);
  std::vector<Row> rows;

  {  // plain copies of the same bytes
    Vec dst = Vec::Zero(o.n);
    const double s = median_seconds(o, [&] {
      std::memcpy(dst.data(), g.data(), sizeof(float) * static_cast<std::size_t>(o.n));
    });
    rows.push_back({"copy (memcpy)", 2, s, (dst - g).cwiseAbs().maxCoeff() == 0.0f ? 0L : 1L});
    Vec dst2 = Vec::Zero(o.n);
    const double s2 = median_seconds(o, [&] { dst2 = g; });
    rows.push_back({"copy (eigen)", 2, s2, (dst2 - g).cwiseAbs().maxCoeff() == 0.0f ? 0L : 1L});
  }
  const double lr = 1e-3;
  rows.push_back(run_rule("sgd", "sgd", 3, o, g, [&](const Vec& w, int steps) {
    return count_wrong(w, [&](long i) { return 1.0 - steps * lr * g[i]; }, 1e-5);
  }));
  rows.push_back(run_rule("momentum", "momentum", 5, o, g, [&](const Vec& w, int steps) {
    // v_t = g (1 - 0.9^t) / 0.1; w moves by lr sum_t v_t
    const double sum = (steps - 0.9 * (1 - std::pow(0.9, steps)) / 0.1) / 0.1;
    return count_wrong(w, [&](long i) { return 1.0 - lr * sum * g[i]; }, 1e-4);
  }));
  auto adam_check = [&](const Vec& w, int steps) {
    return count_wrong(w, [&](long i) {
      const double a = std::abs(g[i]);
      return 1.0 - steps * lr * g[i] / (a + 1e-8);
    }, 1e-4);
  };
  rows.push_back(run_rule("adam", "adam", 7, o, g, adam_check));
  rows.push_back(run_rule("adamw", "adamw", 7, o, g, adam_check));
  rows.push_back(run_rule("lamb:paper", "lamb:paper", 7, o, g, [&](const Vec& w, int) {
    return static_cast<long>(w.allFinite() ? 0 : w.size());
  }));

  double copy_gbs = 0.0;
  for (const auto& r : rows)
    if (r.name.rfind("copy", 0) == 0)
      copy_gbs = std::max(copy_gbs, r.floats_touched * 4.0 * o.n / r.seconds / 1e9);
  std::printf("%-14s %10s %12s %12s %14s %10s %7s\n", "kernel", "median_ms", "bytes/elem",
              "GB/s", "updates/s", "vs_copy", "#wrong");
  long wrong = 0;
  for (const auto& r : rows) {
    const double gbs = r.floats_touched * 4.0 * static_cast<double>(o.n) / r.seconds / 1e9;
    std::printf("%-14s %10.3f %12.0f %12.2f %14.2f %9.0f%% %7ld\n", r.name.c_str(),
                r.seconds * 1e3, r.floats_touched * 4, gbs, 1.0 / r.seconds,
                100.0 * gbs / copy_gbs, r.wrong);
    h.record({{"kernel", r.name}, {"median_s", r.seconds}, {"bytes_per_element", r.floats_touched * 4},
              {"gb_per_s", gbs}, {"vs_copy", gbs / copy_gbs}, {"wrong", r.wrong}});
    wrong += r.wrong;
  }
  std::printf("# vs_copy: GB/s of bytes touched over the faster copy's GB/s (%.2f GB/s)\n",
              copy_gbs);
  return h.finish(wrong);
}
