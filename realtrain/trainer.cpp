#include "realtrain/trainer.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "optim/batch_schedule.h"
#include "optim/config.h"
#include "optim/noise_scale.h"
#include "optim/optimizer.h"
#include "optim/registry.h"
#include "optim/scaling.h"
#include "optim/schedule.h"
#include "optim/sync.h"
#include "optim/sync_policy.h"
#include "realtrain/checkpoint.h"
#include "realtrain/data/source.h"
#include "realtrain/provenance.h"
#include "realtrain/torch_backend.h"

namespace batchlab::realtrain {
namespace {

using optim::ConfigError;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

optim::BufferRef float_ref(const torch::Tensor& t) {
  return {t.data_ptr(), static_cast<std::size_t>(t.numel()), optim::DType::kFloat32};
}

// Mean over ranks of a few host doubles. NCCL communicators take device memory only, so on a
// CUDA device the values make a round trip through a device tensor.
void allreduce_mean_host(ProcessGroup& pg, double* values, std::size_t n, torch::Device device) {
  if (pg.world <= 1) return;
  if (device.is_cpu()) {
    const optim::BufferRef r{values, n, optim::DType::kFloat64};
    pg.global->allreduce_mean({&r, 1});
    return;
  }
  torch::Tensor t = torch::from_blob(values, {static_cast<std::int64_t>(n)}, torch::kDouble).to(device);
  const optim::BufferRef r{t.data_ptr(), n, optim::DType::kFloat64};
  pg.global->allreduce_mean({&r, 1});
  torch::Tensor back = t.to(torch::kCPU);
  std::memcpy(values, back.data_ptr<double>(), n * sizeof(double));
}

}  // namespace

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  if (launched_with_multiple_ranks()) return 1;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

struct Trainer::Impl {
  TrainConfig cfg;
  ProcessGroup& pg;
  nlohmann::json provenance;
  int threads = 1;
  torch::Device device = torch::kCPU;
  std::shared_ptr<const data::ExampleSource> train_set, test_set;
  std::unique_ptr<data::ShardedSampler> sampler;
  std::unique_ptr<optim::BatchSchedule> batches;  // global batch per update
  std::int64_t epoch_examples = 0;                // one epoch: steps_per_epoch x base batch
  std::vector<ParamGroup> groups;
  std::vector<torch::Tensor> params;
  std::unique_ptr<optim::Optimizer<TorchBackend>> opt;
  std::unique_ptr<optim::LrSchedule> schedule;
  optim::SyncPolicy policy;
  std::unique_ptr<GradientSynchronizer> grad_sync;
  std::unique_ptr<optim::NoiseScaleEstimator> noise;
  optim::OptimizerConfig ocfg;
  double base_lr = 0.0;
  // B_small, B_big of the last noise-scale update (NaN before the first).
  std::array<double, 2> noise_batches{std::numeric_limits<double>::quiet_NaN(),
                                      std::numeric_limits<double>::quiet_NaN()};

  Impl(TrainConfig c, ProcessGroup& p, nlohmann::json prov)
      : cfg(std::move(c)), pg(p), provenance(std::move(prov)) {}
};

Trainer::Trainer(TrainConfig cfg, ProcessGroup& pg, nlohmann::json provenance)
    : impl_(std::make_unique<Impl>(std::move(cfg), pg, std::move(provenance))) {
  Impl& m = *impl_;
  const TrainConfig& c = m.cfg;
  validate_train_config(c, pg.world);
  m.policy = optim::SyncPolicy::parse(c.sync, c.average_momentum);
  if (m.policy.kind == optim::SyncKind::kHierarchical && !pg.node)
    throw ConfigError("train.sync = " + c.sync + ": hierarchical sync needs a node communicator");
  m.threads = resolve_threads(c.threads);
  torch::set_num_threads(m.threads);
  if (c.backend == "nccl") {
    if (!torch::cuda::is_available())
      throw ConfigError("train.backend = nccl: this LibTorch build sees no CUDA device");
    m.device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(pg.local_rank));
  }

