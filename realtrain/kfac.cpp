#include "realtrain/kfac.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "optim/config.h"

namespace batchlab::realtrain {

// One covered layer: its parameters, how its input becomes rows a~, this update's sums and the
// factors. A = a_sum / a_examples, G = g_sum / g_rows (kfac.h).
struct Kfac::Layer {
  std::string name;
  torch::nn::Module* module = nullptr;
  torch::Tensor weight, bias;  // bias undefined when the layer has none
  bool conv = false;
  std::vector<std::int64_t> kernel, stride, padding, dilation;  // conv only
  std::int64_t in_dim = 0;                                       // d (without the bias's 1)
  torch::Tensor a_sum, g_sum;
  double a_examples = 0.0, g_rows = 0.0;
  torch::Tensor A, G, A_inv, G_inv;

  std::int64_t out_dim() const { return weight.size(0); }
  std::int64_t a_dim() const { return in_dim + (bias.defined() ? 1 : 0); }
};

namespace {

using optim::ConfigError;

// "torch::nn::BatchNorm2dImpl" -> "BatchNorm2d".
std::string short_type(const torch::nn::Module& m) {
  std::string n = m.name();
  if (const auto p = n.rfind("::"); p != std::string::npos) n = n.substr(p + 2);
  if (n.size() > 4 && n.compare(n.size() - 4, 4, "Impl") == 0) n.resize(n.size() - 4);
  return n;
}

std::vector<std::int64_t> vec2(const torch::ExpandingArray<2>& a) { return {(*a)[0], (*a)[1]}; }

// A Layer for a Linear or Conv2d module, or nullptr for any other type. Throws ConfigError for
// a convolution K-FAC does not cover (groups, non-zero padding modes, 'same'/'valid' padding).
std::shared_ptr<Kfac::Layer> make_layer(const std::string& name, torch::nn::Module& m, const std::string& model) {
  auto L = std::make_shared<Kfac::Layer>();
  L->name = name;
  L->module = &m;
  if (auto* lin = m.as<torch::nn::Linear>()) {
    L->weight = lin->weight;
    L->bias = lin->bias;
    L->in_dim = lin->weight.size(1);
    return L;
  }
  auto* conv = m.as<torch::nn::Conv2d>();
  if (!conv) return nullptr;
  const auto& o = conv->options;
  const auto* pad = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
  if (o.groups() != 1 || !pad || !c10::holds_alternative<torch::enumtype::kZeros>(o.padding_mode()) ||
      o.transposed())
    throw ConfigError("train.precondition = kfac: model '" + model + "' has layer '" + name +
                      "' (Conv2d with groups, transposition or non-zero padding), which K-FAC does not support");
  L->conv = true;
  L->weight = conv->weight;
  L->bias = conv->bias;
  L->kernel = vec2(o.kernel_size());
  L->stride = vec2(o.stride());
  L->padding = vec2(*pad);
  L->dilation = vec2(o.dilation());
  L->in_dim = conv->weight.numel() / conv->weight.size(0);
  return L;
}

torch::Tensor with_ones_column(const torch::Tensor& a) {
  return torch::cat({a, torch::ones({a.size(0), 1}, a.options())}, 1);
}

// (M + damping I)^-1 in double by Cholesky, as M's dtype; all NaN if M + damping I is not
// positive definite (a diverged run's factors): the update is then NaN and the trainer stops
// the run as diverged instead of throwing.
torch::Tensor damped_inverse(const torch::Tensor& M, double damping) {
  const torch::Tensor m = M.to(torch::kDouble);
  const torch::Tensor eye = torch::eye(m.size(0), m.options());
  const auto [chol, info] = torch::linalg_cholesky_ex(m + damping * eye);
  if (info.item<std::int64_t>() != 0 || !torch::isfinite(chol).all().item<bool>())
    return torch::full_like(M, std::numeric_limits<double>::quiet_NaN());
  return torch::cholesky_inverse(chol).to(M.scalar_type());
}

}  // namespace

Kfac::Kfac(Model& model, const std::string& model_name, KfacConfig cfg) : model_(model), cfg_(cfg) {
  if (!(cfg_.damping > 0.0) || !(cfg_.decay >= 0.0 && cfg_.decay < 1.0) || cfg_.update_every < 1 ||
      cfg_.stats_every < 1)
    throw std::invalid_argument("Kfac: damping must be > 0, decay in [0, 1), update_every and stats_every >= 1");
  // The model's own parameters (a ViT's class token), then its submodules' (named_modules
  // without the model itself: a model need not live in a shared_ptr).
  for (const auto& item : model.named_parameters(/*recurse=*/false))
    throw ConfigError("train.precondition = kfac: model '" + model_name + "' has parameter '" + item.key() +
                      "' outside any layer, which K-FAC does not support (Linear and Conv2d only)");
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    torch::nn::Module& m = *item.value();
    if (m.parameters(/*recurse=*/false).empty()) continue;
    auto L = make_layer(item.key(), m, model_name);
    if (!L)
      throw ConfigError("train.precondition = kfac: model '" + model_name + "' has layer '" + item.key() + "' (" +
                        short_type(m) + "), which K-FAC does not support (Linear and Conv2d only)");
    layers_.push_back(std::move(L));
  }
  if (!model.reports_layers())
    throw ConfigError("train.precondition = kfac: model '" + model_name + "' does not report its layers to K-FAC");
  for (auto& L : layers_) {
    const auto opts = L->weight.options();
    L->A = torch::zeros({L->a_dim(), L->a_dim()}, opts);
    L->G = torch::zeros({L->out_dim(), L->out_dim()}, opts);
    L->A_inv = torch::zeros_like(L->A);
    L->G_inv = torch::zeros_like(L->G);
    L->a_sum = torch::zeros_like(L->A);
    L->g_sum = torch::zeros_like(L->G);
  }
  factor_updates_ = torch::zeros({}, torch::kInt64);
  model_.set_layer_observer(this);
}

