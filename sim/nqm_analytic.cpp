// Analytic NQM: exact expected loss, step by step or by closed form, and the exact first step
// below the target. Equations and the search argument are in nqm.h.
//
// SGD + iterate EMA as a two-root recursion (why the fast path reuses the momentum code):
// with r = 1 - k, theta_s = r^s theta_0 - lr sum_q r^(s-1-q) eps_q, and
//   theta~_t = g^t theta_0 + (1-g) sum_{s=1..t} g^(t-s) theta_s.
// The theta_0 coefficient is g^t + (1-g) r (g^t - r^t)/(g - r) = (g^(t+1)(1-r) - r^(t+1)(1-g))/(g-r),
// which is p_t = f_t - b f_{t-1} for the recursion with roots (g, r) (tau = g + r, b = g r,
// f_j = (g^(j+1) - r^(j+1))/(g - r)). The coefficient of eps_q is
//   -lr (1-g) sum_{i=0..t-1-q} g^(t-1-q-i) r^i = -lr (1-g) f_{t-1-q},
// so E theta~_t^2 = s0 p_t^2 + (1-g)^2 sigma^2 sum_{j<t} f_j^2: the heavy-ball formula with the
// noise scaled by (1-g)^2. tests/sim checks it against the step-by-step recursion and Monte-Carlo.
#include <algorithm>
#include <cmath>
#include <cstring>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "optim/batch_schedule.h"
#include "optim/config.h"
#include "optim/io.h"
#include "optim/schedule.h"
#include "sim/curve.h"
#include "sim/nqm.h"

namespace batchlab::sim {
namespace {

using Eigen::ArrayXd;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kDivergeFactor = 1e6;  // diverged: E[L] > 1e6 x E[L(0)]
constexpr std::int64_t kLeaf = 32;      // branch and bound scans intervals this short exactly

bool is_ema(const TrialSpec& s) { return s.optimizer.name == "ema"; }
bool is_precond(const TrialSpec& s) { return s.optimizer.name == "precond"; }

// Per-dimension constants of one trial. The spectrum and preconditioner depend only on the
// landscape (and p), so each thread keeps the last ones it computed: a study runs thousands of
// trials on one landscape and would otherwise spend most of its time in pow().
struct Dyn {
  const ArrayXd* h = nullptr;    // curvatures h_i
  const ArrayXd* c = nullptr;    // noise variances c_i
  const ArrayXd* pre = nullptr;  // P_i: h_i^-p for precond, else 1
  const ArrayXd* s0 = nullptr;   // E[theta_0,i^2]
  double beta = 0.0;   // heavy-ball coefficient (0: plain SGD)
  double gamma = 0.0;  // EMA decay (ema only)
  double batch = 1.0;
  bool ema = false;
  Eigen::Index n() const { return h->size(); }
};

struct SpectrumCache {
  bool valid = false;
  std::int64_t dim = 0;
  double curvature_power = 0.0, noise_power = 0.0, init_variance = 0.0, precond_power = 0.0;
  bool precond = false;
  // An explicit spectrum (LandscapeConfig::spectrum) is held, not copied; holding it keeps its
  // address from being reused by another spectrum while this cache is keyed on it.
  std::shared_ptr<const NqmSpectrum> explicit_sp;
  NqmSpectrum sp;
  ArrayXd pre;
  const NqmSpectrum& spectrum() const { return explicit_sp ? *explicit_sp : sp; }
};

Dyn make_dyn(const TrialSpec& spec) {
  thread_local SpectrumCache cache;
  const LandscapeConfig& L = spec.landscape;
  const bool pc = is_precond(spec);
  const double pp = spec.optimizer.precond_power;
  if (!cache.valid || cache.explicit_sp != L.spectrum ||
      (!L.spectrum && (cache.dim != L.dim || cache.curvature_power != L.curvature_power ||
                       cache.noise_power != L.noise_power || cache.init_variance != L.init_variance))) {
    cache.explicit_sp = L.spectrum;
    cache.sp = L.spectrum ? NqmSpectrum{} : nqm_spectrum(L);
    cache.dim = L.dim;
    cache.curvature_power = L.curvature_power;
    cache.noise_power = L.noise_power;
    cache.init_variance = L.init_variance;
    cache.valid = true;
    cache.pre.resize(0);
  }
  const NqmSpectrum& sp = cache.spectrum();
  if (cache.pre.size() != sp.h.size() || cache.precond != pc || (pc && cache.precond_power != pp)) {
    if (pc)
      cache.pre = (-pp * sp.h.log()).exp();
    else
      cache.pre = ArrayXd::Ones(sp.h.size());
    cache.precond = pc;
    cache.precond_power = pp;
  }
  Dyn d;
  d.h = &sp.h;
  d.c = &sp.c;
  d.pre = &cache.pre;
  d.s0 = &sp.s0;
  d.beta = spec.optimizer.name == "sgd" ? 0.0 : spec.optimizer.momentum;
  d.ema = is_ema(spec);
  d.gamma = d.ema ? spec.ema_decay : 0.0;
  d.batch = static_cast<double>(spec.batch_size);
  return d;
}

bool constant_schedule(const optim::ScheduleConfig& s) {
  return s.warmup == optim::WarmupKind::kNone &&
         (s.decay == optim::DecayKind::kConstant ||
          (s.decay == optim::DecayKind::kStep && s.milestones.empty()));
}

// ---- step-by-step recursion (nqm.h) ----
class Stepper {
 public:
  explicit Stepper(const Dyn& d)
      : d_(d), q_(*d.pre * *d.h), n_(d.pre->square() * *d.c / d.batch), batch_(d.batch),
        a_(*d.s0), u_(ArrayXd::Zero(d.n())), x_(ArrayXd::Zero(d.n())) {
    if (d.ema) {
      e_ = a_;
      b_ = a_;
      m_ = ArrayXd::Zero(d.n());
    }
  }
  // Batch-size schedules: the injected noise of the next steps is P^2 C / batch.
  void set_batch(double batch) {
    if (batch == batch_) return;
    n_ = d_.pre->square() * *d_.c / batch;
    batch_ = batch;
  }
  void step(double lr) {
    const double be = d_.beta, g = d_.gamma;
    const ArrayXd y = be * x_ + q_ * a_;
    const ArrayXd u1 = be * be * u_ + q_.square() * a_ + 2.0 * be * q_ * x_ + n_;
    if (d_.ema) {
      const ArrayXd z = be * m_ + q_ * e_;
      const ArrayXd w = e_ - lr * z;
      a_ = a_ - 2.0 * lr * y + lr * lr * u1;
      x_ = y - lr * u1;
      b_ = g * g * b_ + 2.0 * g * (1.0 - g) * w + (1.0 - g) * (1.0 - g) * a_;
      e_ = g * w + (1.0 - g) * a_;
      m_ = g * z + (1.0 - g) * x_;
    } else {
      a_ = a_ - 2.0 * lr * y + lr * lr * u1;
      x_ = y - lr * u1;
    }
    u_ = u1;
  }
  double loss() const { return 0.5 * (*d_.h * (d_.ema ? b_ : a_)).sum(); }
  const ArrayXd& second_moments() const { return a_; }  // E[theta_i^2]

 private:
  const Dyn& d_;
  ArrayXd q_, n_;
  double batch_;
  ArrayXd a_, u_, x_, e_, m_, b_;
};

// ---- closed forms ----
// E[L(t)] = L* + D(t) + O(t) - N(t).
struct Parts {
  double D = 0.0;  // non-increasing in t
  double O = 0.0;  // >= 0, no known monotonicity
  double N = 0.0;  // >= 0, non-increasing in t (subtracted)
};

int levels_for(std::int64_t max_steps) {
  int j = 1;
  while ((std::int64_t{1} << j) <= max_steps && j < 62) ++j;
  return j;
}

// Arrays reused across trials on one thread (a study allocates nothing per trial once warm).
class ArrayPool {
 public:
  ArrayXd take(Eigen::Index n) {
    for (auto it = free_.begin(); it != free_.end(); ++it)
      if (it->size() == n) {
        ArrayXd a;
        a.swap(*it);
        free_.erase(it);
        return a;
      }
    return ArrayXd(n);
  }
  void give(ArrayXd& a) {
    free_.emplace_back();
    free_.back().swap(a);
  }