  m.train_set = data::open_dataset(c.dataset, c.data_dir, "train");
  m.test_set = data::open_dataset(c.dataset, c.data_dir, "test");
  m.batches = std::make_unique<optim::BatchSchedule>(make_batch_schedule(c, pg.world));
  if (c.batch_size > m.train_set->size())
    throw ConfigError("train.batch-size = " + std::to_string(c.batch_size) + ": larger than the " +
                      std::to_string(m.train_set->size()) + " training examples");
  if (m.batches->max_batch() > m.train_set->size())
    throw ConfigError("train.batch-max = " + std::to_string(c.batch_max) + ": the batch schedule grows the batch to " +
                      std::to_string(m.batches->max_batch()) + ", more than the " +
                      std::to_string(m.train_set->size()) + " training examples (cap it with --batch-max)");
  std::vector<data::BatchPhase> phases;
  for (const auto& p : m.batches->phases()) phases.push_back({p.first_step, p.batch});
  m.sampler = std::make_unique<data::ShardedSampler>(m.train_set->size(), std::move(phases), pg.rank,
                                                     pg.world, c.seed);
  const std::int64_t spe = m.sampler->steps_per_epoch();
  m.epoch_examples = spe * c.batch_size;
  // Lengths in epochs become steps through the examples they stand for (train_config.h).
  auto epochs_to_step = [&](double epochs) {
    return m.batches->first_step_with_examples(std::llround(epochs * static_cast<double>(spe)) * c.batch_size);
  };
  total_steps_ = c.steps > 0 ? c.steps : std::max<std::int64_t>(1, epochs_to_step(c.epochs));

  // lr = scaling(B) x warmup(step) x decay(step), all from optim/.
  optim::ScalingRule scaling;
  scaling.kind = optim::parse_scaling(c.scaling);
  scaling.batch_ref = static_cast<double>(c.batch_ref > 0 ? c.batch_ref : c.batch_size);
  const optim::ScaledHyper h =
      scaling.apply(static_cast<double>(c.batch_size), c.lr, c.beta1, c.beta2, c.eps);
  m.base_lr = h.lr;
  optim::ScheduleConfig sc;
  sc.decay = optim::parse_decay(c.schedule);
  sc.total_steps = total_steps_;
  for (double e : parse_epoch_milestones(c.milestones))
    sc.milestones.push_back(epochs_to_step(e));
  sc.factor = c.decay_factor;
  sc.warmup = optim::parse_warmup(c.warmup);
  sc.warmup_steps = c.warmup_steps > 0 ? c.warmup_steps : epochs_to_step(c.warmup_epochs);
  sc.warmup_start_lr = c.lr;
  m.schedule = std::make_unique<optim::LrSchedule>(h.lr, sc);

  m.ocfg.name = c.optimizer;
  m.ocfg.momentum = c.momentum;
  m.ocfg.beta1 = h.beta1;
  m.ocfg.beta2 = h.beta2;
  m.ocfg.eps = h.eps;
  m.ocfg.weight_decay = c.weight_decay;
  m.ocfg.trust_coefficient = c.trust_coefficient;
  m.ocfg.max_grad_norm = c.max_grad_norm;
  optim::validate_config(m.ocfg);

