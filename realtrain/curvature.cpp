#include "realtrain/curvature.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>

#include "optim/lanczos.h"
#include "optim/splitmix64.h"

namespace batchlab::realtrain {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Sample covariance of two columns (1 / (n - 1)).
double covariance(const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
  const double n = static_cast<double>(a.size());
  return ((a.array() - a.mean()) * (b.array() - b.mean())).sum() / (n - 1.0);
}

void say(const CurvatureOptions& o, const std::string& msg) {
  if (o.progress) o.progress(msg);
}

}  // namespace

std::vector<std::int64_t> seeded_permutation(std::int64_t n, std::uint64_t seed) {
  std::vector<std::int64_t> p(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) p[static_cast<std::size_t>(i)] = i;
  std::uint64_t state = splitmix64(seed ^ 0xc0ffee5eedULL);
  for (std::int64_t i = n - 1; i > 0; --i) {
    state = splitmix64(state);
    const auto j = static_cast<std::int64_t>(state % static_cast<std::uint64_t>(i + 1));
    std::swap(p[static_cast<std::size_t>(i)], p[static_cast<std::size_t>(j)]);
  }
  return p;
}

ExampleTensors load_examples(const data::ExampleSource& source, const std::vector<std::int64_t>& indices) {
  const data::ImageShape s = source.shape();
  const auto n = static_cast<std::int64_t>(indices.size());
  ExampleTensors e{torch::empty({n, s.channels, s.height, s.width}, torch::kFloat), torch::empty({n}, torch::kLong)};
  float* x = e.x.data_ptr<float>();
  std::int64_t* y = e.y.data_ptr<std::int64_t>();
  std::mt19937_64 rng(0);  // unused: no augmentation
  for (std::int64_t i = 0; i < n; ++i)
    y[i] = source.write_example(indices[static_cast<std::size_t>(i)], false, rng, x + i * s.numel());
  return e;
}

Eigen::VectorXd to_eigen(const torch::Tensor& t) {
  const torch::Tensor d = t.detach().to(torch::kCPU, torch::kDouble).contiguous();
  Eigen::VectorXd v(d.numel());
  std::memcpy(v.data(), d.data_ptr<double>(), static_cast<std::size_t>(d.numel()) * sizeof(double));
  return v;
}

torch::Tensor from_eigen(const Eigen::VectorXd& v, torch::ScalarType dtype) {
  return torch::from_blob(const_cast<double*>(v.data()), {v.size()}, torch::kDouble).to(dtype);
}

LossOnExamples::LossOnExamples(std::vector<torch::Tensor> params, LossFn loss, ExampleTensors examples,
                               std::int64_t chunk)
    : params_(std::move(params)), loss_(std::move(loss)), data_(std::move(examples)), chunk_(std::max<std::int64_t>(1, chunk)) {
  if (params_.empty()) throw std::invalid_argument("LossOnExamples: no parameters");
  if (data_.size() == 0) throw std::invalid_argument("LossOnExamples: no examples");
  for (const auto& p : params_) n_ += p.numel();
}

torch::Tensor LossOnExamples::flatten(const std::vector<torch::Tensor>& parts) const {
  std::vector<torch::Tensor> flat;
  flat.reserve(parts.size());
  for (std::size_t i = 0; i < parts.size(); ++i)
    flat.push_back(parts[i].defined() ? parts[i].reshape(-1) : torch::zeros({params_[i].numel()}, params_[i].options()));
  return torch::cat(flat);
}

std::vector<torch::Tensor> LossOnExamples::unflatten(const torch::Tensor& flat) const {
  std::vector<torch::Tensor> out;
  std::int64_t at = 0;
  for (const auto& p : params_) {
    out.push_back(flat.narrow(0, at, p.numel()).view(p.sizes()).to(p.scalar_type()));
    at += p.numel();
  }
  return out;
}

double LossOnExamples::loss() const {
  torch::NoGradGuard no_grad;
  double sum = 0.0;
  const std::int64_t n = data_.size();
  for (std::int64_t b = 0; b < n; b += chunk_) {
    const std::int64_t c = std::min(chunk_, n - b);
    sum += loss_(data_.x.narrow(0, b, c), data_.y.narrow(0, b, c)).item<double>() * static_cast<double>(c);
  }
  return sum / static_cast<double>(n);
}