 private:
  std::vector<ArrayXd> free_;
};
ArrayPool& pool() {
  thread_local ArrayPool p;
  return p;
}

// SGD / precond: E[L(t)] = L* + sum_i w_i rho_i^t. State: rho_i^t.
class GeoEngine {
 public:
  using State = ArrayXd;
  // One fused pass over the dimensions (the grid benchmarks run thousands of these per second).
  GeoEngine(const Dyn& d, double lr, std::int64_t max_steps) : n_(d.n()) {
    const double* h = d.h->data();
    const double* c = d.c->data();
    const double* pre = d.pre->data();
    const double nscale = lr * lr / d.batch;
    const double* s0 = d.s0->data();
    w_ = pool().take(n_);
    ArrayXd rho = pool().take(n_);
    double* w = w_.data();
    double* r = rho.data();
    double lstar = 0.0, wmin = 0.0;
    bool stable = true;
    for (Eigen::Index i = 0; i < n_; ++i) {
      const double k = lr * pre[i] * h[i];
      stable = stable && k > 0.0 && k < 2.0;
      const double sstar = nscale * pre[i] * pre[i] * c[i] / (k * (2.0 - k));
      lstar += 0.5 * h[i] * sstar;
      w[i] = 0.5 * h[i] * (s0[i] - sstar);
      wmin = std::min(wmin, w[i]);
      r[i] = (1.0 - k) * (1.0 - k);
    }
    stable_ = stable;
    lstar_ = lstar;
    monotone_ = wmin >= 0.0;
    table_.emplace_back();
    table_.back().swap(rho);  // swap, not move: GCC 12 misreports a moved Eigen array
    scratch_ = pool().take(n_);
    if (!monotone_) {
      wneg_ = pool().take(n_);
      wneg_ = w_.min(0.0);
    }
    max_levels_ = levels_for(max_steps);
    power_values_.push_back(value_advanced(ArrayXd::Ones(n_), 0));
  }
  // Tables are built up to the level a query needs (most trials stop far below max_steps);
  // the value at t = 2^j is summed in the same pass.
  void ensure_levels(int levels) const {
    while (static_cast<int>(table_.size()) < levels) {
      ArrayXd next = pool().take(n_);
      const double* x = table_.back().data();
      const double* w = w_.data();
      double* y = next.data();
      double acc = 0.0;
      for (Eigen::Index i = 0; i < n_; ++i) {
        y[i] = x[i] * x[i];
        acc += w[i] * y[i];
      }
      table_.emplace_back();
      table_.back().swap(next);
      power_values_.push_back(lstar_ + acc);
    }
  }
  GeoEngine(const GeoEngine&) = delete;
  GeoEngine& operator=(const GeoEngine&) = delete;
  ~GeoEngine() {
    pool().give(w_);
    pool().give(scratch_);
    if (!monotone_) pool().give(wneg_);
    for (auto& t : table_) pool().give(t);
  }
  bool stable() const { return stable_; }
  bool monotone() const { return monotone_; }
  int levels() const { return max_levels_; }
  double lstar() const { return lstar_; }
  void init(State& s) const { s.setOnes(n_); }
  double value_at_power(int j) const {
    ensure_levels(j + 1);
    return power_values_[static_cast<std::size_t>(j)];
  }
  void advance(State& s, int j) const { s *= table_[static_cast<std::size_t>(j)]; }
  // value(s advanced by 2^j) without forming it.
  double value_advanced(const State& s, int j) const {
    return lstar_ + (w_ * s * table_[static_cast<std::size_t>(j)]).sum();
  }
  // Advance s by 2^j if the value there is >= target (one pass either way).
  bool advance_if_not_below(State& s, int j, double target) const {
    const double* x = s.data();
    const double* t = table_[static_cast<std::size_t>(j)].data();
    const double* w = w_.data();
    double* y = scratch_.data();
    double acc = 0.0;
    for (Eigen::Index i = 0; i < n_; ++i) {
      y[i] = x[i] * t[i];
      acc += w[i] * y[i];
    }
    if (lstar_ + acc < target) return false;
    s.swap(scratch_);
    return true;
  }
  Parts parts(const State& s) const {
    const double neg = monotone_ ? 0.0 : (wneg_ * s).sum();
    return {(w_ * s).sum() - neg, 0.0, -neg};
  }
  double value(const State& s) const { return lstar_ + (w_ * s).sum(); }
  // With every w_i >= 0, E[L] >= L* at every step.
  bool surely_not_below(double target) const { return monotone_ && lstar_ >= target; }

 private:
  Eigen::Index n_;
  int max_levels_ = 1;
  bool stable_ = false, monotone_ = true;
  double lstar_ = 0.0;
  ArrayXd w_, wneg_;
  mutable ArrayXd scratch_;
  mutable std::vector<ArrayXd> table_;  // rho^(2^j)
  mutable std::vector<double> power_values_;  // E[L(2^j)]
};

// Heavy ball (SGD or precond) and SGD + EMA: two-root recursion f_{j+2} = tau f_{j+1} - b f_j.
// State: f_t, f_{t-1}, p_t, p_{t-1} stored as 4 consecutive blocks of n.
class TwoRootEngine {
 public:
  using State = ArrayXd;
  TwoRootEngine(const Dyn& d, double lr, std::int64_t max_steps) : n_(d.n()) {
    const ArrayXd k = lr * *d.pre * *d.h;
    const ArrayXd sigma2 = (lr * lr / d.batch) * d.pre->square() * *d.c;
    // den = (1+b)^2 - tau^2 = (1+b-tau)(1+b+tau), formed from its factors: the difference of
    // squares would lose every digit of k in the slow dimensions (k ~ 1e-8 is common).
    ArrayXd tau, bet, den, nw = 0.5 * *d.h * sigma2;
    if (d.ema) {
      const ArrayXd r = 1.0 - k;
      tau = d.gamma + r;
      bet = d.gamma * r;
      den = (1.0 - d.gamma) * k * (1.0 + d.gamma) * (2.0 - k);  // (1-g)(1-r)(1+g)(1+r)
      nw *= (1.0 - d.gamma) * (1.0 - d.gamma);
    } else {
      tau = 1.0 - k + d.beta;
      bet = ArrayXd::Constant(n_, d.beta);
      den = k * (2.0 + 2.0 * d.beta - k);
    }
    // Schur-Cohn: both roots of z^2 - tau z + b inside the unit circle.
    stable_ = (bet.abs() < 1.0).all() && (tau.abs() < 1.0 + bet).all() && (k > 0.0).all();
    if (!stable_) return;
    // Weights of z' Q z folded with the noise weight: N_i (q11 f^2 + 2 q12 f f1 + q22 f1^2).
    for (auto* a : {&nq11_, &nq12_, &nq22_, &smono_, &sosc_}) *a = pool().take(n_);
    const ArrayXd q11 = (1.0 + bet) / ((1.0 - bet) * den);
    nq11_ = nw * q11;
    nq12_ = 2.0 * nw * (-bet * tau * q11 / (1.0 + bet));
    nq22_ = nw * bet.square() * q11;
    lstar_ = nq11_.sum();
    const ArrayXd s = 0.5 * *d.h * *d.s0;
    // Signal S p_t^2 is non-increasing when both roots are real and in [0, 1) (or b = 0).
    const auto mono =
        (tau.square() - 4.0 * bet >= 0.0) && (bet >= 0.0) && ((tau >= 0.0) || (bet == 0.0));
    // Such a dimension's whole deviation S p_t^2 - N tail_t is non-increasing when
    // S (1 - l1^2)(1 - l2^2)^2 >= N (see nqm.h): then it goes into D whole, and only the other
    // dimensions' noise tails stay in N (the source of slack in the lower bound).
    const ArrayXd disc = (tau.square() - 4.0 * bet).max(0.0).sqrt();
    const ArrayXd l1 = (bet == 0.0).select(tau, 0.5 * (tau + disc));
    const ArrayXd l2 = (bet == 0.0).select(ArrayXd::Zero(n_), bet / l1.max(1e-300));
    const auto merged = mono && (s * (1.0 - l1.square()) * (1.0 - l2).square() >= nw);
    smono_ = mono.select(s, 0.0);
    sosc_ = mono.select(ArrayXd::Zero(n_), s);
    merged_ = pool().take(n_);
    merged_ = merged.select(ArrayXd::Ones(n_), 0.0);
    monotone_ = merged.all();
    max_levels_ = levels_for(max_steps);
    table_.push_back(pool().take(4 * n_));
    table_[0] << tau, -bet, ArrayXd::Ones(n_), ArrayXd::Zero(n_);
  }
  void ensure_levels(int levels) const {
    while (static_cast<int>(table_.size()) < levels) {
      table_.push_back(pool().take(4 * n_));
      const double* x = table_[table_.size() - 2].data();
      double* y = table_.back().data();
      for (Eigen::Index i = 0; i < n_; ++i) {
        const double x11 = x[i], x12 = x[n_ + i], x21 = x[2 * n_ + i], x22 = x[3 * n_ + i];
        y[i] = x11 * x11 + x12 * x21;
        y[n_ + i] = x11 * x12 + x12 * x22;
        y[2 * n_ + i] = x21 * x11 + x22 * x21;
        y[3 * n_ + i] = x21 * x12 + x22 * x22;
      }
    }
  }
  TwoRootEngine(const TwoRootEngine&) = delete;
  TwoRootEngine& operator=(const TwoRootEngine&) = delete;
  ~TwoRootEngine() {
    if (!stable_) return;
    for (auto* a : {&nq11_, &nq12_, &nq22_, &smono_, &sosc_, &merged_}) pool().give(*a);
    for (auto& t : table_) pool().give(t);
  }
  bool stable() const { return stable_; }
  // Every dimension merged: E[L] is non-increasing (and >= L*).
  bool monotone() const { return monotone_; }
  bool surely_not_below(double target) const { return monotone_ && lstar_ >= target; }
  int levels() const { return max_levels_; }
  double lstar() const { return lstar_; }
  double value_at_power(int j) const {
    ensure_levels(j + 1);
    thread_local State s;
    init(s);
    return value_advanced(s, j);
  }
  bool advance_if_not_below(State& s, int j, double target) const {
    if (value_advanced(s, j) < target) return false;
    advance(s, j);
    return true;
  }
  void init(State& s) const {
    s.resize(4 * n_);
    s << ArrayXd::Ones(n_), ArrayXd::Zero(n_), ArrayXd::Ones(n_), ArrayXd::Ones(n_);
  }
  void advance(State& s, int j) const {
    const double* a = table_[static_cast<std::size_t>(j)].data();
    double* x = s.data();
    const Eigen::Index n = n_;
    for (Eigen::Index i = 0; i < n; ++i) {
      const double a11 = a[i], a12 = a[n + i], a21 = a[2 * n + i], a22 = a[3 * n + i];
      const double f = x[i], f1 = x[n + i], p = x[2 * n + i], p1 = x[3 * n + i];
      x[i] = a11 * f + a12 * f1;
      x[n + i] = a21 * f + a22 * f1;
      x[2 * n + i] = a11 * p + a12 * p1;
      x[3 * n + i] = a21 * p + a22 * p1;
    }
  }
  double value_advanced(const State& s, int j) const {
    const double* a = table_[static_cast<std::size_t>(j)].data();
    const double* x = s.data();
    const double *m = smono_.data(), *o = sosc_.data(), *q1 = nq11_.data(), *q2 = nq12_.data(),
                 *q3 = nq22_.data();
    const Eigen::Index n = n_;
    double acc = 0.0;
    for (Eigen::Index i = 0; i < n; ++i) {
      const double a11 = a[i], a12 = a[n + i], a21 = a[2 * n + i], a22 = a[3 * n + i];
      const double f = a11 * x[i] + a12 * x[n + i], f1 = a21 * x[i] + a22 * x[n + i];
      const double p = a11 * x[2 * n + i] + a12 * x[3 * n + i];
      acc += (m[i] + o[i]) * p * p - (q1[i] * f * f + q2[i] * f * f1 + q3[i] * f1 * f1);
    }
    return lstar_ + acc;
  }
  Parts parts(const State& s) const {
    const double* x = s.data();
    const double *m = smono_.data(), *o = sosc_.data(), *q1 = nq11_.data(), *q2 = nq12_.data(),
                 *q3 = nq22_.data();
    const Eigen::Index n = n_;
    const double* mg = merged_.data();
    double D = 0.0, O = 0.0, N = 0.0;
    for (Eigen::Index i = 0; i < n; ++i) {
      const double f = x[i], f1 = x[n + i], p = x[2 * n + i];
      const double tail = q1[i] * f * f + q2[i] * f * f1 + q3[i] * f1 * f1;
      D += m[i] * p * p - mg[i] * tail;
      O += o[i] * p * p;
      N += (1.0 - mg[i]) * tail;
    }
    return {D, O, N};
  }
  double value(const State& s) const {
    const Parts p = parts(s);
    return lstar_ + p.D + p.O - p.N;
  }