  // Same seed on every rank gives the same initial model; rank 0's is broadcast anyway so that
  // nothing depends on that.
  torch::manual_seed(c.seed);
  const data::ImageShape shape = m.train_set->shape();
  ModelSpec spec;
  spec.name = c.model;
  spec.in_channels = shape.channels;
  spec.height = shape.height;
  spec.width = shape.width;
  spec.num_classes = m.train_set->num_classes();
  spec.zero_init_residual = c.zero_init_residual;
  model_ = make_model(spec);
  model_->to(m.device);
  m.groups = param_groups(*model_);
  std::vector<optim::GroupOptions> gopts;
  for (auto& g : m.groups) {
    m.params.push_back(g.param);
    gopts.push_back(g.options);
  }
  if (pg.world > 1) {
    torch::NoGradGuard no_grad;
    for (auto& p : m.params) {
      const optim::BufferRef r = float_ref(p);
      pg.global->broadcast({&r, 1}, 0);
    }
  }
  m.opt = std::make_unique<optim::Optimizer<TorchBackend>>(m.ocfg, gopts);
  if (pg.world > 1) {
    m.grad_sync = std::make_unique<GradientSynchronizer>(
        m.params, *pg.global, static_cast<std::size_t>(c.bucket_mb * 1024.0 * 1024.0), !c.no_overlap);
    m.noise = std::make_unique<optim::NoiseScaleEstimator>(c.noise_scale_ema);
  }
}

Trainer::~Trainer() = default;

std::vector<torch::Tensor> Trainer::parameters() const { return impl_->params; }
std::int64_t Trainer::steps_per_epoch() const { return impl_->sampler->steps_per_epoch(); }
std::int64_t Trainer::global_batch(std::int64_t step) const { return impl_->batches->batch_at(step); }
std::int64_t Trainer::examples_before(std::int64_t step) const { return impl_->batches->examples_before(step); }

