#include "realtrain/step_probe.h"

#include <torch/cuda.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "optim/config.h"
#include "realtrain/data/source.h"
#include "realtrain/grad_sync.h"
#include "realtrain/kfac.h"
#include "realtrain/trainer.h"

namespace batchlab::realtrain {
namespace {

using Clock = std::chrono::steady_clock;
// Small enough that no rule drives the weights to inf/NaN within the timed updates (K-FAC's
// natural-gradient step with damping 1e-3 does at 0.01), whose arithmetic would be timed instead.
constexpr double kLr = 1e-4;

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

optim::BufferRef ref_of(const torch::Tensor& t) {
  const optim::DType dt = t.scalar_type() == torch::kDouble ? optim::DType::kFloat64 : optim::DType::kFloat32;
  return {t.data_ptr(), static_cast<std::size_t>(t.numel()), dt};
}

}  // namespace

StepProbe::StepProbe(const TrainConfig& cfg, ProcessGroup& pg) : cfg_(cfg), pg_(pg) {
  threads_ = resolve_threads(cfg_.threads);
  torch::set_num_threads(threads_);
  if (cfg_.backend == "nccl") {
    if (!torch::cuda::is_available())
      throw optim::ConfigError("train.backend = nccl: this LibTorch build sees no CUDA device");
    device_ = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(pg.cuda_device));  // as the trainer
  }
  train_set_ = data::open_dataset(cfg_.dataset, resolved_data_dir(cfg_), "train");
  torch::manual_seed(cfg_.seed);
  model_ = make_model(model_spec(cfg_, *train_set_));
  model_->to(device_);
  model_->train();
  std::vector<optim::GroupOptions> gopts;
  for (auto& g : param_groups(*model_)) {
    params_.push_back(g.param);
    gopts.push_back(g.options);
    parameters_ += g.param.numel();
  }
  // The trainer's rule and settings (optimizer_config), betas and eps as configured: the scaling
  // rule changes only their values, not the work of an update.
  opt_ = std::make_unique<optim::Optimizer<TorchBackend>>(optimizer_config(cfg_, cfg_.beta1, cfg_.beta2, cfg_.eps), gopts);
  opt_->init_state(params_);
  if (cfg_.precondition == "kfac")
    kfac_ = std::make_unique<Kfac>(*model_, cfg_.model,
                                   KfacConfig{cfg_.kfac_damping, cfg_.kfac_decay, cfg_.precond_every,
                                              cfg_.kfac_stats_every, cfg_.kfac_pi_damping});
  for (std::size_t i = 0; i < params_.size(); ++i)
    for (auto& [name, buf] : opt_->rule().state(i)) {
      ++state_tensors_;
      state_values_ += buf->numel();
    }
  // The buckets the trainer's synchronizer would use (no hooks without overlap).
  buckets_ = GradientSynchronizer(params_, *pg_.global, static_cast<std::size_t>(cfg_.bucket_mb * 1024.0 * 1024.0),
                                  /*overlap=*/false)
                 .bucket_count();
}

StepProbe::~StepProbe() = default;

void StepProbe::sync_device() const {
  if (device_.is_cuda()) torch::cuda::synchronize(device_.index());
}

data::Loader& StepProbe::loader(std::int64_t b) {
  auto& l = loaders_[b];
  if (!l)
    l = std::make_unique<data::Loader>(
        train_set_, data::ShardedSampler(train_set_->size(), b * pg_.world, pg_.rank, pg_.world, cfg_.seed),
        /*train=*/true, cfg_.seed, cfg_.loader_threads, /*prefetch=*/4);
  return *l;
}