 private:
  Eigen::Index n_;
  int max_levels_ = 1;
  bool stable_ = false, monotone_ = false;
  double lstar_ = 0.0;
  ArrayXd nq11_, nq12_, nq22_, smono_, sosc_, merged_;
  mutable std::vector<ArrayXd> table_;  // A^(2^j): blocks a11, a12, a21, a22
};

int bit_length(std::int64_t t) {
  int b = 0;
  for (; t != 0; t >>= 1) ++b;
  return b;
}

// The state after t steps, in `s` (reused storage: states are 4 n doubles).
template <class E>
void state_at(const E& eng, std::int64_t t, typename E::State& s) {
  eng.ensure_levels(bit_length(t));
  eng.init(s);
  for (int j = 0; t != 0; ++j, t >>= 1)
    if (t & 1) eng.advance(s, j);
}

template <class E>
double value_at(const E& eng, std::int64_t t) {
  thread_local typename E::State s;
  state_at(eng, t, s);
  return eng.value(s);
}

// Smallest t in [lo, hi] with E[L(t)] < target, or -1: depth-first branch and bound, left first,
// pruning [a, b] when L* + D(b) - N(a) >= target (a lower bound of E[L] on [a, b], see nqm.h).
template <class E>
std::int64_t branch_and_bound(const E& eng, double target, std::int64_t lo, std::int64_t hi) {
  thread_local typename E::State s;
  std::vector<std::pair<std::int64_t, std::int64_t>> stack;
  if (lo <= hi) stack.emplace_back(lo, hi);
  while (!stack.empty()) {
    const auto [a, b] = stack.back();
    stack.pop_back();
    if (b - a + 1 <= kLeaf) {
      state_at(eng, a, s);
      for (std::int64_t t = a; t <= b; ++t) {
        if (eng.value(s) < target) return t;
        eng.advance(s, 0);
      }
      continue;
    }
    state_at(eng, a, s);
    const double na = eng.parts(s).N;
    state_at(eng, b, s);
    const double db = eng.parts(s).D;
    if (eng.lstar() + db - na >= target) continue;
    const std::int64_t mid = a + (b - a) / 2;
    stack.emplace_back(mid + 1, b);
    stack.emplace_back(a, mid);
  }
  return -1;
}

// Smallest t in [0, max_steps] with E[L(t)] < target, or -1.
template <class E>
std::int64_t first_below(const E& eng, double target, std::int64_t max_steps) {
  thread_local typename E::State s;
  eng.init(s);
  if (eng.value(s) < target) return 0;
  if (eng.surely_not_below(target)) return -1;
  // Galloping: the first power of two below the target bounds the lifting's top level, so the
  // tables grow only as far as the trial needs.
  int top = -1;
  for (int j = 0; j < eng.levels() && top < 0; ++j)
    if (eng.value_at_power(j) < target) top = j;
  if (top < 0) {
    // Monotone and still above the target at the last step: not reached.
    if (eng.monotone() && !(value_at(eng, max_steps) < target)) return -1;
    top = eng.levels() - 1;
  }
  // Binary lifting: the largest cur whose probes all stayed >= target.
  std::int64_t cur = 0;
  for (int j = top; j >= 0; --j) {
    const std::int64_t len = std::int64_t{1} << j;
    if (cur + len > max_steps) continue;
    if (eng.advance_if_not_below(s, j, target)) cur += len;
  }
  std::int64_t tc = -1;
  if (cur < max_steps) {
    eng.advance(s, 0);
    if (eng.value(s) < target) tc = cur + 1;
  }
  if (eng.monotone()) return tc;
  const std::int64_t earlier = branch_and_bound(eng, target, 1, tc >= 0 ? tc - 1 : max_steps);
  return earlier >= 0 ? earlier : tc;
}

TrialResult diverged_now() {
  TrialResult r;
  r.status = TrialStatus::kDiverged;
  r.final_metric = kInf;
  return r;
}

template <class E>
TrialResult run_fast(const E& eng, const TrialSpec& spec) {
  if (!eng.stable()) return diverged_now();
  TrialResult r;
  const std::int64_t t = first_below(eng, spec.target, spec.max_steps);
  const std::int64_t end = t >= 0 ? t : spec.max_steps;
  r.status = t >= 0 ? TrialStatus::kReached : TrialStatus::kNotReached;
  r.steps_to_target = t;
  r.final_metric = value_at(eng, end);
  if (spec.record_curve)
    for (std::int64_t step : log_spaced_steps(end))
      r.curve.push_back({step, spec.lr, value_at(eng, step)});
  return r;
}

// ---- vector kernels for the Newton path ----
// Four lanes of GCC vector extensions: AVX2 when the CPU has it (chosen at run time,
// the build targets baseline x86-64), two SSE2 halves otherwise. exp and log are written out
// because the loops must reduce sums in lanes (strict IEEE forbids the compiler from
// vectorizing a reduction) and must fuse exp with the sums in one pass over the dimensions.
// The 32-byte vectors only cross always_inline helpers of this file, so GCC's note that their
// by-value ABI differs without AVX concerns no real call (GCC reports it at the end of the
// translation unit, so it stays off for the rest of this file).
#pragma GCC diagnostic ignored "-Wpsabi"
using V4 = double __attribute__((vector_size(32)));
using V4i = std::int64_t __attribute__((vector_size(32)));
constexpr int kLanes = 4;

[[gnu::always_inline]] inline V4 madd(V4 a, V4 b, V4 c) { return a * b + c; }

[[gnu::always_inline]] inline V4 load4(const double* p) {
  V4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
[[gnu::always_inline]] inline void store4(double* p, V4 v) { std::memcpy(p, &v, sizeof v); }
[[gnu::always_inline]] inline V4 splat(double x) { return V4{x, x, x, x}; }

// exp(x) for x <= 0: x = n ln2 + r (Cody-Waite, |r| <= ln2 / 2), exp(r) by its Taylor series to
// r^13 (next term < 1e-17 relative), 2^n put into the exponent bits. x < -708 gives 0 (the
// true value is below 1e-307: nothing a sum of weights <= 1 can see).
[[gnu::always_inline]] inline V4 exp4(V4 x) {
  const V4 shifter = splat(0x1.8p52);
  const V4 kd = madd(x, splat(1.4426950408889634), shifter);
  const V4 nd = kd - shifter;
  const V4 r = madd(nd, splat(-1.9082149292705877e-10),
                          madd(nd, splat(-6.93147180369123816490e-01), x));
  // Coefficients as vector constants: memory operands, not rebuilt lanes, in the loop.
  static constexpr V4 kInvFact[] = {
      {1.0 / 479001600.0, 1.0 / 479001600.0, 1.0 / 479001600.0, 1.0 / 479001600.0},
      {1.0 / 39916800.0, 1.0 / 39916800.0, 1.0 / 39916800.0, 1.0 / 39916800.0},
      {1.0 / 3628800.0, 1.0 / 3628800.0, 1.0 / 3628800.0, 1.0 / 3628800.0},
      {1.0 / 362880.0, 1.0 / 362880.0, 1.0 / 362880.0, 1.0 / 362880.0},
      {1.0 / 40320.0, 1.0 / 40320.0, 1.0 / 40320.0, 1.0 / 40320.0},
      {1.0 / 5040.0, 1.0 / 5040.0, 1.0 / 5040.0, 1.0 / 5040.0},
      {1.0 / 720.0, 1.0 / 720.0, 1.0 / 720.0, 1.0 / 720.0},
      {1.0 / 120.0, 1.0 / 120.0, 1.0 / 120.0, 1.0 / 120.0},
      {1.0 / 24.0, 1.0 / 24.0, 1.0 / 24.0, 1.0 / 24.0},
      {1.0 / 6.0, 1.0 / 6.0, 1.0 / 6.0, 1.0 / 6.0},
      {0.5, 0.5, 0.5, 0.5},
      {1.0, 1.0, 1.0, 1.0},
      {1.0, 1.0, 1.0, 1.0}};
  V4 p = splat(1.0 / 6227020800.0);  // 1/13!
  for (const V4& cf : kInvFact) p = madd(p, r, cf);
  const V4i scaled = (V4i)p + ((V4i)kd << 52);
  const V4 y = (V4)scaled;
  return x < splat(-708.0) ? splat(0.0) : y;
}

// log(x) for x in (0, 1]: x = 2^e m with m in [sqrt(1/2), sqrt 2), log m = 2 atanh(s),
// s = (m - 1)/(m + 1), |s| <= 0.1716, series to s^23. x < 1e-300 (including 0) gives -1e300,
// so that x^0 = exp(0 * -1e300) = 1 and x^t = 0 for t >= 1.
[[gnu::always_inline]] inline V4 log4(V4 x) {
  const V4i bits = (V4i)x;
  const V4i mant = (bits & (V4i{} + 0x000fffffffffffffLL)) | (V4i{} + 0x3ff0000000000000LL);
  V4 m = (V4)mant;
  // Biased exponent as a double: OR it into the mantissa of 2^52 and subtract.
  const V4i eb = (bits >> 52) | (V4i{} + 0x4330000000000000LL);
  V4 e = (V4)eb - splat(0x1p52 + 1023.0);
  const auto big = m > splat(1.4142135623730951);
  m = big ? m * 0.5 : m;
  e = big ? e + 1.0 : e;
  const V4 f = m - 1.0;
  const V4 s = f / (f + 2.0);
  const V4 s2 = s * s;
  static constexpr V4 kInvOdd[] = {
      {1.0 / 21.0, 1.0 / 21.0, 1.0 / 21.0, 1.0 / 21.0}, {1.0 / 19.0, 1.0 / 19.0, 1.0 / 19.0, 1.0 / 19.0},
      {1.0 / 17.0, 1.0 / 17.0, 1.0 / 17.0, 1.0 / 17.0}, {1.0 / 15.0, 1.0 / 15.0, 1.0 / 15.0, 1.0 / 15.0},
      {1.0 / 13.0, 1.0 / 13.0, 1.0 / 13.0, 1.0 / 13.0}, {1.0 / 11.0, 1.0 / 11.0, 1.0 / 11.0, 1.0 / 11.0},
      {1.0 / 9.0, 1.0 / 9.0, 1.0 / 9.0, 1.0 / 9.0},     {1.0 / 7.0, 1.0 / 7.0, 1.0 / 7.0, 1.0 / 7.0},
      {1.0 / 5.0, 1.0 / 5.0, 1.0 / 5.0, 1.0 / 5.0},     {1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0},
      {1.0, 1.0, 1.0, 1.0}};
  V4 p = splat(1.0 / 23.0);
  for (const V4& cf : kInvOdd) p = madd(p, s2, cf);
  // e ln2 split so that e * ln2_hi is exact.
  const V4 y = madd(e, splat(6.93147180369123816490e-01),
                          madd(e, splat(1.90821492927058770002e-10), 2.0 * s * p));
  return x < splat(1e-300) ? splat(-1e300) : y;
}

[[gnu::always_inline]] inline V4 vmin(V4 a, V4 b) { return a < b ? a : b; }
[[gnu::always_inline]] inline V4 vmax(V4 a, V4 b) { return a > b ? a : b; }
[[gnu::always_inline]] inline double hsum(V4 v) { return (v[0] + v[1]) + (v[2] + v[3]); }

struct SetupOut {
  double lstar, wsum, wneg, wmin, kmin, kmax, rhomax;  // wneg: sum of the negative w
};

// Per-dimension constants of a constant-lr SGD / precond trial (nqm.h): k = lr P h,
// s* = lr^2 P^2 c / (B k (2 - k)), w = h/2 (s0 - s*), rho = (1 - k)^2, and the sums L* and w
// (s0 per dimension).
// Outputs are padded to a multiple of four lanes with w = 0, rho = 0 (inert in every sum).
[[gnu::always_inline]] inline SetupOut setup_body(const double* h, const double* c,
                                                  const double* pre, Eigen::Index n, double lr,
                                                  double nscale, const double* s0, double* w,
                                                  double* rho) {
  V4 lstar = splat(0.0), wsum = splat(0.0), wneg = splat(0.0), wmin = splat(0.0), kmin = splat(kInf),
     kmax = splat(-kInf), rhomax = splat(0.0);
  Eigen::Index i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const V4 hv = load4(h + i), pv = load4(pre + i);
    const V4 k = lr * pv * hv;
    const V4 sstar = nscale * pv * pv * load4(c + i) / (k * (2.0 - k));
    lstar += 0.5 * hv * sstar;
    const V4 wv = 0.5 * hv * (load4(s0 + i) - sstar);
    wsum += wv;
    wneg += vmin(wv, splat(0.0));
    wmin = vmin(wmin, wv);
    kmin = vmin(kmin, k);
    kmax = vmax(kmax, k);
    store4(w + i, wv);
    const V4 r = (1.0 - k) * (1.0 - k);
    rhomax = vmax(rhomax, r);
    store4(rho + i, r);
  }
  SetupOut o{hsum(lstar), hsum(wsum), hsum(wneg), std::min(std::min(wmin[0], wmin[1]), std::min(wmin[2], wmin[3])),
             std::min(std::min(kmin[0], kmin[1]), std::min(kmin[2], kmin[3])),
             std::max(std::max(kmax[0], kmax[1]), std::max(kmax[2], kmax[3])),
             std::max(std::max(rhomax[0], rhomax[1]), std::max(rhomax[2], rhomax[3]))};
  for (; i < n; ++i) {
    const double k = lr * pre[i] * h[i];
    const double sstar = nscale * pre[i] * pre[i] * c[i] / (k * (2.0 - k));
    o.lstar += 0.5 * h[i] * sstar;
    w[i] = 0.5 * h[i] * (s0[i] - sstar);
    o.wsum += w[i];
    o.wneg += std::min(w[i], 0.0);
    o.wmin = std::min(o.wmin, w[i]);
    o.kmin = std::min(o.kmin, k);
    o.kmax = std::max(o.kmax, k);
    rho[i] = (1.0 - k) * (1.0 - k);
    o.rhomax = std::max(o.rhomax, rho[i]);
  }
  for (; i % kLanes != 0; ++i) w[i] = rho[i] = 0.0;
  return o;
}

// ln rho over the padded length.
[[gnu::always_inline]] inline void log_body(const double* rho, double* lnr, Eigen::Index np) {
  for (Eigen::Index i = 0; i < np; i += kLanes) store4(lnr + i, log4(load4(rho + i)));
}

// exp4 of U vectors with their polynomial chains interleaved (one chain is latency-bound):
// every lane goes through exactly exp4's operations, so the results are exp4's bit for bit.
template <int U>
[[gnu::always_inline]] inline void exp4_many(const V4* x, V4* out) {
  const V4 shifter = splat(0x1.8p52);
  V4 kd[U], r[U], p[U];
  for (int u = 0; u < U; ++u) {
    kd[u] = madd(x[u], splat(1.4426950408889634), shifter);
    const V4 nd = kd[u] - shifter;
    r[u] = madd(nd, splat(-1.9082149292705877e-10),
                madd(nd, splat(-6.93147180369123816490e-01), x[u]));
    p[u] = splat(1.0 / 6227020800.0);
  }
  static constexpr double kInvFact[] = {1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
                                        1.0 / 362880.0,    1.0 / 40320.0,    1.0 / 5040.0,
                                        1.0 / 720.0,       1.0 / 120.0,      1.0 / 24.0,
                                        1.0 / 6.0,         0.5,              1.0,
                                        1.0};
  for (double cf : kInvFact)
    for (int u = 0; u < U; ++u) p[u] = madd(p[u], r[u], splat(cf));
  for (int u = 0; u < U; ++u) {
    const V4i scaled = (V4i)p[u] + ((V4i)kd[u] << 52);
    out[u] = x[u] < splat(-708.0) ? splat(0.0) : (V4)scaled;
  }
}

// f(n-1) - L*, f(n) - L* and (kDerivs) their t-derivatives: e = rho^(n-1) = exp((n-1) ln rho).
// Three vectors per iteration, summed into the four lanes in index order as one at a time
// would; the values are the same bits with or without the derivatives.
template <bool kDerivs = true>
[[gnu::always_inline]] inline void pair_body(const double* w, const double* lnr,
                                             const double* rho, Eigen::Index np, double t0,
                                             double* out) {
  V4 s0 = splat(0.0), s1 = s0, d0 = s0, d1 = s0;
  constexpr int U = 3;
  Eigen::Index i = 0;
  for (; i + U * kLanes <= np; i += U * kLanes) {
    V4 l[U], x[U], e[U];
    for (int u = 0; u < U; ++u) {
      l[u] = load4(lnr + i + kLanes * u);
      x[u] = t0 * l[u];
    }
    exp4_many<U>(x, e);
    for (int u = 0; u < U; ++u) {
      const V4 we0 = load4(w + i + kLanes * u) * e[u];
      const V4 we1 = we0 * load4(rho + i + kLanes * u);
      s0 += we0;
      s1 += we1;
      if constexpr (kDerivs) {
        d0 += we0 * l[u];
        d1 += we1 * l[u];
      }
    }
  }
  for (; i < np; i += kLanes) {
    const V4 l = load4(lnr + i);
    const V4 we0 = load4(w + i) * exp4(t0 * l);
    const V4 we1 = we0 * load4(rho + i);
    s0 += we0;
    s1 += we1;
    if constexpr (kDerivs) {
      d0 += we0 * l;
      d1 += we1 * l;
    }
  }
  out[0] = hsum(s0);
  out[1] = hsum(s1);
  out[2] = kDerivs ? hsum(d0) : std::numeric_limits<double>::quiet_NaN();
  out[3] = kDerivs ? hsum(d1) : std::numeric_limits<double>::quiet_NaN();
}

SetupOut setup_base(const double* h, const double* c, const double* pre, Eigen::Index n,
                    double lr, double nscale, const double* s0, double* w, double* rho) {
  return setup_body(h, c, pre, n, lr, nscale, s0, w, rho);
}
void log_base(const double* rho, double* lnr, Eigen::Index np) { log_body(rho, lnr, np); }
void pair_base(const double* w, const double* lnr, const double* rho, Eigen::Index np,
               double t0, double* out) {
  pair_body(w, lnr, rho, np, t0, out);
}
void values_base(const double* w, const double* lnr, const double* rho, Eigen::Index np,
               double t0, double* out) {
  pair_body<false>(w, lnr, rho, np, t0, out);
}
#if defined(__x86_64__) && defined(__GNUC__)
[[gnu::target("avx2")]] SetupOut setup_avx2(const double* h, const double* c, const double* pre,
                                            Eigen::Index n, double lr, double nscale, const double* s0,
                                            double* w, double* rho) {
  return setup_body(h, c, pre, n, lr, nscale, s0, w, rho);
}
[[gnu::target("avx2")]] void log_avx2(const double* rho, double* lnr, Eigen::Index np) {
  log_body(rho, lnr, np);
}
[[gnu::target("avx2")]] void pair_avx2(const double* w, const double* lnr, const double* rho,
                                       Eigen::Index np, double t0, double* out) {
  pair_body(w, lnr, rho, np, t0, out);
}
[[gnu::target("avx2")]] void values_avx2(const double* w, const double* lnr, const double* rho,
                                       Eigen::Index np, double t0, double* out) {
  pair_body<false>(w, lnr, rho, np, t0, out);
}
#endif

// Approximate f(t) - L* = sum_i w_i rho_i^t and its first two t-derivatives (sums of
// w_i rho_i^t ln rho_i and w_i rho_i^t ln^2 rho_i), for locating the answer before the exact
// pair pass checks it. exp(x), x = t ln rho: x = n ln2 + r (|r| <= ln2 / 2, Cody-Waite as in
// exp4), exp(r) by its Taylor series to r^8 with fused multiply-adds (truncation
// |r|^9 / 9! e^|r| < 2.6e-10 relative), 2^n into the exponent bits, 0 below x = -708. Each
// term is then within ~3e-10 relative of exp4's, so the sums are too (all terms have one sign
// in the monotone case); an error that small moves the located root by ~3e-10 / |d ln f/dt|,
// a small fraction of a step for every answer below max_steps = 1e9. Whatever it returns, the
// exact passes that follow decide the answer.
[[gnu::always_inline]] inline void approx_from_pair(const double* pair_out, double* out) {
  out[0] = pair_out[0];
  out[1] = pair_out[2];
  out[2] = std::numeric_limits<double>::quiet_NaN();  // unknown: the caller does not stop early
}
void approx_base(const double* w, const double* lnr, const double* rho, Eigen::Index np,
                 double t, double* out) {
  double s[4];
  pair_base(w, lnr, rho, np, t, s);
  approx_from_pair(s, out);
}
#if defined(__x86_64__) && defined(__GNUC__)
void approx_avx2(const double* w, const double* lnr, const double* rho, Eigen::Index np,
                 double t, double* out) {
  double s[4];
  pair_avx2(w, lnr, rho, np, t, s);
  approx_from_pair(s, out);
}
// U vectors of 4 dimensions from i, their polynomial chains interleaved (each chain is
// latency-bound on its own).
template <int U>
[[gnu::always_inline, gnu::target("avx2,fma")]] inline void approx_block(
    const double* w, const double* lnr, Eigen::Index i, __m256d tv, __m256d& s, __m256d& d,
    __m256d& dd) {
  const __m256d shifter = _mm256_set1_pd(0x1.8p52), log2e = _mm256_set1_pd(1.4426950408889634),
                ln2hi = _mm256_set1_pd(-6.93147180369123816490e-01),
                ln2lo = _mm256_set1_pd(-1.90821492927058770002e-10),
                lowest = _mm256_set1_pd(-708.0), zero = _mm256_setzero_pd();
  static constexpr double kInvFact[] = {1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0,
                                        1.0 / 6.0,    0.5,         1.0,         1.0};
  __m256d l[U], x[U], kd[U], r[U], p[U];
  for (int u = 0; u < U; ++u) {
    l[u] = _mm256_loadu_pd(lnr + i + kLanes * u);
    x[u] = _mm256_mul_pd(tv, l[u]);
    kd[u] = _mm256_fmadd_pd(x[u], log2e, shifter);
    const __m256d nd = _mm256_sub_pd(kd[u], shifter);
    r[u] = _mm256_fmadd_pd(nd, ln2lo, _mm256_fmadd_pd(nd, ln2hi, x[u]));
    p[u] = _mm256_set1_pd(1.0 / 40320.0);
  }
  for (double cf : kInvFact)
    for (int u = 0; u < U; ++u) p[u] = _mm256_fmadd_pd(p[u], r[u], _mm256_set1_pd(cf));
  for (int u = 0; u < U; ++u) {
    const __m256i scaled = _mm256_add_epi64(_mm256_castpd_si256(p[u]),
                                            _mm256_slli_epi64(_mm256_castpd_si256(kd[u]), 52));
    const __m256d e = _mm256_blendv_pd(_mm256_castsi256_pd(scaled), zero,
                                       _mm256_cmp_pd(x[u], lowest, _CMP_LT_OQ));
    const __m256d we = _mm256_mul_pd(_mm256_loadu_pd(w + i + kLanes * u), e);
    const __m256d wel = _mm256_mul_pd(we, l[u]);
    s = _mm256_add_pd(s, we);
    d = _mm256_add_pd(d, wel);
    dd = _mm256_fmadd_pd(wel, l[u], dd);
  }
}
[[gnu::target("avx2,fma")]] void approx_fma(const double* w, const double* lnr, const double*,
                                            Eigen::Index np, double t, double* out) {
  const __m256d tv = _mm256_set1_pd(t);
  __m256d s = _mm256_setzero_pd(), d = s, dd = s;
  constexpr int U = 3;
  Eigen::Index i = 0;
  for (; i + U * kLanes <= np; i += U * kLanes) approx_block<U>(w, lnr, i, tv, s, d, dd);
  for (; i < np; i += kLanes) approx_block<1>(w, lnr, i, tv, s, d, dd);
  alignas(32) double a[12];
  _mm256_store_pd(a, s);
  _mm256_store_pd(a + 4, d);
  _mm256_store_pd(a + 8, dd);
  out[0] = (a[0] + a[1]) + (a[2] + a[3]);
  out[1] = (a[4] + a[5]) + (a[6] + a[7]);
  out[2] = (a[8] + a[9]) + (a[10] + a[11]);
}
#endif

struct Kernels {
  SetupOut (*setup)(const double*, const double*, const double*, Eigen::Index, double, double,
                    const double*, double*, double*);
  void (*log)(const double*, double*, Eigen::Index);
  void (*pair)(const double*, const double*, const double*, Eigen::Index, double, double*);
  void (*values)(const double*, const double*, const double*, Eigen::Index, double, double*);
  // f - L*, f' and f'' at one t, approximately (the exact pair where no FMA: f'' unknown).
  void (*approx)(const double*, const double*, const double*, Eigen::Index, double, double*);
};
const Kernels& kernels() {
  static const Kernels k = [] {
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      return Kernels{setup_avx2, log_avx2, pair_avx2, values_avx2, approx_fma};
    if (__builtin_cpu_supports("avx2"))
      return Kernels{setup_avx2, log_avx2, pair_avx2, values_avx2, approx_avx2};
#endif
    return Kernels{setup_base, log_base, pair_base, values_base, approx_base};
  }();
  return k;
}

// ---- SGD / precond, constant lr, monotone: Newton on ln E[L(t)] ----
// With every w_i >= 0, f(t) = E[L(t)] = L* + sum_i w_i rho_i^t is a positive combination of
// exponentials in t (L* is the rate-0 term), so ln f is convex (log-sum-exp of affine functions)
// and decreasing. A Newton step on ln f(t) = ln target therefore lands at or before the root
// from either side: from the left it climbs monotonically (quadratically near the root), from
// the right it jumps to the left side once. An exact evaluation is one pass computing
// e_i = rho_i^(n-1) = exp((n-1) ln rho_i) and from it f(n-1), f(n) (and both slopes when the
// search must go on), so the integer answer N is settled by the pass that finds
// f(N) < target <= f(N-1); a bracket of evaluated integers (f(lo) >= target > f(hi)) falls back
// to bisection if a step misbehaves. exp(t ln rho) is accurate to a few ulps of the exponent
// t ln rho (O(10) where a term matters), tighter than the tables' repeated squaring (relative
// error ~ t eps). Per trial, in order of cost:
//  1. the root is first located by Newton over real t on an approximate f (approx kernel: FMA
//     exp, ~1e-8 relative, about a third of an exact pass), so that the exact search usually
//     starts at N and ends after that one pass, which sums f(N-1) and f(N) only;
//  2. ln rho does not depend on the batch size: the thread's LogCache keeps it per lr;
//  3. the approximate Newton starts from the last answers on this thread (GeoHint: along an lr
//     sweep ln steps is smooth in ln lr).
// None of these can change a result: starting points only, and identical ln rho bits; the
// bracket and the exact final check make the answer and its loss independent of them.
struct GeoHint {
  bool valid = false;
  std::int64_t dim = 0, batch = 0, max_steps = 0;
  double curvature_power = 0.0, noise_power = 0.0, precond_power = 0.0, s0 = 0.0, target = 0.0;
  bool precond = false;
  const NqmSpectrum* spectrum = nullptr;  // identity only (a stale hint costs time, never a result)
  double lr_steps = 0.0;  // lr x steps_to_target of the last reached trial
  // The last two reached trials (lr, steps), last first; two when `two`.
  double lr1 = 0.0, steps1 = 0.0, lr2 = 0.0, steps2 = 0.0;
  bool two = false;
  // Start for spec (matches(spec) holds): along an lr sweep ln N is smooth in ln lr, so the
  // secant through the last two answers, or lr x steps = const from one.
  double guess(const TrialSpec& s) const {
    if (two) {
      const double slope = std::log(steps1 / steps2) / std::log(lr1 / lr2);
      if (std::isfinite(slope) && std::abs(slope) <= 8.0)
        return steps1 * std::exp(slope * std::log(s.lr / lr1));
    }
    return lr_steps / s.lr;
  }
  bool matches(const TrialSpec& s) const {
    const LandscapeConfig& L = s.landscape;
    return valid && dim == L.dim && spectrum == L.spectrum.get() && batch == s.batch_size &&
           max_steps == s.max_steps &&
           curvature_power == L.curvature_power && noise_power == L.noise_power &&
           s0 == L.init_variance && target == s.target && precond == is_precond(s) &&
           (!precond || precond_power == s.optimizer.precond_power);
  }
  void store(const TrialSpec& s, std::int64_t steps) {
    const LandscapeConfig& L = s.landscape;
    two = matches(s) && s.lr != lr1;
    lr2 = lr1;
    steps2 = steps1;
    lr1 = s.lr;
    steps1 = static_cast<double>(steps);
    valid = true;
    dim = L.dim;
    spectrum = L.spectrum.get();
    batch = s.batch_size;
    max_steps = s.max_steps;
    curvature_power = L.curvature_power;
    noise_power = L.noise_power;
    s0 = L.init_variance;
    target = s.target;
    precond = is_precond(s);
    precond_power = s.optimizer.precond_power;
    lr_steps = s.lr * static_cast<double>(steps);
  }
};

// f(n-1), f(n) and df/dt at both, from one exp pass.
struct PairValue {
  double f0, f1, g0, g1;
};
struct ApproxValue {
  double f, g, h;  // f(t), f'(t), f''(t) (h NaN when unknown)
};

// ln rho_i depends on lr, h_i and P_i but not on the batch size, and a study (like the grid
// benchmark) runs every lr of its grid at every batch size. Each thread keeps the ln rho arrays
// of recent lrs, keyed by everything rho is computed from (dim, curvature power, precond power,
// lr), least recently used out first, within kLogCacheDoubles (24 MB) per thread. A hit returns
// the very array log_body computed, so results are bit-identical with or without it.
constexpr std::size_t kLogCacheDoubles = std::size_t{3} << 20;
struct LogKey {
  std::int64_t dim = 0;
  double curvature_power = 0.0, precond_power = 0.0, lr = 0.0;
  bool precond = false;
  // An explicit spectrum, held by the key: while an entry exists its spectrum cannot be freed,
  // so no other spectrum can take its address and hit a stale ln rho.
  std::shared_ptr<const NqmSpectrum> spectrum;
  bool operator==(const LogKey&) const = default;
};
class LogCache {
 public:
  // The cached ln rho for `key` (nullptr on a miss) ...
  const double* find(const LogKey& key) {
    for (auto& e : entries_)
      if (e.key == key) {
        e.used = ++clock_;
        return e.lnr.data();
      }
    return nullptr;
  }
  // ... or storage of np doubles to compute it into (nullptr when np alone exceeds the budget).
  double* insert(const LogKey& key, Eigen::Index np) {
    const auto need = static_cast<std::size_t>(np);
    if (need > kLogCacheDoubles) return nullptr;
    const std::size_t cap = kLogCacheDoubles / need;
    Entry* slot = nullptr;
    if (entries_.size() < cap) {
      slot = &entries_.emplace_back();
    } else {
      slot = &*std::min_element(entries_.begin(), entries_.end(),
                                [](const Entry& a, const Entry& b) { return a.used < b.used; });
    }
    if (slot->lnr.size() != np) slot->lnr.resize(np);
    slot->key = key;
    slot->used = ++clock_;
    return slot->lnr.data();
  }