namespace {

struct EvalResult {
  double loss = 0.0, accuracy = 0.0;
};

// The whole test set, split across ranks in contiguous slices; sums all-reduced.
EvalResult evaluate(Model& model, const data::ExampleSource& test, ProcessGroup& pg,
                    torch::Device device) {
  const std::int64_t n = test.size();
  const std::int64_t begin = n * pg.rank / pg.world, end = n * (pg.rank + 1) / pg.world;
  const data::ImageShape shape = test.shape();
  constexpr std::int64_t kChunk = 1000;
  std::vector<float> images(static_cast<std::size_t>(kChunk * shape.numel()));
  std::vector<std::int64_t> labels(static_cast<std::size_t>(kChunk));
  double sums[3] = {0.0, 0.0, 0.0};  // loss, correct, count
  model.eval();
  c10::InferenceMode inference;  // no autograd bookkeeping at all (stronger than NoGradGuard)
  for (std::int64_t s = begin; s < end; s += kChunk) {
    const std::int64_t count = std::min(kChunk, end - s);
    at::parallel_for(0, count, 16, [&](std::int64_t a, std::int64_t b) {
      std::mt19937_64 rng(0);  // unused: no augmentation at test time
      for (std::int64_t i = a; i < b; ++i)
        labels[static_cast<std::size_t>(i)] =
            test.write_example(s + i, false, rng, images.data() + i * shape.numel());
    });
    torch::Tensor x = torch::from_blob(images.data(), {count, shape.channels, shape.height, shape.width},
                                       torch::kFloat).to(device);
    torch::Tensor y = torch::from_blob(labels.data(), {count}, torch::kLong).to(device);
    torch::Tensor logits = model.forward(x);
    sums[0] += torch::nn::functional::cross_entropy(
                   logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                   .item<double>();
    sums[1] += logits.argmax(1).eq(y).sum().item<double>();
    sums[2] += static_cast<double>(count);
  }
  model.train();
  allreduce_mean_host(pg, sums, 3, device);  // mean: the ratios below are unchanged
  EvalResult out;
  out.loss = sums[0] / sums[2];
  out.accuracy = sums[1] / sums[2];
  return out;
}

std::string fmt_double(double v) {
  if (!std::isfinite(v)) return "";
  std::ostringstream os;
  os.precision(8);
  os << v;
  return os.str();
}

void write_file_atomic(const std::filesystem::path& path, const std::string& text) {
  const auto tmp = path.string() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw std::runtime_error("cannot write " + tmp);
    f << text;
    if (!f) throw std::runtime_error("cannot write " + tmp);
  }
  std::filesystem::rename(tmp, path);
}

nlohmann::json nullable(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

}  // namespace

TrainResult Trainer::run() {
  Impl& m = *impl_;
  const TrainConfig& c = m.cfg;
  ProcessGroup& pg = m.pg;
  const bool writer = pg.rank == 0;
  const std::filesystem::path out_dir(c.output);
  const std::string ckpt_path =
      (out_dir / "checkpoint" / ("rank" + std::to_string(pg.rank) + ".pt")).string();
  if (writer) std::filesystem::create_directories(out_dir);

  const std::string header =
      "step,examples,epoch,lr,train_loss,eval_loss,eval_accuracy,img_per_s,b_simple,grad_sq,"
      "trace_sigma,wall_s\n";
  std::string metrics = header;
  // Accumulators carried across a resume: wall, compute, comm, data seconds.
  double wall_s = 0.0, comm_s = 0.0, data_s = 0.0;
  std::int64_t start_step = 0;

  // Optimizer state exists from the start so checkpoints (and momentum averaging) see it.
  m.opt->init_state(m.params);
  auto state_buffers = [&] {
    std::vector<torch::Tensor> out;
    for (std::size_t i = 0; i < m.params.size(); ++i)
      for (auto& [name, buf] : m.opt->rule().state(i)) out.push_back(*buf);
    return out;
  };
  std::vector<torch::Tensor> model_buffers = model_->buffers();

  if (c.resume) {
    CheckpointState s = load_checkpoint(ckpt_path);
    std::vector<torch::Tensor> state = state_buffers();
    if (s.params.size() != m.params.size() || s.buffers.size() != model_buffers.size() ||
        s.optimizer_state.size() != state.size())
      throw std::runtime_error("checkpoint " + ckpt_path + " does not match model '" + c.model +
                               "' / optimizer '" + c.optimizer + "'");
    torch::NoGradGuard no_grad;
    for (std::size_t i = 0; i < m.params.size(); ++i) m.params[i].copy_(s.params[i]);
    for (std::size_t i = 0; i < model_buffers.size(); ++i) model_buffers[i].copy_(s.buffers[i]);
    for (std::size_t i = 0; i < state.size(); ++i) state[i].copy_(s.optimizer_state[i]);
    m.opt->restore_counters(s.step, s.prev_lr);
    start_step = s.step;
    metrics = s.metrics_csv;
    if (s.counters.size() >= 3) {
      wall_s = s.counters[0];
      comm_s = s.counters[1];
      data_s = s.counters[2];
    }
    if (m.noise && !s.noise_scale.empty()) m.noise->restore_state(s.noise_scale);
    // The examples done (counter 3, absent in older checkpoints) must be what this run's batch
    // schedule says for that step: a resume with other batch settings would silently shift the
    // data order and the examples column.
    if (s.counters.size() >= 4 &&
        s.counters[3] != static_cast<double>(m.batches->examples_before(start_step)))
      throw std::runtime_error("checkpoint " + ckpt_path + " was written after " +
                               std::to_string(static_cast<std::int64_t>(s.counters[3])) + " examples at step " +
                               std::to_string(start_step) + ", but this run's batch size / schedule gives " +
                               std::to_string(m.batches->examples_before(start_step)));
    // Every rank must resume from the same step.
    if (pg.world > 1) {
      double v = static_cast<double>(start_step);
      allreduce_mean_host(pg, &v, 1, m.device);
      if (v != static_cast<double>(start_step))
        throw std::runtime_error("checkpoints of the ranks are at different steps (rank " +
                                 std::to_string(pg.rank) + " at " + std::to_string(start_step) + ")");
    }
  }
  if (writer) write_file_atomic(out_dir / "metrics.csv", metrics);

  data::Loader loader(m.train_set, *m.sampler, /*train=*/true, c.seed, c.loader_threads,
                      /*prefetch=*/4, start_step);
  const data::ImageShape shape = m.train_set->shape();
  const auto epochs_done = [&](std::int64_t examples) {  // in epochs of train_config.h
    return static_cast<double>(examples) / static_cast<double>(m.epoch_examples);
  };

  std::vector<optim::BufferRef> param_refs;
  for (auto& p : m.params) param_refs.push_back(float_ref(p));
  std::vector<optim::BufferRef> state_refs;
  for (auto& b : state_buffers()) state_refs.push_back(float_ref(b));

  TrainResult result;
  result.b_simple = std::numeric_limits<double>::quiet_NaN();
  double loss_sum = 0.0;
  std::int64_t loss_count = 0;
  double row_wall = wall_s;
  double comm_avg_s = 0.0;  // parameter averaging (not in the synchronizer's clock)
  const double comm_sync_start = m.grad_sync ? m.grad_sync->comm_seconds() : 0.0;
  const double data_start = loader.wait_seconds();
  // Examples actually trained on (global), counted from the batches the loader delivered.
  std::int64_t examples_done = m.batches->examples_before(start_step);
  std::int64_t row_start_examples = examples_done;
  EvalResult last_eval{std::numeric_limits<double>::quiet_NaN(), 0.0};
  model_->train();

  for (std::int64_t step = start_step; step < total_steps_; ++step) {
    const auto t0 = Clock::now();
    data::Batch batch = loader.next();
    const std::int64_t global_batch = m.batches->batch_at(step);  // the schedule's B_k
    if (batch.step != step || batch.count * pg.world != global_batch)
      throw std::logic_error("loader delivered step " + std::to_string(batch.step) + " with " +
                             std::to_string(batch.count) + " examples per rank for step " + std::to_string(step) +
                             " of global batch " + std::to_string(global_batch));
    examples_done += global_batch;
    torch::Tensor x = torch::from_blob(batch.images.data(),
                                       {batch.count, shape.channels, shape.height, shape.width},
                                       torch::kFloat).to(m.device);
    torch::Tensor y = torch::from_blob(batch.labels.data(), {batch.count}, torch::kLong).to(m.device);
    const bool reduce = pg.world > 1 && m.policy.allreduce_gradients(step);
    if (m.grad_sync) m.grad_sync->prepare(reduce);
    // Gradients are reset to undefined rather than zeroed: backward then hands its fresh
    // gradient tensors over (AccumulateGrad steals them) instead of adding them to zeros, which
    // saves two passes over every gradient per step. Values are identical (0 + g == g).
    for (auto& p : m.params) p.mutable_grad().reset();
    torch::Tensor loss = torch::nn::functional::cross_entropy(model_->forward(x), y);
    loss.backward();
    if (m.grad_sync) m.grad_sync->finish();
    std::vector<torch::Tensor> grads;
    grads.reserve(m.params.size());
    for (auto& p : m.params) {
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);  // unused this step
      grads.push_back(p.grad());
    }
    if (reduce && m.noise) {
      // small batch = this rank's gradient, big batch = the all-reduced one (McCandlish et al.).
      // Under a batch schedule both are this update's: B_small = B_k / ranks, B_big = B_k.
      m.noise_batches = {static_cast<double>(batch.count), static_cast<double>(global_batch)};
      m.noise->update(m.grad_sync->local_grad_sq_norm(), m.noise_batches[0],
                      m.grad_sync->reduced_grad_sq_norm(), m.noise_batches[1]);
    }
    {
      torch::NoGradGuard no_grad;
      m.opt->step(m.params, grads, m.schedule->lr_at(step));
    }
    if (pg.world > 1) {
      const auto ta = Clock::now();
      std::vector<std::vector<optim::BufferRef>> mom;
      if (m.policy.average_momentum) mom.push_back(state_refs);
      optim::apply_parameter_averaging(m.policy, step, *pg.global, pg.node.get(), {param_refs}, mom);
      comm_avg_s += seconds_since(ta);
    }
    const double l = loss.item<double>();
    loss_sum += l;
    ++loss_count;
    wall_s += seconds_since(t0);

    const std::int64_t done = step + 1;
    const bool last = done == total_steps_;
    const bool diverged = !std::isfinite(l);
    if (done % c.eval_every == 0 || last || diverged) {
      double train_loss[2] = {loss_sum, static_cast<double>(loss_count)};
      allreduce_mean_host(pg, train_loss, 2, m.device);
      last_eval = evaluate(*model_, *m.test_set, pg, m.device);
      const double interval = wall_s - row_wall;
      const double ips = interval > 0.0
                             ? static_cast<double>(examples_done - row_start_examples) / interval
                             : 0.0;
      const double bs = m.noise ? m.noise->b_simple() : std::numeric_limits<double>::quiet_NaN();
      std::ostringstream row;
      row << done << ',' << examples_done << ',' << fmt_double(epochs_done(examples_done))
          << ',' << fmt_double(m.schedule->lr_at(step)) << ',' << fmt_double(train_loss[0] / train_loss[1])
          << ',' << fmt_double(last_eval.loss) << ',' << fmt_double(last_eval.accuracy) << ','
          << fmt_double(ips) << ',' << fmt_double(bs) << ','
          << fmt_double(m.noise ? m.noise->grad_sq() : std::nan("")) << ','
          << fmt_double(m.noise ? m.noise->trace_sigma() : std::nan("")) << ',' << fmt_double(wall_s)
          << '\n';
      metrics += row.str();
      if (writer) write_file_atomic(out_dir / "metrics.csv", metrics);
      loss_sum = 0.0;
      loss_count = 0;
      row_start_examples = examples_done;
      row_wall = wall_s;
      result.steps = done;
      if (diverged || !std::isfinite(last_eval.loss)) {
        result.status = "diverged";
        break;
      }
      if (c.target > 0.0 && last_eval.accuracy >= c.target) {
        result.status = "reached";
        result.steps_to_target = done;
        break;
      }
    }
    if (c.checkpoint_every > 0 && done % c.checkpoint_every == 0) {
      CheckpointState s;
      s.step = done;
      s.prev_lr = m.opt->prev_lr();
      s.params = m.params;
      s.buffers = model_buffers;
      s.optimizer_state = state_buffers();
      s.metrics_csv = metrics;
      if (m.noise) s.noise_scale = m.noise->save_state();
      const double sync_comm = m.grad_sync ? m.grad_sync->comm_seconds() - comm_sync_start : 0.0;
      s.counters = {wall_s, comm_s + sync_comm + comm_avg_s, data_s + loader.wait_seconds() - data_start,
                    static_cast<double>(examples_done)};
      save_checkpoint(ckpt_path, s);
    }
  }
  result.steps = std::max(result.steps, m.opt->steps());
  result.final_accuracy = last_eval.accuracy;
  result.final_eval_loss = last_eval.loss;
  result.wall_s = wall_s;
  result.comm_s = comm_s + (m.grad_sync ? m.grad_sync->comm_seconds() - comm_sync_start : 0.0) + comm_avg_s;
  result.data_s = data_s + loader.wait_seconds() - data_start;
  result.compute_s = std::max(0.0, wall_s - result.comm_s - result.data_s);
  // examples_done covers the updates of this process and, from the schedule, those before a
  // resume; after the loop it is examples_before(steps) (the loop checks every batch's size).
  result.examples = m.batches->examples_before(result.steps);
  if (result.examples != examples_done)
    throw std::logic_error("trained on " + std::to_string(examples_done) + " examples, the batch schedule says " +
                           std::to_string(result.examples) + " after " + std::to_string(result.steps) + " steps");
  result.img_per_s = wall_s > 0.0 ? static_cast<double>(result.examples) / wall_s : 0.0;
  result.noise_small_batch = m.noise_batches[0];
  result.noise_big_batch = m.noise_batches[1];
  if (m.noise) result.b_simple = m.noise->b_simple();

