// The teacher-student MLP's hand-written kernels (sim/mlp_kernels.h) and its forward / backward
// (sim/mlp.cpp) against independent references: std::tanh, naive triple-loop products, and a
// straightforward Eigen implementation of the same network; plus finite differences and a check
// that a minibatch gradient allocates nothing once the workspaces have grown.
#include <gtest/gtest.h>

#include <Eigen/Core>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <new>
#include <random>
#include <vector>

#include "sim/landscape.h"
#include "sim/mlp.h"
#include "sim/mlp_kernels.h"
#include "sim/trial.h"
#include "tests/sim/two_thread_determinism.h"

// Counting global operator new (for the no-allocation test only: counts while enabled). It sees
// std::vector and std::string growth; Eigen's own aligned_malloc is not counted (the MLP's step
// path holds no Eigen temporaries).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
namespace {
std::atomic<long> g_allocs{0};
std::atomic<bool> g_count{false};
}  // namespace

void* operator new(std::size_t n) {
  if (g_count.load(std::memory_order_relaxed)) g_allocs.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace batchlab::sim {
namespace {

double ulps(double got, double want) {
  if (got == want) return 0.0;
  const double spacing = std::nextafter(std::abs(want), std::numeric_limits<double>::infinity()) -
                         std::abs(want);
  return std::abs(got - want) / spacing;
}

// Runs body under each kernel build this CPU can run (AVX2 + FMA and the default ISA).
template <class F>
void for_each_isa(F body) {
  const bool was = mlpk::using_avx2();
  for (bool avx2 : {true, false}) {
    if (!mlpk::select_isa(avx2)) continue;
    SCOPED_TRACE(avx2 ? "avx2+fma kernels" : "default-ISA kernels");
    body();
  }
  mlpk::select_isa(was);
}

TEST(MlpKernels, TanhMatchesStdTanhWithinAFewUlps) { for_each_isa([] {
  std::vector<double> x;
  for (int i = -300000; i <= 300000; ++i) x.push_back(i * 1e-4);  // [-30, 30] every 1e-4
  for (double v : {1e-300, 1e-200, 1e-30, 1e-10, 1e-5, 0.3, 0.6249999, 0.625, 0.6250001, 19.99, 20.0,
                   20.01, 1e10, 1e300, 4.9e-324})
    for (double s : {1.0, -1.0}) x.push_back(s * v);
  std::vector<double> y = x;
  mlpk::tanh_inplace(static_cast<std::int64_t>(y.size()), y.data());
  double worst = 0.0, at = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double u = ulps(y[i], std::tanh(x[i]));
    if (u > worst) worst = u, at = x[i];
  }
  EXPECT_LE(worst, 4.0) << "at x = " << at;
});
}

TEST(MlpKernels, TanhSpecialValuesAndTails) { for_each_isa([] {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // 7 values: one full vector of 4 and a tail of 3.
  std::vector<double> v = {inf, -inf, nan, 0.0, 1.0, -2.0, nan};
  mlpk::tanh_inplace(7, v.data());
  EXPECT_EQ(v[0], 1.0);
  EXPECT_EQ(v[1], -1.0);
  EXPECT_TRUE(std::isnan(v[2]));
  EXPECT_EQ(v[3], 0.0);
  EXPECT_NEAR(v[4], std::tanh(1.0), 1e-15);
  EXPECT_NEAR(v[5], std::tanh(-2.0), 1e-15);
  EXPECT_TRUE(std::isnan(v[6]));
  // A tail call does not write past n.
  std::vector<double> w = {0.5, 0.5, 0.5, 7.0};
  mlpk::tanh_inplace(3, w.data());
  EXPECT_EQ(w[3], 7.0);
  EXPECT_NEAR(w[2], std::tanh(0.5), 1e-16);
});
}

TEST(MlpKernels, ProductsMatchNaiveLoopsForEveryTileShape) { for_each_isa([] {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> n01(0.0, 1.0);
  for (std::int64_t m : {1, 3, 4, 5, 8, 9, 13, 17})
    for (std::int64_t n : {1, 3, 4, 5, 9})
      for (std::int64_t k : {1, 2, 7, 16}) {
        const std::int64_t lda = m + 2, ldb = k + 1, ldbt = n + 3, ldc = m + 1;
        std::vector<double> a(static_cast<std::size_t>(lda * k)), b(static_cast<std::size_t>(ldb * n)),
            bt(static_cast<std::size_t>(ldbt * k)), bias(static_cast<std::size_t>(m));
        for (auto* v : {&a, &b, &bt, &bias})
          for (auto& e : *v) e = n01(rng);
        const double sentinel = 12345.0;
        std::vector<double> c(static_cast<std::size_t>(ldc * n), sentinel), ct = c, cb = c;
        mlpk::gemm_nn(m, n, k, a.data(), lda, b.data(), ldb, c.data(), ldc, nullptr);
        mlpk::gemm_nn(m, n, k, a.data(), lda, b.data(), ldb, cb.data(), ldc, bias.data());
        mlpk::gemm_nt(m, n, k, a.data(), lda, bt.data(), ldbt, ct.data(), ldc);
        for (std::int64_t j = 0; j < n; ++j)
          for (std::int64_t i = 0; i < ldc; ++i) {
            const auto at = static_cast<std::size_t>(i + j * ldc);
            if (i >= m) {  // padding rows untouched
              EXPECT_EQ(c[at], sentinel);
              EXPECT_EQ(ct[at], sentinel);
              continue;
            }
            double s = 0.0, st = 0.0, mag = 0.0;
            for (std::int64_t p = 0; p < k; ++p) {
              const double av = a[static_cast<std::size_t>(i + p * lda)];
              s += av * b[static_cast<std::size_t>(p + j * ldb)];
              st += av * bt[static_cast<std::size_t>(j + p * ldbt)];
              mag += std::abs(av) * (std::abs(b[static_cast<std::size_t>(p + j * ldb)]) +
                                     std::abs(bt[static_cast<std::size_t>(j + p * ldbt)]));
            }
            const double tol = 1e-14 * (mag + 1.0);
            EXPECT_NEAR(c[at], s, tol) << m << "x" << n << "x" << k << " (" << i << "," << j << ")";
            EXPECT_NEAR(cb[at], s + bias[static_cast<std::size_t>(i)], tol);
            EXPECT_NEAR(ct[at], st, tol) << m << "x" << n << "x" << k << " nt";
          }
      }
});
}

// The same network written the obvious way in Eigen (the former implementation).
struct ReferenceMlp {
  std::vector<std::int64_t> widths;
  std::vector<std::int64_t> w_off, b_off;
  ReferenceMlp(const LandscapeConfig& c, const Mlp& m) {
    widths.push_back(c.input_dim);
    for (auto h : c.hidden) widths.push_back(h);
    widths.push_back(1);
    for (const auto& g : m.groups()) (g.is_bias ? b_off : w_off).push_back(g.offset);
  }
  double loss_and_grad(const Eigen::VectorXd& t, const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                       Eigen::VectorXd& g) const {
    const std::size_t L = widths.size() - 1;
    auto W = [&](std::size_t l) {
      return Eigen::Map<const Eigen::MatrixXd>(t.data() + w_off[l], widths[l + 1], widths[l]);
    };
    std::vector<Eigen::MatrixXd> acts{x};
    Eigen::MatrixXd out;
    for (std::size_t l = 0; l < L; ++l) {
      Eigen::MatrixXd z = W(l) * acts.back();
      z.colwise() += Eigen::Map<const Eigen::VectorXd>(t.data() + b_off[l], widths[l + 1]);
      if (l + 1 < L)
        acts.emplace_back(z.array().tanh());
      else
        out = z;
    }
    const double inv = 1.0 / static_cast<double>(x.cols());
    const Eigen::RowVectorXd r = out.row(0) - y.transpose();
    g.resize(t.size());
    Eigen::MatrixXd dz = inv * r;
    for (std::size_t l = L; l-- > 0;) {
      Eigen::Map<Eigen::MatrixXd>(g.data() + w_off[l], widths[l + 1], widths[l]) = dz * acts[l].transpose();
      Eigen::Map<Eigen::VectorXd>(g.data() + b_off[l], widths[l + 1]) = dz.rowwise().sum();
      if (l > 0) dz = (W(l).transpose() * dz).array() * (1.0 - acts[l].array().square());
    }
    return 0.5 * inv * r.squaredNorm();
  }
};

LandscapeConfig odd_mlp() {
  LandscapeConfig c;
  c.kind = "mlp";
  c.train_examples = 300;  // not a multiple of the 256-example evaluation chunk
  c.test_examples = 70;
  c.input_dim = 6;
  c.hidden = {9, 5, 3};
  return c;
}

Eigen::VectorXd perturbed_start(const Mlp& m, std::uint64_t seed) {
  Rng rng = make_rng(seed, kInitStream);
  Eigen::VectorXd t = m.initial_point(rng);
  for (Eigen::Index i = 0; i < t.size(); ++i) t[i] += 0.1 * std::cos(0.7 * static_cast<double>(i));  // biases != 0
  return t;
}

void expect_close(const Eigen::VectorXd& got, const Eigen::VectorXd& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  EXPECT_LE((got - want).lpNorm<Eigen::Infinity>(), 1e-13 * (1.0 + want.lpNorm<Eigen::Infinity>())) << what;
}

TEST(Mlp, LossMetricForwardAndFullGradientMatchTheEigenReference) { for_each_isa([] {
  const LandscapeConfig c = odd_mlp();
  const Mlp m(c);
  const ReferenceMlp ref(c, m);
  const Eigen::VectorXd t = perturbed_start(m, 4);
  const auto& d = m.data();
  Eigen::VectorXd g(m.dim()), gr, scratch;
  m.full_gradient(t, g);
  const double loss_ref = ref.loss_and_grad(t, d.x_train, d.y_train, gr);
  expect_close(g, gr, "full gradient");
  EXPECT_NEAR(m.loss(t), loss_ref, 1e-14 * loss_ref);
  const double test_ref = 2.0 * ref.loss_and_grad(t, d.x_test, d.y_test, scratch);
  EXPECT_NEAR(m.metric(t), test_ref, 1e-14 * test_ref);
  // forward() in chunks of 256 examples = the reference's output.
  const Eigen::RowVectorXd f = m.forward(t, d.x_train);
  Eigen::VectorXd zero_y = Eigen::VectorXd::Zero(d.x_train.cols());
  ASSERT_EQ(f.size(), d.x_train.cols());
  // 1/2 mean f^2 of the reference with labels 0 checks the outputs as a whole ...
  EXPECT_NEAR(0.5 * f.squaredNorm() / static_cast<double>(f.size()),
              ref.loss_and_grad(t, d.x_train, zero_y, scratch), 1e-13);
  // ... and one example at a time checks each.
  for (Eigen::Index j : {Eigen::Index{0}, Eigen::Index{255}, Eigen::Index{256}, Eigen::Index{299}}) {
    Eigen::VectorXd y1 = Eigen::VectorXd::Zero(1);
    EXPECT_NEAR(0.5 * f[j] * f[j], ref.loss_and_grad(t, d.x_train.col(j), y1, scratch), 1e-14) << j;
  }
});
}

TEST(Mlp, MinibatchGradientsMatchTheReferenceOnTheDrawnExamples) { for_each_isa([] {
  const LandscapeConfig c = odd_mlp();
  const Mlp m(c);
  const ReferenceMlp ref(c, m);
  const Eigen::VectorXd t = perturbed_start(m, 5);
  const auto& d = m.data();
  BatchStream s(make_rng(9, 0)), replay(make_rng(9, 0));
  std::vector<std::int64_t> idx;
  Eigen::VectorXd g(m.dim()), gr;
  for (std::int64_t batch : {3, 17, 2, 300, 8, 1}) {  // workspaces grow, then smaller batches reuse them
    m.gradient(t, batch, s, g);
    replay.next_batch(m.train_examples(), batch, idx);
    Eigen::MatrixXd xb(c.input_dim, batch);
    Eigen::VectorXd yb(batch);
    for (std::int64_t j = 0; j < batch; ++j) {
      xb.col(j) = d.x_train.col(idx[static_cast<std::size_t>(j)]);
      yb[j] = d.y_train[idx[static_cast<std::size_t>(j)]];
    }
    ref.loss_and_grad(t, xb, yb, gr);
    expect_close(g, gr, "minibatch gradient");
  }
});
}

TEST(Mlp, DeepOddWidthsGradientMatchesFiniteDifferences) {
  const LandscapeConfig c = odd_mlp();
  const Mlp m(c);
  Eigen::VectorXd x = perturbed_start(m, 6);
  Eigen::VectorXd g(m.dim());
  m.full_gradient(x, g);
  const double h = 1e-5;
  for (Eigen::Index i = 0; i < x.size(); ++i) {  // every coordinate (dim 140)
    Eigen::VectorXd xp = x, xm = x;
    xp[i] += h;
    xm[i] -= h;
    const double fd = (m.loss(xp) - m.loss(xm)) / (2 * h);
    EXPECT_NEAR(g[i], fd, 1e-7 * (1.0 + std::abs(fd))) << "coordinate " << i;
  }
}

TEST(Mlp, MinibatchGradientAllocatesNothingOnceWarm) {
  LandscapeConfig c;
  c.kind = "mlp";
  c.train_examples = 512;
  c.test_examples = 64;
  c.input_dim = 8;
  c.hidden = {16, 16};
  const Mlp m(c);
  const Eigen::VectorXd t = perturbed_start(m, 7);
  BatchStream s(make_rng(2, 0));
  Eigen::VectorXd g(m.dim());
  m.gradient(t, 8, s, g);  // grows the workspaces
  g_allocs = 0;
  g_count = true;
  for (int i = 0; i < 200; ++i) m.gradient(t, 8, s, g);  // crosses 3 epochs (reshuffles)
  g_count = false;
  EXPECT_EQ(g_allocs.load(), 0);
}

}  // namespace
}  // namespace batchlab::sim