 private:
  struct Entry {
    LogKey key;
    ArrayXd lnr;
    std::uint64_t used = 0;
  };
  std::vector<Entry> entries_;
  std::uint64_t clock_ = 0;
};

class GeoNewton {
 public:
  GeoNewton(const Dyn& d, const TrialSpec& spec)
      : n_(d.n()), np_((d.n() + kLanes - 1) / kLanes * kLanes) {
    const double lr = spec.lr;
    const LandscapeConfig& L = spec.landscape;
    key_ = {L.dim, L.curvature_power, is_precond(spec) ? spec.optimizer.precond_power : 0.0, lr,
            is_precond(spec), L.spectrum};
    w_ = pool().take(np_);
    rho_ = pool().take(np_);
    const SetupOut o = kernels().setup(d.h->data(), d.c->data(), d.pre->data(), n_, lr,
                                       lr * lr / d.batch, d.s0->data(), w_.data(), rho_.data());
    stable_ = o.kmin > 0.0 && o.kmax < 2.0;
    monotone_ = o.wmin >= 0.0;
    lstar_ = o.lstar;
    lower_ = o.lstar + o.wneg;
    f_zero_ = o.lstar + o.wsum;
    rhomax_ = o.rhomax;
  }
  GeoNewton(const GeoNewton&) = delete;
  GeoNewton& operator=(const GeoNewton&) = delete;
  ~GeoNewton() {
    for (auto* a : {&w_, &rho_}) pool().give(*a);
    if (own_.size()) pool().give(own_);
  }
  bool stable() const { return stable_; }
  bool monotone() const { return monotone_; }
  double lstar() const { return lstar_; }
  // E[L(t)] >= L* + sum of the negative w_i at every t (rho^t in [0, 1]).
  double lower_bound() const { return lower_; }
  double f_zero() const { return f_zero_; }
  // ln rho, once the trial needs a pass over t (rho = 0 gives a huge finite negative rate, so
  // rho^0 = 1 and rho^t = 0 for t >= 1, as pow gives).
  void take_logs() {
    if (lnr_) return;
    thread_local LogCache cache;
    if ((lnr_ = cache.find(key_))) return;
    double* out = cache.insert(key_, np_);
    if (!out) {
      own_ = pool().take(np_);
      out = own_.data();
    }
    kernels().log(rho_.data(), out, np_);
    lnr_ = out;
  }
  // E[L(t)] for t >= 1 where only the final loss of a not-reached trial is wanted. When even the
  // slowest rho^t is exactly 0 (pow underflows), every term is 0 and E[L(t)] = L*: no pass.
  double final_value(std::int64_t t) {
    if (std::pow(rhomax_, static_cast<double>(t)) == 0.0) return lstar_;
    take_logs();
    return values(t).f1;
  }
  // Approximate f(t), f'(t), f''(t) at a real t (approx kernel).
  ApproxValue approx(double t) const {
    double s[3];
    kernels().approx(w_.data(), lnr_, rho_.data(), np_, t, s);
    return {lstar_ + s[0], s[1], s[2]};
  }
  // f(n-1), f(n) only (the same bits as pair's; slopes NaN).
  PairValue values(std::int64_t n) const {
    double s[4];
    kernels().values(w_.data(), lnr_, rho_.data(), np_, static_cast<double>(n - 1), s);
    return {lstar_ + s[0], lstar_ + s[1], s[2], s[3]};
  }
  PairValue pair(std::int64_t n) const {
    double s[4];
    kernels().pair(w_.data(), lnr_, rho_.data(), np_, static_cast<double>(n - 1), s);
    return {lstar_ + s[0], lstar_ + s[1], s[2], s[3]};
  }