  if (writer) {
    nlohmann::json prov = m.provenance;
    prov["torch_version"] = torch_version();
    prov["mpi_version"] = mpi_library_version();
    prov["ranks"] = pg.world;
    prov["threads_per_rank"] = m.threads;
    prov["backend"] = pg.backend;
    prov["device"] = m.device.str();
    nlohmann::json cfgj = {
        {"dataset", c.dataset}, {"data-dir", c.data_dir}, {"model", c.model},
        {"zero-init-residual", c.zero_init_residual}, {"batch-size", c.batch_size},
        {"batch-milestones", c.batch_milestones}, {"batch-factor", c.batch_factor}, {"batch-max", c.batch_max},
        {"optimizer", c.optimizer}, {"lr", c.lr}, {"lr_scaled", m.base_lr}, {"momentum", c.momentum},
        {"weight-decay", c.weight_decay}, {"beta1", m.ocfg.beta1}, {"beta2", m.ocfg.beta2},
        {"eps", m.ocfg.eps}, {"trust-coefficient", c.trust_coefficient},
        {"max-grad-norm", c.max_grad_norm}, {"scaling", c.scaling}, {"batch-ref", c.batch_ref},
        {"warmup", c.warmup}, {"warmup-steps", m.schedule->config().warmup_steps},
        {"schedule", c.schedule}, {"milestones", c.milestones}, {"decay-factor", c.decay_factor},
        {"sync", m.policy.to_string()}, {"average-momentum", c.average_momentum},
        {"backend", c.backend}, {"bucket-mb", c.bucket_mb}, {"no-overlap", c.no_overlap},
        {"noise-scale-ema", c.noise_scale_ema}, {"epochs", c.epochs}, {"steps", total_steps_},
        {"eval-every", c.eval_every}, {"target", c.target}, {"seed", c.seed},
        {"threads", m.threads}, {"loader-threads", c.loader_threads}, {"output", c.output},
        {"checkpoint-every", c.checkpoint_every}, {"resume", c.resume}};
    nlohmann::json j = {
        {"status", result.status},
        {"steps", result.steps},
        {"examples", result.examples},
        {"steps_to_target", result.steps_to_target >= 0 ? nlohmann::json(result.steps_to_target) : nlohmann::json()},
        {"examples_to_target", result.steps_to_target >= 0
                                   ? nlohmann::json(m.batches->examples_before(result.steps_to_target))
                                   : nlohmann::json()},
        {"target", c.target > 0.0 ? nlohmann::json(c.target) : nlohmann::json()},
        {"final_accuracy", nullable(result.final_accuracy)},
        {"final_eval_loss", nullable(result.final_eval_loss)},
        {"wall_s", result.wall_s},
        {"img_per_s", result.img_per_s},
        {"time_split", {{"compute_s", result.compute_s}, {"communication_s", result.comm_s}, {"data_s", result.data_s}}},
        {"b_simple", nullable(result.b_simple)},
        {"config", cfgj},
        {"provenance", prov}};
    if (!m.batches->constant()) {
      nlohmann::json phases = nlohmann::json::array();
      for (const auto& p : m.batches->phases())
        phases.push_back({{"first_step", p.first_step}, {"examples_before", p.examples_before}, {"batch", p.batch}});
      j["batch_phases"] = phases;
    }
    if (!m.noise)
      j["b_simple_note"] = "not measured: the noise scale needs >= 2 ranks (per-rank vs all-reduced gradient)";
    write_file_atomic(out_dir / "summary.json", j.dump(2) + "\n");
  }
  return result;
}

}  // namespace batchlab::realtrain