namespace batchlab::sim {
namespace {

TEST(Mlp, SampledTrialDetectsNonFiniteParametersBetweenEvaluations) {
  // lr far too large: the parameters overflow within a few hundred steps, long before the only
  // evaluation at max_steps = 3e7 (~a minute of steps), so only the per-step finiteness check
  // of the sampled loop can end the trial within the time bound.
  TrialSpec s;
  s.mode = "sampled";
  s.landscape.kind = "mlp";
  s.landscape.train_examples = 256;
  s.landscape.test_examples = 64;
  s.landscape.input_dim = 4;
  s.landscape.hidden = {8};
  s.optimizer.name = "sgd";
  s.batch_size = 8;
  s.lr = 1e3;
  s.target = 0.0;
  s.max_steps = 30000000;
  s.eval_every = s.max_steps;
  const auto t0 = std::chrono::steady_clock::now();
  const TrialResult r = run_trial(s);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 3.0);
  EXPECT_EQ(r.status, TrialStatus::kDiverged);
  EXPECT_TRUE(std::isnan(r.final_metric));
  // A sane lr runs to the end without a false alarm.
  s.lr = 0.01;
  s.max_steps = s.eval_every = 2000;
  EXPECT_EQ(run_trial(s).status, TrialStatus::kNotReached);
}

}  // namespace
}  // namespace batchlab::sim