 private:
  Eigen::Index n_, np_;
  bool stable_ = false, monotone_ = true;
  double lstar_ = 0.0, lower_ = 0.0, f_zero_ = 0.0, rhomax_ = 0.0;
  LogKey key_;
  const double* lnr_ = nullptr;  // ln rho: in the thread's LogCache, or own_
  ArrayXd w_, rho_, own_;
};

// Newton step on ln f from (t, f, f'), rounded up to an integer; -1 when unusable.
std::int64_t newton_next(double t, double f, double df, double target) {
  if (!(df < 0.0) || !(f > 0.0)) return -1;
  const double next = t + (std::log(target) - std::log(f)) * f / df;
  if (!std::isfinite(next) || next > 9e18 || next < -9e18) return -1;
  return static_cast<std::int64_t>(std::ceil(next));
}

// Where the exact search starts: Newton on ln f over real t, from n, with the approximate
// kernel (about a third of the exact pair's cost), stopped once the step is far below one step
// or the shortfall a Newton step leaves on the convex ln f (step^2 |(ln f)''| / (2 |(ln f)'|),
// added back) is below 0.1 step; then the ceiling of the located root, in [1, max_steps]. Only a starting point: the exact loop checks
// it (usually settling the trial in that one exact pass) and goes on from it if it is off.
std::int64_t approx_start(const GeoNewton& g, std::int64_t n, double target,
                          std::int64_t max_steps) {
  const double top = static_cast<double>(max_steps), lt = std::log(target);
  double t = static_cast<double>(n);
  for (int iter = 0; iter < 8; ++iter) {
    const ApproxValue a = g.approx(t);
    if (!(a.f > 0.0) || !(a.g < 0.0)) break;
    const double gp = a.g / a.f;  // (ln f)'
    const double step = (lt - std::log(a.f)) / gp;
    if (!std::isfinite(step)) break;
    const double gpp = a.h / a.f - gp * gp;  // (ln f)'' (NaN when unknown: no early stop)
    // ln f is convex, so the Newton step lands short of the root by about this much.
    const double left = std::abs(step * step * gpp / (2.0 * gp));
    if (left < 0.1) {  // then t + step + left is within a small fraction of a step
      t = std::clamp(t + step + left, 0.0, top);
      break;
    }
    const double next = std::clamp(t + step, 0.0, top);
    const bool done = std::abs(next - t) < 1e-2;
    t = next;
    if (done) break;
  }
  return std::clamp<std::int64_t>(static_cast<std::int64_t>(std::ceil(t)), 1, max_steps);
}

// The monotone SGD / precond trial, or nullopt when the tables must answer it (non-monotone,
// curve requested, or the search did not settle: never seen, kept as a safety net).
std::optional<TrialResult> run_geo_newton(const Dyn& d, const TrialSpec& spec) {
  thread_local GeoHint hint;
  // Unstable when any k_i = lr P_i h_i is outside (0, 2). With power-law spectra the largest
  // k_i sits at one end, so an lr beyond the stability limit (a fifth of a sweep's grid) is
  // caught here, before the pass over every dimension (k computed as the setup pass does).
  for (const Eigen::Index i : {Eigen::Index{0}, d.n() - 1}) {
    const double k = spec.lr * (*d.pre)[i] * (*d.h)[i];
    if (!(k > 0.0 && k < 2.0)) return diverged_now();
  }
  GeoNewton g(d, spec);
  if (!g.stable()) return diverged_now();
  if (spec.record_curve) return std::nullopt;
  const double target = spec.target;
  TrialResult r;
  r.status = TrialStatus::kNotReached;
  const std::int64_t max_steps = spec.max_steps;
  if (!g.monotone()) {
    // Settled without a search when even the lower bound stays at or above the target (the
    // noise-dominated trials of a sweep); the tables' branch and bound answers the rest.
    if (!(g.lower_bound() >= target)) return std::nullopt;
    if (max_steps <= 0) {
      r.final_metric = g.f_zero();
      return r;
    }
    r.final_metric = g.final_value(max_steps);
    return r;
  }
  if (g.f_zero() < target) {
    r.status = TrialStatus::kReached;
    r.steps_to_target = 0;
    r.final_metric = g.f_zero();
    return r;
  }
  if (g.lstar() >= target || max_steps <= 0) {
    // f >= L* >= target at every step (monotone): not reached, no pass over t needed unless
    // the final metric is asked for, which is f(max_steps).
    if (max_steps <= 0) {
      r.final_metric = g.f_zero();
      return r;
    }
    r.final_metric = g.final_value(max_steps);
    return r;
  }
  g.take_logs();
  // Bracket: f(lo) >= target (evaluated), f(hi) < target (evaluated) or hi = max_steps + 1.
  std::int64_t lo = 0, hi = max_steps + 1;
  double f_hi = 0.0;
  std::int64_t n = max_steps;
  if (hint.matches(spec) && hint.lr_steps > 0.0) {
    const double guess = std::ceil(hint.guess(spec));
    n = guess >= static_cast<double>(max_steps) ? max_steps
                                                : std::max<std::int64_t>(1, static_cast<std::int64_t>(guess));
  }
  n = approx_start(g, n, target, max_steps);
  for (int iter = 0; iter < 200; ++iter) {
    // The first pass at the approximate root usually settles the trial and needs no slopes.
    PairValue p = iter == 0 ? g.values(n) : g.pair(n);
    if (iter == 0 && !((p.f0 >= target && p.f1 < target) || (p.f1 >= target && n == max_steps)))
      p = g.pair(n);
    std::int64_t next = -1;
    if (p.f1 >= target) {
      lo = n;
      if (n == max_steps) {  // still above the target at the last step
        r.final_metric = p.f1;
        return r;
      }
      next = newton_next(static_cast<double>(n), p.f1, p.g1, target);
    } else if (p.f0 >= target) {
      lo = n - 1;
      hi = n;
      f_hi = p.f1;
    } else {
      hi = n - 1;
      f_hi = p.f0;
      next = newton_next(static_cast<double>(n - 1), p.f0, p.g0, target);
    }
    if (hi == lo + 1) {
      r.status = TrialStatus::kReached;
      r.steps_to_target = hi;
      r.final_metric = f_hi;
      hint.store(spec, hi);
      return r;
    }
    // The pair at n settles both n - 1 and n: aim for n with n - 1 >= lo and n <= hi.
    const std::int64_t top = std::min(hi, max_steps);
    if (next <= lo || next > top) {
      // Bisection (geometric while the bracket spans decades: answers range over 1..1e7).
      const double a = static_cast<double>(lo + 1), b = static_cast<double>(top);
      next = static_cast<std::int64_t>(b > 4.0 * a ? std::sqrt(a * b) : 0.5 * (a + b));
      next = std::clamp(next, lo + 1, top);
    }
    n = next;
  }
  return std::nullopt;
}

bool uses_two_roots(const Dyn& d) { return d.beta != 0.0 || d.ema; }

TrialResult run_stepwise(const Dyn& d, const TrialSpec& spec) {
  const optim::LrSchedule sched(spec.lr, spec.schedule);
  const optim::BatchSchedule batches(spec.batch_size, spec.batch_schedule, spec.workers);
  Stepper st(d);
  const double l0 = st.loss();
  std::vector<std::int64_t> marks;
  std::size_t next_mark = 0;
  if (spec.record_curve) marks = log_spaced_steps(spec.max_steps);
  TrialResult r;
  double lr = sched.lr_at(0);
  for (std::int64_t t = 0;; ++t) {
    const double L = st.loss();
    if (next_mark < marks.size() && marks[next_mark] == t) {
      r.curve.push_back({t, lr, L});
      ++next_mark;
    }
    r.final_metric = L;
    if (!std::isfinite(L) || L > kDivergeFactor * l0) {
      r.status = TrialStatus::kDiverged;
      return r;
    }
    if (L < spec.target) {
      r.status = TrialStatus::kReached;
      r.steps_to_target = t;
      return r;
    }
    if (t == spec.max_steps) break;
    lr = sched.lr_at(t) * batches.lr_factor_at(t);
    st.set_batch(static_cast<double>(batches.batch_at(t)));
    st.step(lr);
  }
  r.status = TrialStatus::kNotReached;
  return r;
}

}  // namespace

NqmSpectrum nqm_spectrum(const LandscapeConfig& cfg) {
  if (cfg.spectrum) return *cfg.spectrum;
  NqmSpectrum s;
  const ArrayXd i = ArrayXd::LinSpaced(cfg.dim, 1.0, static_cast<double>(cfg.dim));
  // i^-p: exact reciprocals for the default p = 1, vectorised exp/log otherwise.
  auto power = [&](double p) -> ArrayXd {
    if (p == 1.0) return i.inverse();
    if (p == 0.0) return ArrayXd::Ones(i.size());
    return (-p * i.log()).exp();
  };
  s.h = power(cfg.curvature_power);
  s.c = power(cfg.noise_power);
  s.s0 = ArrayXd::Constant(cfg.dim, cfg.init_variance);
  return s;
}

void validate_explicit_spectrum(const NqmSpectrum& sp, std::int64_t dim) {
  auto bad = [&](const std::string& why) {
    throw optim::ConfigError("landscape.spectrum (" + std::to_string(sp.h.size()) + " dimensions): " + why);
  };
  if (sp.h.size() == 0) bad("empty");
  if (sp.h.size() != dim) bad("landscape.dim = " + std::to_string(dim) + " differs from its size");
  if (sp.c.size() != sp.h.size() || sp.s0.size() != sp.h.size()) bad("h, c and s0 differ in size");
  if (!sp.h.isFinite().all() || !sp.c.isFinite().all() || !sp.s0.isFinite().all()) bad("a value is not finite");
  if (!(sp.h > 0.0).all()) bad("a curvature h_i is <= 0 (min " + optim::format_number(sp.h.minCoeff()) + ")");
  if (!(sp.c >= 0.0).all() || !(sp.s0 >= 0.0).all()) bad("a noise variance c_i or initial variance s0_i is negative");
}

void validate_nqm_analytic(const TrialSpec& spec) {
  const auto& o = spec.optimizer;
  const std::string& n = o.name;
  if (n != "sgd" && n != "momentum" && n != "precond" && n != "ema")
    throw optim::ConfigError("mode = analytic, optimizer = '" + n +
                             "': the analytic NQM supports sgd, momentum, precond, ema "
                             "(use mode = sampled for the others)");
  if (spec.landscape.kind != "nqm")
    throw optim::ConfigError("mode = analytic, landscape.kind = '" + spec.landscape.kind +
                             "': the analytic mode exists only for nqm");
  if (!(o.momentum >= 0.0 && o.momentum < 1.0))
    throw optim::ConfigError("optimizer.momentum = " + optim::format_number(o.momentum) +
                             ": analytic mode needs 0 <= momentum < 1");
  if (o.dampening != 0.0 || o.lr_in_momentum || o.momentum_correction || o.weight_decay != 0.0 ||
      o.max_grad_norm != 0.0)
    throw optim::ConfigError(
        "mode = analytic, optimizer '" + n +
        "': dampening, lr_in_momentum, momentum_correction, weight_decay and max_grad_norm "
        "must be off (the exact recursion covers the plain PyTorch heavy-ball form only)");
  if (n == "ema" && !(spec.ema_decay >= 0.0 && spec.ema_decay < 1.0))
    throw optim::ConfigError("ema_decay = " + optim::format_number(spec.ema_decay) +
                             ": must be in [0, 1)");
  if (spec.workers > 1 && spec.sync.kind != optim::SyncKind::kSync)
    throw optim::ConfigError("mode = analytic, sync = " + spec.sync.to_string() +
                             ": local / post-local / hierarchical SGD need mode = sampled");
}

bool nqm_has_fast_path(const TrialSpec& spec) {
  if (!constant_schedule(spec.schedule) || !spec.batch_schedule.constant()) return false;
  const bool momentum = spec.optimizer.name != "sgd" && spec.optimizer.momentum != 0.0;
  return !(is_ema(spec) && momentum);
}

std::vector<double> nqm_expected_loss_stepwise(const TrialSpec& spec, std::int64_t steps) {
  validate_nqm_analytic(spec);
  const Dyn d = make_dyn(spec);
  const optim::LrSchedule sched(spec.lr, spec.schedule);
  const optim::BatchSchedule batches(spec.batch_size, spec.batch_schedule, spec.workers);
  Stepper st(d);
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(steps + 1));
  for (std::int64_t t = 0; t <= steps; ++t) {
    out.push_back(st.loss());
    if (t < steps) {
      st.set_batch(static_cast<double>(batches.batch_at(t)));
      st.step(sched.lr_at(t) * batches.lr_factor_at(t));
    }
  }
  return out;
}