Kfac::~Kfac() { model_.set_layer_observer(nullptr); }

std::size_t Kfac::layer_count() const { return layers_.size(); }
const std::string& Kfac::layer_name(std::size_t i) const { return layers_.at(i)->name; }
torch::Tensor Kfac::factor_a(std::size_t i) const { return layers_.at(i)->A; }
torch::Tensor Kfac::factor_g(std::size_t i) const { return layers_.at(i)->G; }

void Kfac::begin_update(std::int64_t step, std::int64_t examples) {
  capturing_ = step % cfg_.stats_every == 0;
  grad_scale_ = static_cast<double>(examples);
}

// The input rows a~ now (summed into a_sum, nothing kept), the output gradient's rows g by a
// hook on the output tensor when backward reaches it.
void Kfac::observe(torch::nn::Module& layer, const torch::Tensor& input, const torch::Tensor& output) {
  if (!capturing_ || !torch::GradMode::is_enabled() || !output.requires_grad()) return;
  const auto it = std::find_if(layers_.begin(), layers_.end(), [&](const auto& L) { return L->module == &layer; });
  if (it == layers_.end()) throw std::logic_error("Kfac: a layer it does not cover reported a forward pass");
  Layer* L = it->get();
  torch::NoGradGuard no_grad;
  torch::Tensor a = input.detach().to(L->weight.scalar_type());
  const std::int64_t examples = a.size(0);
  if (L->conv) {
    // im2col: (N, C kh kw, T) with channel-major columns, the order of weight.reshape(out, -1).
    a = torch::im2col(a, L->kernel, L->dilation, L->padding, L->stride);
    a = a.transpose(1, 2).reshape({-1, L->in_dim});
  } else {
    a = a.reshape({-1, L->in_dim});
  }
  if (L->bias.defined()) a = with_ones_column(a);
  L->a_sum.addmm_(a.t(), a);
  L->a_examples += static_cast<double>(examples);
  const double scale = grad_scale_;
  output.register_hook([L, scale](torch::Tensor grad) {
    torch::NoGradGuard guard;
    torch::Tensor g = grad.detach().to(L->weight.scalar_type());
    // Per-example derivatives: the loss is a mean over `scale` examples.
    g = (L->conv ? g.permute({0, 2, 3, 1}) : g).reshape({-1, L->out_dim()}) * scale;
    L->g_sum.addmm_(g.t(), g);
    L->g_rows += static_cast<double>(g.size(0));
  });
}