torch::Tensor LossOnExamples::gradient() const {
  const std::int64_t n = data_.size();
  torch::Tensor acc = torch::zeros({n_}, torch::TensorOptions().dtype(torch::kDouble));
  for (std::int64_t b = 0; b < n; b += chunk_) {
    const std::int64_t c = std::min(chunk_, n - b);
    torch::Tensor l = loss_(data_.x.narrow(0, b, c), data_.y.narrow(0, b, c)) * (static_cast<double>(c) / n);
    acc += flatten(torch::autograd::grad({l}, params_, {}, false, false, /*allow_unused=*/true)).to(torch::kDouble);
  }
  return acc.to(dtype());
}

torch::Tensor LossOnExamples::hvp(const torch::Tensor& v) const {
  const std::vector<torch::Tensor> vs = unflatten(v.to(dtype()));
  const std::int64_t n = data_.size();
  torch::Tensor acc = torch::zeros({n_}, torch::TensorOptions().dtype(torch::kDouble));
  for (std::int64_t b = 0; b < n; b += chunk_) {
    const std::int64_t c = std::min(chunk_, n - b);
    torch::Tensor l = loss_(data_.x.narrow(0, b, c), data_.y.narrow(0, b, c)) * (static_cast<double>(c) / n);
    const auto g = torch::autograd::grad({l}, params_, {}, /*retain_graph=*/true, /*create_graph=*/true,
                                         /*allow_unused=*/true);
    torch::Tensor dot = torch::zeros({}, params_.front().options());
    for (std::size_t i = 0; i < g.size(); ++i)
      if (g[i].defined() && g[i].requires_grad()) dot = dot + (g[i] * vs[i]).sum();
    if (!dot.requires_grad()) continue;  // loss linear in every parameter on this chunk: H v = 0
    acc += flatten(torch::autograd::grad({dot}, params_, {}, false, false, true)).to(torch::kDouble);
  }
  ++hvps_;
  return acc.to(dtype());
}

torch::Tensor LossOnExamples::per_example_gradients(std::int64_t begin, std::int64_t count) const {
  torch::Tensor rows = torch::empty({count, n_}, params_.front().options());
  for (std::int64_t i = 0; i < count; ++i) {
    torch::Tensor l = loss_(data_.x.narrow(0, begin + i, 1), data_.y.narrow(0, begin + i, 1));
    rows[i].copy_(flatten(torch::autograd::grad({l}, params_, {}, false, false, true)));
  }
  per_example_ += count;
  return rows;
}

namespace {

// The measurement in phases; each fills its part of `m` and times itself.
struct Measure {
  const LossOnExamples& hs;
  const LossOnExamples& ns;
  const CurvatureOptions& o;
  CurvatureMeasurement m;
  Eigen::MatrixXd v;       // top eigenvectors, n x k
  Eigen::MatrixXd z, w;    // trace probes (projected) and P H P z, n x R
  Eigen::VectorXd g;       // mean gradient over the Hessian subset

  optim::SymmetricOperator hessian() const {
    return [this](const Eigen::VectorXd& x) { return to_eigen(hs.hvp(from_eigen(x, hs.dtype()))); };
  }

  void gradient_phase() {
    const auto t0 = Clock::now();
    m.loss = hs.loss();
    g = to_eigen(hs.gradient());
    m.grad_sq_raw = g.squaredNorm();
    m.grad_h_grad_raw = g.dot(hessian()(g));
    m.gradient_s = seconds_since(t0);
  }

  void lanczos_phase() {
    const auto t0 = Clock::now();
    optim::TopEigenOptions to;
    to.k = o.top_k;
    to.max_steps = o.lanczos_max_steps;
    to.tol = o.lanczos_tol;
    to.seed = o.seed;
    int products = 0;
    const optim::SymmetricOperator h = hessian();
    const optim::SymmetricOperator counted = [&](const Eigen::VectorXd& x) {
      if (++products % 10 == 0) say(o, "lanczos: " + std::to_string(products) + " Hessian-vector products");
      return h(x);
    };
    const optim::TopEigenpairs top = optim::top_eigenpairs(counted, hs.parameters(), to);
    v = top.vectors;
    const Eigen::VectorXd proj = v.transpose() * g;
    m.top_g.assign(proj.data(), proj.data() + proj.size());
    m.top_h.assign(top.values.data(), top.values.data() + top.values.size());
    m.top_residuals.assign(top.residuals.data(), top.residuals.data() + top.residuals.size());
    m.lanczos_steps = top.steps;
    m.lanczos_converged = top.converged;
    m.lanczos_s = seconds_since(t0);
  }