namespace batchlab::sim {
namespace {

TEST(Mlp, SampledTrialsAreBitwiseReproducibleAcrossThreads) {
  // Each trial owns its landscape and workspaces: trials run concurrently give the same bits
  // as trials run one after the other (varying batch sizes and workers included).
  std::vector<TrialSpec> specs;
  for (int i = 0; i < 6; ++i) {
    TrialSpec s;
    s.mode = "sampled";
    s.landscape.kind = "mlp";
    s.landscape.train_examples = 512;
    s.landscape.test_examples = 128;
    s.landscape.input_dim = 5 + i;
    s.landscape.hidden = {7 + i, 4};
    s.optimizer.name = i % 2 ? "lamb:paper" : "momentum";
    s.optimizer.momentum = 0.9;
    s.batch_size = 8 << (i % 3);
    s.workers = i % 3 == 2 ? 2 : 1;
    s.lr = 0.02;
    s.target = 0.0;
    s.max_steps = 300;
    s.eval_every = 50;
    s.record_curve = true;
    s.seed = static_cast<std::uint64_t>(40 + i);
    specs.push_back(s);
  }
  const auto serial = expect_same_results_serial_and_on_two_threads(specs);
  for (std::size_t i = 0; i < specs.size(); ++i) EXPECT_EQ(serial[i].status, TrialStatus::kNotReached) << i;
  EXPECT_NE(serial[0].final_metric, serial[2].final_metric);
}

}  // namespace
}  // namespace batchlab::sim