// Batch factors (mean over ranks), then A <- eps_k A + (1 - eps_k) A_batch (kfac.h).
void Kfac::update_factors(optim::Communicator* comm) {
  std::vector<torch::Tensor> batch;
  for (auto& L : layers_) {
    if (L->a_examples <= 0.0 || L->g_rows <= 0.0)
      throw std::logic_error("Kfac: layer '" + L->name + "' saw no forward/backward pass this update");
    batch.push_back((L->a_sum / L->a_examples).flatten());
    batch.push_back((L->g_sum / L->g_rows).flatten());
  }
  torch::Tensor flat = torch::cat(batch);
  if (comm) {
    const optim::DType dt = flat.scalar_type() == torch::kDouble ? optim::DType::kFloat64 : optim::DType::kFloat32;
    const optim::BufferRef r{flat.data_ptr(), static_cast<std::size_t>(flat.numel()), dt};
    comm->allreduce_mean({&r, 1});
  }
  factor_updates_ += 1;
  const double k = static_cast<double>(factor_updates_.item<std::int64_t>());
  const double eps = std::min(1.0 - 1.0 / k, cfg_.decay);
  std::int64_t at = 0;
  for (auto& L : layers_) {
    for (torch::Tensor* F : {&L->A, &L->G}) {
      const torch::Tensor b = flat.narrow(0, at, F->numel()).view_as(*F);
      at += F->numel();
      if (eps == 0.0) F->copy_(b);
      else F->mul_(eps).add_(b, 1.0 - eps);
    }
    L->a_sum.zero_();
    L->g_sum.zero_();
    L->a_examples = L->g_rows = 0.0;
  }
}

// Damped inverses, lambda split by pi (kfac.h).
void Kfac::update_inverses() {
  const double root = std::sqrt(cfg_.damping);
  for (auto& L : layers_) {
    double pi = 1.0;
    if (cfg_.pi_damping) {
      const double ta = L->A.trace().item<double>() / static_cast<double>(L->A.size(0));
      const double tg = L->G.trace().item<double>() / static_cast<double>(L->G.size(0));
      if (ta > 0.0 && tg > 0.0 && std::isfinite(ta) && std::isfinite(tg)) pi = std::sqrt(ta / tg);
    }
    L->A_inv.copy_(damped_inverse(L->A, pi * root));
    L->G_inv.copy_(damped_inverse(L->G, root / pi));
  }
}

void Kfac::precondition(std::int64_t step, optim::Communicator* comm) {
  torch::NoGradGuard no_grad;
  if (capturing_) update_factors(comm);
  capturing_ = false;
  if (step % cfg_.update_every == 0) update_inverses();
  for (auto& L : layers_) {
    torch::Tensor gw = L->weight.grad();
    if (!gw.defined()) throw std::logic_error("Kfac: layer '" + L->name + "' has no weight gradient");
    torch::Tensor M = gw.reshape({L->out_dim(), L->in_dim});
    if (L->bias.defined()) M = torch::cat({M, L->bias.grad().reshape({L->out_dim(), 1})}, 1);
    const torch::Tensor V = L->G_inv.mm(M).mm(L->A_inv);  // (1)
    gw.copy_(V.narrow(1, 0, L->in_dim).reshape(gw.sizes()));
    if (L->bias.defined()) L->bias.grad().copy_(V.select(1, L->in_dim).reshape(L->bias.sizes()));
  }
}

std::vector<torch::Tensor> Kfac::state() {
  std::vector<torch::Tensor> out{factor_updates_};
  for (auto& L : layers_) {
    out.push_back(L->A);
    out.push_back(L->G);
    out.push_back(L->A_inv);
    out.push_back(L->G_inv);
  }
  return out;
}

}  // namespace batchlab::realtrain