UpdateTiming StepProbe::time_updates(std::int64_t b, Mode mode, int warmup, int steps) {
  const bool sync = mode != Mode::kLocal;
  data::Loader& loader = this->loader(b);
  std::unique_ptr<GradientSynchronizer> gs;
  if (sync && pg_.world > 1)
    gs = std::make_unique<GradientSynchronizer>(params_, *pg_.global,
                                                static_cast<std::size_t>(cfg_.bucket_mb * 1024.0 * 1024.0),
                                                !cfg_.no_overlap && mode == Mode::kSync);
  const data::ImageShape shape = train_set_->shape();
  UpdateTiming out;
  for (int i = 0; i < warmup + steps; ++i) {
    if (i == warmup && gs) pg_.global->barrier();  // synchronous ranks start the timed updates together
    const auto t0 = Clock::now();
    data::Batch batch = loader.next();
    const auto t1 = Clock::now();
    torch::Tensor x = torch::from_blob(batch.images.data(), {batch.count, shape.channels, shape.height, shape.width},
                                       torch::kFloat).to(device_);
    torch::Tensor y = torch::from_blob(batch.labels.data(), {batch.count}, torch::kLong).to(device_);
    if (gs) gs->prepare(true);
    if (kfac_) kfac_->begin_update(updates_, batch.count);
    for (auto& p : params_) p.mutable_grad().reset();
    torch::Tensor loss = torch::nn::functional::cross_entropy(model_->forward(x), y);
    loss.backward();
    if (gs) gs->finish();
    std::vector<torch::Tensor> grads;
    grads.reserve(params_.size());
    for (auto& p : params_) {
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
      grads.push_back(p.grad());
    }
    // As the trainer: the factors are all-reduced when the gradients are (realtrain/kfac.h).
    if (kfac_) kfac_->precondition(updates_, gs ? pg_.global.get() : nullptr);
    ++updates_;
    {
      torch::NoGradGuard no_grad;
      opt_->step(params_, grads, kLr);
    }
    (void)loss.item<double>();
    sync_device();
    if (i >= warmup) {
      out.data_wait_s += seconds_between(t0, t1);
      out.step_s += seconds_between(t0, Clock::now());
    }
  }
  out.step_s /= steps;
  out.data_wait_s /= steps;
  return out;
}

double StepProbe::time_loader(std::int64_t b, int warmup, int batches) {
  data::Loader loader(train_set_, data::ShardedSampler(train_set_->size(), b * pg_.world, pg_.rank, pg_.world, cfg_.seed),
                      /*train=*/true, cfg_.seed, cfg_.loader_threads, /*prefetch=*/4);
  // Past the prefetched batches, next() returns at the rate the loader threads produce them.
  for (int i = 0; i < warmup + 4; ++i) (void)loader.next();
  const auto t0 = Clock::now();
  for (int i = 0; i < batches; ++i) (void)loader.next();
  return seconds_between(t0, Clock::now()) / batches;
}

double StepProbe::time_allreduce(double bytes, int warmup, int iters) {
  const auto n = std::max<std::int64_t>(1, static_cast<std::int64_t>(bytes / 4.0));
  torch::Tensor buf = torch::ones({n}, torch::TensorOptions().dtype(torch::kFloat).device(device_));
  const optim::BufferRef r = ref_of(buf);
  for (int i = 0; i < warmup; ++i) pg_.global->allreduce_mean({&r, 1});
  sync_device();
  pg_.global->barrier();
  const auto t0 = Clock::now();
  for (int i = 0; i < iters; ++i) pg_.global->allreduce_mean({&r, 1});
  sync_device();
  return seconds_between(t0, Clock::now()) / iters;
}

bool StepProbe::weights_finite() const {
  torch::NoGradGuard no_grad;
  for (const auto& p : params_)
    if (!torch::isfinite(p).all().item<bool>()) return false;
  return true;
}

std::vector<double> StepProbe::gather(double value) {
  torch::Tensor t = torch::zeros({pg_.world}, torch::TensorOptions().dtype(torch::kDouble).device(device_));
  t[pg_.rank] = value;
  const optim::BufferRef r = ref_of(t);
  pg_.global->allreduce_mean({&r, 1});  // the mean of one-hot rows, times the ranks
  torch::Tensor host = (t * pg_.world).to(torch::kCPU).contiguous();
  return std::vector<double>(host.data_ptr<double>(), host.data_ptr<double>() + pg_.world);
}

void StepProbe::idle_barrier() {
  auto* async = dynamic_cast<AsyncCommunicator*>(pg_.global.get());
  if (pg_.world <= 1) return;
  if (async == nullptr) {
    pg_.global->barrier();
    return;
  }
  torch::Tensor one = torch::ones({1}, torch::TensorOptions().dtype(torch::kFloat).device(device_));
  auto op = async->start_allreduce_sum(ref_of(one));
  while (!op->test()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  op->wait();
}

}  // namespace batchlab::realtrain