  void slq_phase() {
    const auto t0 = Clock::now();
    optim::SlqOptions so;
    so.probes = o.slq_probes;
    so.steps = o.slq_steps;
    so.seed = o.seed + 1000;
    int products = 0;
    const optim::SymmetricOperator h = optim::deflated(hessian(), v);
    const optim::SymmetricOperator counted = [&](const Eigen::VectorXd& x) {
      if (++products % 10 == 0) say(o, "slq: " + std::to_string(products) + " Hessian-vector products");
      return h(x);
    };
    const optim::SpectralDensity d = optim::stochastic_lanczos_quadrature(counted, hs.parameters(), so, v);
    m.slq_nodes = d.nodes;
    m.slq_weights = d.weights;
    m.slq_probe = d.probe;
    m.slq_s = seconds_since(t0);
  }

  void trace_phase() {
    const auto t0 = Clock::now();
    const Eigen::Index n = hs.parameters();
    const optim::SymmetricOperator h = optim::deflated(hessian(), v);
    z.resize(n, o.trace_probes);
    w.resize(n, o.trace_probes);
    Eigen::VectorXd samples(o.trace_probes);
    for (int r = 0; r < o.trace_probes; ++r) {
      z.col(r) = optim::project_out(v, optim::rademacher(n, o.seed + 2000 + static_cast<std::uint64_t>(r)));
      w.col(r) = h(z.col(r));
      samples[r] = z.col(r).dot(w.col(r));  // z' P H P z, E = tr(P H P)
    }
    m.tail_trace_h = samples.mean();
    m.tail_trace_h_stderr = o.trace_probes > 1 ? std::sqrt(covariance(samples, samples) / o.trace_probes) : 0.0;
    double top = 0.0;
    for (double x : m.top_h) top += x;
    m.trace_h = top + m.tail_trace_h;
    m.trace_s = seconds_since(t0);
  }