NqmSpectrum nqm_spectrum_at(const TrialSpec& spec, std::int64_t steps) {
  validate_nqm_analytic(spec);
  if (spec.optimizer.name != "sgd" && spec.optimizer.name != "precond")
    throw optim::ConfigError("optimizer = " + spec.optimizer.name +
                             ": the NQM seen from a later step is exact for sgd and precond only (momentum and EMA "
                             "carry state besides E[theta^2])");
  if (spec.optimizer.name == "precond" && spec.optimizer.momentum != 0.0)
    throw optim::ConfigError("optimizer = precond with momentum " + optim::format_number(spec.optimizer.momentum) +
                             ": the NQM seen from a later step is exact without momentum only");
  const Dyn d = make_dyn(spec);
  const optim::LrSchedule sched(spec.lr, spec.schedule);
  const optim::BatchSchedule batches(spec.batch_size, spec.batch_schedule, spec.workers);
  Stepper st(d);
  for (std::int64_t t = 0; t < steps; ++t) {
    st.set_batch(static_cast<double>(batches.batch_at(t)));
    st.step(sched.lr_at(t) * batches.lr_factor_at(t));
  }
  return {*d.h, *d.c, st.second_moments()};
}

double nqm_expected_loss_closed(const TrialSpec& spec, std::int64_t t) {
  validate_nqm_analytic(spec);
  if (!nqm_has_fast_path(spec))
    throw optim::ConfigError("nqm_expected_loss_closed: no closed form for this spec "
                             "(non-constant lr or batch schedule, or momentum + EMA)");
  const Dyn d = make_dyn(spec);
  if (uses_two_roots(d)) {
    TwoRootEngine e(d, spec.lr, std::max<std::int64_t>(t, 1));
    return e.stable() ? value_at(e, t) : kInf;
  }
  GeoEngine e(d, spec.lr, std::max<std::int64_t>(t, 1));
  return e.stable() ? value_at(e, t) : kInf;
}