  void noise_phase();
  void combine();
};

// Per-example gradients of the noise subset, projected on [V | Z | W] in blocks (one GEMM per
// block), plus their sum and squared norms: everything Sigma enters through.
void Measure::noise_phase() {
  const auto t0 = Clock::now();
  const std::int64_t n = ns.parameters(), count = ns.examples();
  const int k = static_cast<int>(v.cols()), r = static_cast<int>(z.cols());
  Eigen::MatrixXd basis(n, k + 2 * r);
  basis << v, z, w;
  const torch::Tensor b = torch::from_blob(basis.data(), {k + 2 * r, n}, torch::kDouble).to(ns.dtype());  // rows
  Eigen::MatrixXd proj(count, k + 2 * r);
  Eigen::VectorXd sq(count);
  torch::Tensor sum = torch::zeros({n}, torch::kDouble);
  // Blocks of ~64 Mi values keep the per-example matrix within 256 MB (float32).
  const std::int64_t block = std::clamp<std::int64_t>((std::int64_t{1} << 26) / std::max<std::int64_t>(n, 1), 1, 64);
  for (std::int64_t e = 0; e < count; e += block) {
    const std::int64_t c = std::min(block, count - e);
    const torch::Tensor rows = ns.per_example_gradients(e, c);
    const torch::Tensor p = torch::mm(rows, b.t()).to(torch::kDouble).contiguous();  // c x (k + 2r)
    // In the rows' own type (reductions that convert element by element are ~10x slower here),
    // then in double across examples.
    const torch::Tensor norms = rows.norm(2, {1}).to(torch::kDouble).pow(2).contiguous();
    const auto pa = p.accessor<double, 2>();
    const auto na = norms.accessor<double, 1>();
    for (std::int64_t i = 0; i < c; ++i) {
      for (int j = 0; j < k + 2 * r; ++j) proj(e + i, j) = pa[i][j];
      sq[e + i] = na[i];
    }
    sum += rows.sum(0).to(torch::kDouble);
    if ((e / block) % 8 == 0) say(o, "noise: " + std::to_string(e + c) + " of " + std::to_string(count) + " per-example gradients");
  }
  const double nn = static_cast<double>(count);
  const double mean_sq = (sum / nn).pow(2).sum().item<double>();
  m.trace_sigma = (sq.sum() - nn * mean_sq) / (nn - 1.0);
  m.top_c.clear();
  double top_c = 0.0, top_hc = 0.0;
  for (int i = 0; i < k; ++i) {
    m.top_c.push_back(covariance(proj.col(i), proj.col(i)));
    top_c += m.top_c.back();
    top_hc += m.top_h[static_cast<std::size_t>(i)] * m.top_c.back();
  }
  m.tail_trace_sigma = m.trace_sigma - top_c;  // tr(P Sigma P) = tr(Sigma) - tr(V' Sigma V)
  Eigen::VectorXd samples(r);
  for (int j = 0; j < r; ++j) samples[j] = covariance(proj.col(k + j), proj.col(k + r + j));  // (PHPz)' Sigma z
  m.tail_trace_h_sigma = samples.mean();
  m.tail_trace_h_sigma_stderr = r > 1 ? std::sqrt(covariance(samples, samples) / r) : 0.0;
  m.trace_h_sigma = top_hc + m.tail_trace_h_sigma;
  m.noise_s = seconds_since(t0);
}

void Measure::combine() {
  const double nh = static_cast<double>(hs.examples());
  const double big = o.dataset_size > 0 ? static_cast<double>(o.dataset_size) : std::numeric_limits<double>::infinity();
  const double shrink = std::max(0.0, 1.0 / nh - 1.0 / big);
  m.grad_sq = m.grad_sq_raw - shrink * m.trace_sigma;
  m.grad_h_grad = m.grad_h_grad_raw - shrink * m.trace_h_sigma;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  m.b_simple = m.grad_sq > 0.0 ? m.trace_sigma / m.grad_sq : nan;
  m.b_noise = m.grad_h_grad > 0.0 ? m.trace_h_sigma / m.grad_h_grad : nan;
  m.hvps = hs.hvp_count();
  m.per_example_gradients = ns.per_example_count();
}

}  // namespace

CurvatureMeasurement measure_curvature(const LossOnExamples& hessian_set, const LossOnExamples& noise_set,
                                       const CurvatureOptions& o) {
  const std::int64_t n = hessian_set.parameters();
  if (noise_set.parameters() != n) throw std::invalid_argument("measure_curvature: the two sets have different parameters");
  if (o.top_k < 1 || o.top_k > n)
    throw std::invalid_argument("top-k = " + std::to_string(o.top_k) + " must be in [1, " + std::to_string(n) +
                                "] (the parameter count)");
  if (o.lanczos_max_steps < o.top_k || o.slq_probes < 1 || o.slq_steps < 1 || o.trace_probes < 2)
    throw std::invalid_argument("measure_curvature: lanczos steps >= top-k, slq probes and steps >= 1, trace probes >= 2");
  if (noise_set.examples() < 2) throw std::invalid_argument("measure_curvature: the noise subset needs >= 2 examples");
  const auto t0 = Clock::now();
  Measure s{hessian_set, noise_set, o, {}, {}, {}, {}, {}};
  s.m.parameters = n;
  s.m.hessian_examples = hessian_set.examples();
  s.m.noise_examples = noise_set.examples();
  say(o, "gradient and loss on " + std::to_string(s.m.hessian_examples) + " examples");
  s.gradient_phase();
  say(o, "lanczos: top " + std::to_string(o.top_k) + " eigenpairs");
  s.lanczos_phase();
  say(o, "slq: " + std::to_string(o.slq_probes) + " probes x " + std::to_string(o.slq_steps) + " steps");
  s.slq_phase();
  say(o, "hutchinson: " + std::to_string(o.trace_probes) + " probes");
  s.trace_phase();
  say(o, "noise: " + std::to_string(s.m.noise_examples) + " per-example gradients");
  s.noise_phase();
  s.combine();
  s.m.total_s = seconds_since(t0);
  return s.m;
}

}  // namespace batchlab::realtrain