double nqm_steady_state_loss(const TrialSpec& spec) {
  validate_nqm_analytic(spec);
  const Dyn d = make_dyn(spec);
  if (uses_two_roots(d) && !nqm_has_fast_path(spec))
    throw optim::ConfigError("nqm_steady_state_loss: no closed form for momentum + EMA");
  if (uses_two_roots(d)) {
    TwoRootEngine e(d, spec.lr, 1);
    return e.stable() ? e.lstar() : kInf;
  }
  GeoEngine e(d, spec.lr, 1);
  return e.stable() ? e.lstar() : kInf;
}

TrialResult run_nqm_analytic(const TrialSpec& spec, bool force_stepwise) {
  const Dyn d = make_dyn(spec);
  const bool constant = constant_schedule(spec.schedule) && spec.batch_schedule.constant();
  if (constant) {
    // A constant lr outside the stability region diverges whichever path computes it.
    const double lr = spec.lr;
    if (uses_two_roots(d)) {
      if (!nqm_has_fast_path(spec) || force_stepwise) {
        // momentum + EMA: stability is the heavy-ball root condition (EMA is a stable filter).
        const ArrayXd k = lr * *d.pre * *d.h;
        const ArrayXd tau = 1.0 - k + d.beta;
        const bool stable = (k > 0.0).all() && (tau.abs() < 1.0 + d.beta).all();
        if (!stable) return diverged_now();
        return run_stepwise(d, spec);
      }
      return run_fast(TwoRootEngine(d, lr, spec.max_steps), spec);
    }
    if (force_stepwise) {
      if (!GeoEngine(d, lr, 1).stable()) return diverged_now();
      return run_stepwise(d, spec);
    }
    if (auto r = run_geo_newton(d, spec)) return *std::move(r);
    return run_fast(GeoEngine(d, lr, spec.max_steps), spec);
  }
  return run_stepwise(d, spec);
}

}  // namespace batchlab::sim
