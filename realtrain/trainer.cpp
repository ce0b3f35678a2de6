// The trainer in named pieces, in the manner of init2winit's base_trainer: the constructor sets
// up (execution, data, schedule, model); Trainer::run composes restore (resume), train_step
// (the loop body), evaluate_and_log (evaluation + the metrics log), save (checkpointing) and
// finish / write_summary (the summary).
#include "realtrain/trainer.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "optim/batch_schedule.h"
#include "optim/config.h"
#include "optim/diloco.h"
#include "optim/io.h"
#include "optim/noise_scale.h"
#include "optim/optimizer.h"
#include "optim/registry.h"
#include "optim/schedule.h"
#include "optim/sync.h"
#include "optim/sync_policy.h"
#include "optim/trial_status.h"
#include "realtrain/checkpoint.h"
#include "realtrain/data/source.h"
#include "realtrain/kfac.h"
#include "realtrain/model_names.h"
#include "realtrain/objective.h"
#include "realtrain/provenance.h"
#include "realtrain/torch_backend.h"

namespace batchlab::realtrain {
namespace {

using optim::ConfigError;
using Clock = std::chrono::steady_clock;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

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

// metrics.csv numbers: 8 significant digits, empty when not measured (non-finite).
std::string fmt_double(double v) { return std::isfinite(v) ? optim::format_number(v, 8) : ""; }

nlohmann::json nullable(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

struct EvalResult {
  double loss = 0.0, accuracy = 0.0;
};

// The test set (or --eval-examples of it, evenly spaced), split across ranks in contiguous
// slices; sums all-reduced. Loss and accuracy per example, per target token for a language model.
EvalResult evaluate(Model& model, const data::ExampleSource& test, std::int64_t max_examples, ProcessGroup& pg,
                    torch::Device device, Precision precision) {
  const std::vector<std::int64_t> all = evaluation_indices(test.size(), max_examples);
  const std::size_t n = all.size(), rank = static_cast<std::size_t>(pg.rank), world = static_cast<std::size_t>(pg.world);
  const std::vector<std::int64_t> mine(all.begin() + static_cast<std::ptrdiff_t>(n * rank / world),
                                       all.begin() + static_cast<std::ptrdiff_t>(n * (rank + 1) / world));
  const EvalSums e = evaluate_examples(model, test, mine, device, precision);
  double sums[3] = {e.loss, e.correct, e.items};
  allreduce_mean_host(pg, sums, 3, device);  // mean: the ratios below are unchanged
  EvalResult out;
  out.loss = sums[0] / sums[2];
  out.accuracy = sums[1] / sums[2];
  return out;
}

// Sum over the parameters of |grad|^2, in double (a rank's own gradient when there is no
// synchroniser to measure it).
double grad_sq_norm(const std::vector<torch::Tensor>& params) {
  double sq = 0.0;
  for (const auto& p : params)
    if (p.grad().defined()) sq += TorchBackend::squared_norm(p.grad());
  return sq;
}

// One line of metrics.csv. Non-finite values print as empty columns (not measured).
struct MetricsRow {
  std::int64_t step = 0, examples = 0;
  double epoch = 0.0, lr = 0.0, train_loss = 0.0, eval_loss = 0.0, eval_accuracy = 0.0;
  double img_per_s = 0.0, b_simple = kNaN, grad_sq = kNaN, trace_sigma = kNaN, wall_s = 0.0;
  std::int64_t comm_bytes = 0;
};

// metrics.csv: the header and one row per evaluation. Every rank keeps the text (its checkpoint
// saves it, and a resume starts from the saved rows, dropping any a stopped run wrote after its
// checkpoint); rank 0 rewrites the file atomically after each row, so a killed run leaves whole rows.
class MetricsLog {
 public:
  static constexpr const char* kHeader =
      "step,examples,epoch,lr,train_loss,eval_loss,eval_accuracy,img_per_s,b_simple,grad_sq,"
      "trace_sigma,wall_s,comm_bytes\n";

  MetricsLog(std::filesystem::path path, bool writer) : path_(std::move(path)), writer_(writer) {}
  // Starts from `text` (the header alone, or a checkpoint's rows) and writes it.
  void reset(std::string text) {
    text_ = std::move(text);
    flush();
  }
  void append(const MetricsRow& r) {
    std::ostringstream row;
    row << r.step << ',' << r.examples << ',' << fmt_double(r.epoch) << ',' << fmt_double(r.lr) << ','
        << fmt_double(r.train_loss) << ',' << fmt_double(r.eval_loss) << ',' << fmt_double(r.eval_accuracy)
        << ',' << fmt_double(r.img_per_s) << ',' << fmt_double(r.b_simple) << ',' << fmt_double(r.grad_sq)
        << ',' << fmt_double(r.trace_sigma) << ',' << fmt_double(r.wall_s) << ',' << r.comm_bytes << '\n';
    text_ += row.str();
    flush();
  }
  const std::string& text() const { return text_; }

 private:
  void flush() const {
    // Rewritten at every evaluation: atomic for readers and a killed run, not flushed to disk.
    if (writer_) optim::write_file_atomic(path_, text_, optim::Durability::kProcessKill);
  }
  std::filesystem::path path_;
  bool writer_;
  std::string text_;
};

// The step of the last row of a metrics.csv text (0 with none): where the evaluation window
// open at the end of that text began.
std::int64_t last_row_step(const std::string& csv) {
  if (csv.size() < 2) return 0;
  const std::size_t newline = csv.rfind('\n', csv.size() - 2);  // before the last line
  if (newline == std::string::npos) return 0;                     // the header alone
  return std::stoll(csv.substr(newline + 1, csv.find(',', newline + 1) - newline - 1));
}

// Everything besides the model, the optimizer and the metrics rows that a metrics row or the
// summary depends on. A checkpoint carries all of it (by the names in Impl::progress_values), so
// a resumed run continues each value where the stopped one left it, inside an evaluation
// window too: the train_loss of the row after a resume averages the losses of both processes.
struct RunProgress {
  std::int64_t step = 0;      // updates done
  std::int64_t examples = 0;  // global examples of those updates (the sum of B_k)
  // The evaluation window: the updates since the last metrics row.
  double window_loss_sum = 0.0;  // this rank's training losses (all-reduced at the row)
  std::int64_t window_steps = 0;
  std::int64_t window_start_examples = 0;
  double window_start_wall_s = 0.0;
  // Seconds over every process of the run: training-loop wall time (evaluation excluded), and
  // the communication and data-wait seconds of the processes before this one.
  double wall_s = 0.0, comm_s_before = 0.0, data_s_before = 0.0;
  // Payload bytes this rank sent (SyncPolicy::bytes_sent at 4 bytes a float; DiLoCo's own count).
  std::int64_t comm_bytes = 0;
  EvalResult last_eval{kNaN, 0.0};
  std::array<double, 2> noise_batches{kNaN, kNaN};  // B_small, B_big of the last noise-scale update
};

}  // namespace

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  if (launched_with_multiple_ranks()) return 1;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

struct Trainer::Impl {
  // Set up by the constructor.
  TrainConfig cfg;
  ProcessGroup& pg;
  nlohmann::json provenance;
  int threads = 1;
  torch::Device device = torch::kCPU;
  std::shared_ptr<const data::ExampleSource> train_set, test_set;
  std::unique_ptr<data::ShardedSampler> sampler;
  std::unique_ptr<optim::BatchSchedule> batches;  // global batch per update
  std::int64_t epoch_examples = 0;                // one epoch: steps_per_epoch x base batch
  std::int64_t total_steps = 0;
  std::shared_ptr<Model> model;
  std::vector<ParamGroup> groups;
  std::vector<torch::Tensor> params;
  std::unique_ptr<optim::Optimizer<TorchBackend>> opt;
  std::unique_ptr<optim::LrSchedule> schedule;
  optim::SyncPolicy policy;
  std::unique_ptr<GradientSynchronizer> grad_sync;
  std::unique_ptr<optim::DilocoSync> diloco;  // diloco / streaming-diloco: the outer step
  std::unique_ptr<optim::NoiseScaleEstimator> noise;
  std::unique_ptr<Kfac> kfac;  // --precondition kfac: replaces the gradients before the rule
  optim::OptimizerConfig ocfg;
  double base_lr = 0.0;
  Precision precision = Precision::kFloat32;
  std::int64_t parameters = 0;  // scalar parameters of the model

  // Per run (Trainer::run).
  std::filesystem::path out_dir;
  std::unique_ptr<MetricsLog> metrics;
  RunProgress progress;
  std::vector<torch::Tensor> model_buffers;
  std::vector<optim::BufferRef> param_refs, state_refs;
  std::unique_ptr<data::Loader> loader;
  // This process's clocks: parameter-averaging seconds (not in the synchroniser's clock), and
  // the synchroniser's and the loader's clocks when the loop began.
  double comm_avg_s = 0.0, sync_comm_start = 0.0, data_wait_start = 0.0;

  Impl(TrainConfig c, ProcessGroup& p, nlohmann::json prov)
      : cfg(std::move(c)), pg(p), provenance(std::move(prov)) {}

  // Constructor pieces.
  void setup_execution();
  void open_data();
  std::int64_t epochs_to_step(double epochs) const;
  void plan_schedule();
  void build_model();

  // Run pieces.
  void begin_run();
  std::vector<torch::Tensor> state_buffers();
  std::string checkpoint_path() const;
  void restore();
  void restore_tensors(const CheckpointState& s);
  void restore_progress(const CheckpointState& s);
  void restore_outer(const CheckpointState& s);
  void start_loop();
  double train_step();
  double accumulate_gradients(const BatchTensors& data, bool reduce, double& micro_sq_norm);
  void observe_noise(const data::Batch& batch, std::int64_t global_batch, bool reduce, double micro_sq_norm);
  void average_parameters(std::int64_t step);
  EvalResult evaluate_and_log();
  std::map<std::string, double> progress_values() const;
  void save();
  double comm_seconds() const;
  double data_seconds() const;
  TrainResult finish(const std::string& status, std::int64_t steps_to_target) const;
  nlohmann::json config_json() const;
  void write_summary(const TrainResult& r) const;
};

// ---- Setting up (the constructor) ----

// Sync policy, threads and device: what the process group and the machine must provide.
void Trainer::Impl::setup_execution() {
  policy = sync_policy(cfg);
  if (policy.kind == optim::SyncKind::kHierarchical && !pg.node)
    throw ConfigError("train.sync = " + cfg.sync + ": hierarchical sync needs a node communicator");
  // DilocoSync works on host buffers: refuse before any work.
  if (policy.outer_steps() && cfg.backend != "mpi")
    throw ConfigError("train.sync = " + cfg.sync + ": DiLoCo runs with --backend mpi (host memory) only");
  threads = resolve_threads(cfg.threads);
  torch::set_num_threads(threads);
  if (cfg.backend == "nccl") {
    if (!torch::cuda::is_available())
      throw ConfigError("train.backend = nccl: this LibTorch build sees no CUDA device");
    device = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(pg.cuda_device));
  }
}

// The datasets, the batch of every update and this rank's sampler.
void Trainer::Impl::open_data() {
  data::DatasetOptions options;
  if (is_language_model(cfg.model)) options.context_length = gpt_shape(cfg.model).context;
  const std::string dir = resolved_data_dir(cfg);
  train_set = data::open_dataset(cfg.dataset, dir, "train", options);
  test_set = data::open_dataset(cfg.dataset, dir, "test", options);
  batches = std::make_unique<optim::BatchSchedule>(make_batch_schedule(cfg, pg.world));
  if (cfg.batch_size > train_set->size())
    throw ConfigError("train.batch-size = " + std::to_string(cfg.batch_size) + ": larger than the " +
                      std::to_string(train_set->size()) + " training examples");
  if (batches->max_batch() > train_set->size())
    throw ConfigError("train.batch-max = " + std::to_string(cfg.batch_max) + ": the batch schedule grows the batch to " +
                      std::to_string(batches->max_batch()) + ", more than the " +
                      std::to_string(train_set->size()) + " training examples (cap it with --batch-max)");
  std::vector<data::BatchPhase> phases;
  for (const auto& p : batches->phases()) phases.push_back({p.first_step, p.batch});
  sampler = std::make_unique<data::ShardedSampler>(train_set->size(), std::move(phases), pg.rank, pg.world,
                                                   cfg.seed);
  epoch_examples = sampler->steps_per_epoch() * cfg.batch_size;
}

// Lengths in epochs become steps through the examples they stand for (train_config.h).
std::int64_t Trainer::Impl::epochs_to_step(double epochs) const {
  return batches->first_step_with_examples(std::llround(epochs * static_cast<double>(sampler->steps_per_epoch())) *
                                           cfg.batch_size);
}

// The run's length, lr = scaling(B) x warmup(step) x decay(step) and the optimizer's
// hyperparameters, all from optim/.
void Trainer::Impl::plan_schedule() {
  const TrainConfig& c = cfg;
  total_steps = c.steps > 0 ? c.steps : std::max<std::int64_t>(1, epochs_to_step(c.epochs));
  const optim::ScaledHyper h =
      lr_scaling_rule(c).apply(static_cast<double>(c.batch_size), c.lr, c.beta1, c.beta2, c.eps);
  base_lr = h.lr;
  optim::ScheduleConfig sc;
  sc.decay = optim::parse_decay(c.schedule);
  sc.total_steps = total_steps;
  for (double e : parse_epoch_milestones(c.milestones)) sc.milestones.push_back(epochs_to_step(e));
  sc.factor = c.decay_factor;
  sc.warmup = optim::parse_warmup(c.warmup);
  sc.warmup_steps = c.warmup_steps > 0 ? c.warmup_steps : epochs_to_step(c.warmup_epochs);
  sc.warmup_start_lr = c.lr;
  schedule = std::make_unique<optim::LrSchedule>(h.lr, sc);

  ocfg = optimizer_config(c, h.beta1, h.beta2, h.eps);
  optim::validate_config(ocfg);  // the scaled hyperparameters (the settings were validated already)
}

// The model (rank 0's on every rank), its parameter groups, the optimizer, and with several
// ranks the gradient synchroniser and the noise-scale estimator.
void Trainer::Impl::build_model() {
  // Same seed on every rank gives the same initial model; rank 0's is broadcast anyway so that
  // nothing depends on that.
  torch::manual_seed(cfg.seed);
  model = make_model(model_spec(cfg, *train_set));
  model->to(device);
  parameters = realtrain::parameter_count(*model);
  // Streaming DiLoCo cuts the parameters into F element ranges of at least one scalar each
  // (docs/diloco.md): refused here, on every rank alike, before anything is written.
  if (policy.outer_steps() && policy.fragments > parameters)
    throw ConfigError("train.sync = " + cfg.sync + ": F = " + std::to_string(policy.fragments) +
                      " fragments but model '" + cfg.model + "' has " + std::to_string(parameters) +
                      " parameters (F must divide H and be at most the parameter count)");
  precision = parse_precision(cfg.precision);
  groups = param_groups(*model);
  std::vector<optim::GroupOptions> gopts;
  for (auto& g : groups) {
    params.push_back(g.param);
    gopts.push_back(g.options);
  }
  if (pg.world > 1) {
    torch::NoGradGuard no_grad;
    for (auto& p : params) {
      const optim::BufferRef r = float_ref(p);
      pg.global->broadcast({&r, 1}, 0);
    }
  }
  opt = std::make_unique<optim::Optimizer<TorchBackend>>(ocfg, gopts);
  if (cfg.precondition == "kfac")
    kfac = std::make_unique<Kfac>(*model, cfg.model,
                                  KfacConfig{cfg.kfac_damping, cfg.kfac_decay, cfg.precond_every,
                                             cfg.kfac_stats_every, cfg.kfac_pi_damping});
  if (pg.world > 1) {
    grad_sync = std::make_unique<GradientSynchronizer>(
        params, *pg.global, static_cast<std::size_t>(cfg.bucket_mb * 1024.0 * 1024.0), !cfg.no_overlap);
  }
  // Two gradients of different batches: a rank's and the all-reduced one, or with accumulation
  // a micro-batch's and the whole batch's (observe_noise).
  if (pg.world > 1 || cfg.accumulate > 1) noise = std::make_unique<optim::NoiseScaleEstimator>(cfg.noise_scale_ema);
}

Trainer::Trainer(TrainConfig cfg, ProcessGroup& pg, nlohmann::json provenance)
    : impl_(std::make_unique<Impl>(std::move(cfg), pg, std::move(provenance))) {
  validate_train_config(impl_->cfg, pg.world);  // the one validation of the settings
  impl_->setup_execution();
  impl_->open_data();
  impl_->plan_schedule();
  impl_->build_model();
}

Trainer::~Trainer() = default;

Model& Trainer::model() { return *impl_->model; }
std::vector<torch::Tensor> Trainer::parameters() const { return impl_->params; }
std::int64_t Trainer::steps_per_epoch() const { return impl_->sampler->steps_per_epoch(); }
std::int64_t Trainer::total_steps() const { return impl_->total_steps; }
std::int64_t Trainer::parameter_count() const { return impl_->parameters; }
std::int64_t Trainer::global_batch(std::int64_t step) const { return impl_->batches->batch_at(step); }
std::int64_t Trainer::examples_before(std::int64_t step) const { return impl_->batches->examples_before(step); }

// ---- Restore: a fresh start or a resume ----

// Optimizer state exists from the start so checkpoints (and momentum averaging) see it.
std::vector<torch::Tensor> Trainer::Impl::state_buffers() {
  std::vector<torch::Tensor> out;
  for (std::size_t i = 0; i < params.size(); ++i)
    for (auto& [name, buf] : opt->rule().state(i)) out.push_back(*buf);
  return out;
}

// Every rank its own file: local SGD and BN statistics differ per rank.
std::string Trainer::Impl::checkpoint_path() const {
  return (out_dir / "checkpoint" / ("rank" + std::to_string(pg.rank) + ".pt")).string();
}

void Trainer::Impl::begin_run() {
  out_dir = cfg.output;
  if (pg.rank == 0) std::filesystem::create_directories(out_dir);
  metrics = std::make_unique<MetricsLog>(out_dir / "metrics.csv", pg.rank == 0);
  opt->init_state(params);
  model_buffers = model->buffers();
  progress = RunProgress{};
  param_refs.clear();
  for (auto& p : params) param_refs.push_back(float_ref(p));
  state_refs.clear();
  for (auto& b : state_buffers()) state_refs.push_back(float_ref(b));
  // Every rank starts from rank 0's parameters (build_model), the outer step's first theta; a
  // resume then restores theta and the rest of the outer state from the checkpoint (restore()
  // copies into the same tensors, so the views above stay valid).
  if (policy.outer_steps()) diloco = std::make_unique<optim::DilocoSync>(
        policy, std::vector<std::vector<optim::BufferRef>>{param_refs}, pg.rank, cfg.seed);
  if (cfg.resume) {
    restore();
  } else {
    metrics->reset(MetricsLog::kHeader);
  }
}

// Parameters, model buffers, optimizer state and counters, the metrics rows, the noise scale and
// the run's progress from this rank's checkpoint; every rank must be at the same step.
void Trainer::Impl::restore() {
  const std::string path = checkpoint_path();
  const CheckpointState s = load_checkpoint(path);
  restore_tensors(s);
  opt->restore_counters(s.step, s.prev_lr);
  if (noise && !s.noise_scale.empty()) noise->restore_state(s.noise_scale);
  restore_progress(s);
  restore_outer(s);
  if (pg.world > 1) {
    double v = static_cast<double>(s.step);
    allreduce_mean_host(pg, &v, 1, device);
    if (v != static_cast<double>(s.step))
      throw std::runtime_error("checkpoints of the ranks are at different steps (rank " + std::to_string(pg.rank) +
                               " at " + std::to_string(s.step) + ")");
  }
  metrics->reset(s.metrics_csv);  // rows a stopped run wrote after its checkpoint are dropped
}

void Trainer::Impl::restore_tensors(const CheckpointState& s) {
  std::vector<torch::Tensor> state = state_buffers();
  if (s.params.size() != params.size() || s.buffers.size() != model_buffers.size() ||
      s.optimizer_state.size() != state.size())
    throw std::runtime_error("checkpoint " + checkpoint_path() + " does not match model '" + cfg.model +
                             "' / optimizer '" + cfg.optimizer + "'");
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(s.params[i]);
  for (std::size_t i = 0; i < model_buffers.size(); ++i) model_buffers[i].copy_(s.buffers[i]);
  for (std::size_t i = 0; i < state.size(); ++i) state[i].copy_(s.optimizer_state[i]);
  const std::vector<torch::Tensor> pre = kfac ? kfac->state() : std::vector<torch::Tensor>{};
  if (s.preconditioner_state.size() != pre.size())
    throw std::runtime_error("checkpoint " + checkpoint_path() + " does not match --precondition " + cfg.precondition);
  for (std::size_t i = 0; i < pre.size(); ++i) pre[i].copy_(s.preconditioner_state[i]);
}

// DiLoCo's outer state (theta, outer momentum, fragments in flight, counters), which a checkpoint
// holds exactly when its run was a DiLoCo run.
void Trainer::Impl::restore_outer(const CheckpointState& s) {
  if (!diloco && s.outer.empty()) return;
  if (!diloco)
    throw std::runtime_error("checkpoint " + checkpoint_path() + " holds DiLoCo outer state, but train.sync = " +
                             cfg.sync);
  if (s.outer.empty())
    throw std::runtime_error("checkpoint " + checkpoint_path() +
                             " holds no DiLoCo outer state (written by a run with another sync policy), but train.sync = " +
                             cfg.sync);
  try {
    diloco->restore_state(s.outer);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("checkpoint " + checkpoint_path() + ": " + e.what());
  }
}

namespace {

std::string shape_of(const torch::Tensor& t) {
  std::string out = "[";
  for (std::int64_t d = 0; d < t.dim(); ++d) out += (d ? ", " : "") + std::to_string(t.size(d));
  return out + "]";
}

// The first tensor whose count or shape differs, in words; empty when all match.
std::string tensors_mismatch(const char* what, const std::vector<torch::Tensor>& saved,
                             const std::vector<torch::Tensor>& mine) {
  if (saved.size() != mine.size())
    return std::to_string(saved.size()) + " " + what + " tensors in the checkpoint, " + std::to_string(mine.size()) +
           " in this run";
  for (std::size_t i = 0; i < saved.size(); ++i)
    if (!saved[i].sizes().equals(mine[i].sizes()))
      return std::string(what) + " " + std::to_string(i) + " has shape " + shape_of(saved[i]) +
             " in the checkpoint, " + shape_of(mine[i]) + " in this run";
  return "";
}

}  // namespace

std::string Trainer::checkpoint_mismatch(const CheckpointState& s) {
  Impl& m = *impl_;
  m.opt->init_state(m.params);  // the state tensors' shapes (begin_run initialises them again)
  const std::string who = "model '" + m.cfg.model + "', optimizer '" + m.cfg.optimizer + "': ";
  for (const std::string& w : {tensors_mismatch("parameter", s.params, m.params),
                               tensors_mismatch("model buffer", s.buffers, m.model->buffers()),
                               tensors_mismatch("optimizer state", s.optimizer_state, m.state_buffers())})
    if (!w.empty()) return who + w;
  const auto ex = s.progress.find("examples");
  const std::int64_t mine = m.batches->examples_before(s.step);
  if (ex != s.progress.end() && ex->second != static_cast<double>(mine))
    return "the checkpoint did " + std::to_string(static_cast<std::int64_t>(ex->second)) + " examples in " +
           std::to_string(s.step) + " steps, this run's batch size / schedule gives " + std::to_string(mine);
  if (s.step > 0) {
    const double lr = m.schedule->lr_at(s.step - 1) * m.batches->lr_factor_at(s.step - 1);
    if (std::abs(lr - s.prev_lr) > 1e-6 * std::abs(lr))
      return "the checkpoint's last update (step " + std::to_string(s.step - 1) + ") used lr " +
             optim::format_number(s.prev_lr) + ", this run's schedule gives " + optim::format_number(lr);
  }
  return "";
}

// The names under which RunProgress travels in a checkpoint (CheckpointState::progress). wall_s,
// comm_s, data_s and examples are the names older checkpoints load under (checkpoint.h).
std::map<std::string, double> Trainer::Impl::progress_values() const {
  const RunProgress& p = progress;
  return {{"examples", static_cast<double>(p.examples)},
          {"wall_s", p.wall_s},
          {"comm_s", comm_seconds()},
          {"data_s", data_seconds()},
          {"window_loss_sum", p.window_loss_sum},
          {"window_steps", static_cast<double>(p.window_steps)},
          {"window_start_examples", static_cast<double>(p.window_start_examples)},
          {"window_start_wall_s", p.window_start_wall_s},
          {"last_eval_loss", p.last_eval.loss},
          {"last_eval_accuracy", p.last_eval.accuracy},
          {"noise_small_batch", p.noise_batches[0]},
          {"noise_big_batch", p.noise_batches[1]},
          {"comm_bytes", static_cast<double>(p.comm_bytes)}};
}

void Trainer::Impl::restore_progress(const CheckpointState& s) {
  const std::map<std::string, double>& v = s.progress;
  auto get = [&](const std::string& name, double fallback) {
    const auto it = v.find(name);
    return it == v.end() ? fallback : it->second;
  };
  RunProgress& p = progress;
  p.step = s.step;
  p.examples = batches->examples_before(s.step);
  // The examples done must be what this run's batch schedule says for that step: a resume with
  // other batch settings would silently shift the data order and the examples column.
  if (v.count("examples") && v.at("examples") != static_cast<double>(p.examples))
    throw std::runtime_error("checkpoint " + checkpoint_path() + " was written after " +
                             std::to_string(static_cast<std::int64_t>(v.at("examples"))) + " examples at step " +
                             std::to_string(s.step) + ", but this run's batch size / schedule gives " +
                             std::to_string(p.examples));
  p.wall_s = get("wall_s", 0.0);
  p.comm_s_before = get("comm_s", 0.0);
  p.data_s_before = get("data_s", 0.0);
  p.comm_bytes = static_cast<std::int64_t>(get("comm_bytes", 0.0));
  auto need = [&](const std::string& name) {
    const auto it = v.find(name);
    if (it == v.end()) throw std::runtime_error("checkpoint " + checkpoint_path() + " lacks " + name);
    return it->second;
  };
  if (!v.count("window_loss_sum")) {
    // Written before the window was saved: exact only if no window was open (a row at s.step).
    const std::int64_t last_row = last_row_step(s.metrics_csv);
    if (last_row != s.step)
      throw std::runtime_error("checkpoint " + checkpoint_path() + " (step " + std::to_string(s.step) +
                               ") predates saving the train losses since the row at step " +
                               std::to_string(last_row) +
                               ", so that window's train_loss cannot be continued: run again without --resume");
    p.window_start_examples = p.examples;
    p.window_start_wall_s = p.wall_s;
    return;
  }
  p.window_loss_sum = need("window_loss_sum");
  p.window_steps = static_cast<std::int64_t>(need("window_steps"));
  p.window_start_examples = static_cast<std::int64_t>(need("window_start_examples"));
  p.window_start_wall_s = need("window_start_wall_s");
  p.last_eval = {need("last_eval_loss"), need("last_eval_accuracy")};
  p.noise_batches = {need("noise_small_batch"), need("noise_big_batch")};
}

// ---- The training loop ----

void Trainer::Impl::start_loop() {
  loader = std::make_unique<data::Loader>(train_set, *sampler, /*train=*/true, cfg.seed, cfg.loader_threads,
                                          /*prefetch=*/4, progress.step);
  comm_avg_s = 0.0;
  sync_comm_start = grad_sync ? grad_sync->comm_seconds() : 0.0;
  data_wait_start = loader->wait_seconds();
  model->train();
}

// Communication and data-wait seconds of the whole run so far (earlier processes included).
double Trainer::Impl::comm_seconds() const {
  return progress.comm_s_before + (grad_sync ? grad_sync->comm_seconds() - sync_comm_start : 0.0) + comm_avg_s;
}
double Trainer::Impl::data_seconds() const {
  return progress.data_s_before + (loader ? loader->wait_seconds() - data_wait_start : 0.0);
}

// One update (update number progress.step): forward/backward on this rank's slice of B_k (in
// cfg.accumulate micro-batches), gradients all-reduced when the sync policy says so, the
// noise-scale observation, the optimizer step at lr_at(step), parameters averaged when due.
// Returns this rank's loss.
double Trainer::Impl::train_step() {
  const auto t0 = Clock::now();
  const std::int64_t step = progress.step;
  data::Batch batch = loader->next();
  const std::int64_t global_batch = batches->batch_at(step);  // the schedule's B_k
  if (batch.step != step || batch.count * pg.world != global_batch)
    throw std::logic_error("loader delivered step " + std::to_string(batch.step) + " with " +
                           std::to_string(batch.count) + " examples per rank for step " + std::to_string(step) +
                           " of global batch " + std::to_string(global_batch));
  const BatchTensors data = batch_tensors(batch, *train_set, device);
  const bool reduce = pg.world > 1 && policy.allreduce_gradients(step);
  if (kfac) kfac->begin_update(step, batch.count);
  double micro_sq_norm = kNaN;
  const double l = accumulate_gradients(data, reduce, micro_sq_norm);
  std::vector<torch::Tensor> grads;
  grads.reserve(params.size());
  for (auto& p : params) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);  // unused this step
    grads.push_back(p.grad());
  }
  if (noise) observe_noise(batch, global_batch, reduce, micro_sq_norm);
  // K-FAC's factors are all-reduced when the gradients are (kfac.h).
  if (kfac) kfac->precondition(step, reduce ? pg.global.get() : nullptr);
  {
    torch::NoGradGuard no_grad;
    opt->step(params, grads, schedule->lr_at(step) * batches->lr_factor_at(step));
  }
  if (pg.world > 1 || diloco) average_parameters(step);
  progress.step = step + 1;
  progress.examples += global_batch;
  progress.window_loss_sum += l;
  ++progress.window_steps;
  progress.wall_s += seconds_since(t0);
  return l;
}

// Forward/backward on cfg.accumulate equal micro-batches, each loss divided by their number,
// so the gradients add up to the gradient of the mean loss over the rank's batch (objective.h);
// only the last backward all-reduces (overlapped with it, as without accumulation). Returns the
// rank's mean loss; with accumulation, micro_sq_norm = |gradient of micro-batch 0|^2.
double Trainer::Impl::accumulate_gradients(const BatchTensors& data, bool reduce, double& micro_sq_norm) {
  const std::int64_t n = cfg.accumulate;
  // Gradients are reset to undefined rather than zeroed: the first backward then hands its
  // fresh gradient tensors over (AccumulateGrad steals them) instead of adding them to zeros,
  // which saves two passes over every gradient per step. Values are identical (0 + g == g).
  for (auto& p : params) p.mutable_grad().reset();
  double loss_sum = 0.0;
  for (std::int64_t k = 0; k < n; ++k) {
    if (grad_sync) grad_sync->prepare(reduce && k + 1 == n);
    const torch::Tensor loss = batch_loss(*model, n == 1 ? data : data.slice(k, n), precision);
    (n == 1 ? loss : loss / static_cast<double>(n)).backward();
    if (grad_sync) grad_sync->finish();
    loss_sum += loss.item<double>();
    if (k == 0 && n > 1) {
      // The .grads hold micro-batch 0's gradient / n; a local finish() has just measured it.
      const double sq = grad_sync ? grad_sync->local_grad_sq_norm() : grad_sq_norm(params);
      micro_sq_norm = sq * static_cast<double>(n * n);
    }
  }
  return loss_sum / static_cast<double>(n);
}

// One noise-scale observation (McCandlish et al.), from two gradients of the same update:
//  - accumulation (cfg.accumulate > 1): small = this rank's micro-batch 0, B_small = B_k /
//    (ranks x accumulate); big = the whole batch's gradient, B_big = B_k: the all-reduced
//    gradient with several ranks (on steps that all-reduce), this rank's own with one;
//  - otherwise (several ranks, a step that all-reduces): small = this rank's gradient,
//    B_small = B_k / ranks; big = the all-reduced one, B_big = B_k.
// Under a batch schedule both are this update's B_k.
void Trainer::Impl::observe_noise(const data::Batch& batch, std::int64_t global_batch, bool reduce,
                                  double micro_sq_norm) {
  const bool whole_batch = pg.world == 1 || reduce;
  if (!whole_batch) return;
  const double big_sq = grad_sync ? grad_sync->reduced_grad_sq_norm() : grad_sq_norm(params);
  if (cfg.accumulate > 1) {
    progress.noise_batches = {static_cast<double>(batch.count / cfg.accumulate), static_cast<double>(global_batch)};
    noise->update(micro_sq_norm, progress.noise_batches[0], big_sq, progress.noise_batches[1]);
  } else {
    progress.noise_batches = {static_cast<double>(batch.count), static_cast<double>(global_batch)};
    noise->update(grad_sync->local_grad_sq_norm(), progress.noise_batches[0], big_sq, progress.noise_batches[1]);
  }
}

// Parameters (and, if asked, optimizer state) averaged when the sync policy says so, or under
// DiLoCo the outer step of the fragment due; the bytes this rank sent are counted either way.
void Trainer::Impl::average_parameters(std::int64_t step) {
  const auto t0 = Clock::now();
  if (diloco) {
    const std::int64_t before = diloco->stats().bytes_sent;
    diloco->after_update(step, *pg.global);
    progress.comm_bytes += diloco->stats().bytes_sent - before;
  } else {
    std::vector<std::vector<optim::BufferRef>> mom;
    if (policy.average_momentum) mom.push_back(state_refs);
    optim::apply_parameter_averaging(policy, step, *pg.global, pg.node.get(), {param_refs}, mom);
    std::int64_t state_count = 0;
    for (const auto& r : state_refs) state_count += static_cast<std::int64_t>(r.count);
    progress.comm_bytes += policy.bytes_sent(step, parameters, state_count);
  }
  comm_avg_s += seconds_since(t0);
}

// ---- Evaluation and the metrics log ----

// One metrics row after update progress.step: the window's mean training loss over all ranks,
// the test set, images/s of the window's training time, the noise scale; then a new window.
EvalResult Trainer::Impl::evaluate_and_log() {
  RunProgress& p = progress;
  double train_loss[2] = {p.window_loss_sum, static_cast<double>(p.window_steps)};
  allreduce_mean_host(pg, train_loss, 2, device);
  p.last_eval = evaluate(*model, *test_set, cfg.eval_examples, pg, device, precision);
  const double interval = p.wall_s - p.window_start_wall_s;
  MetricsRow row;
  row.step = p.step;
  row.examples = p.examples;
  row.epoch = static_cast<double>(p.examples) / static_cast<double>(epoch_examples);  // train_config.h's epochs
  row.lr = schedule->lr_at(p.step - 1) * batches->lr_factor_at(p.step - 1);  // of the last update
  row.train_loss = train_loss[0] / train_loss[1];
  row.eval_loss = p.last_eval.loss;
  row.eval_accuracy = p.last_eval.accuracy;
  row.img_per_s = interval > 0.0 ? static_cast<double>(p.examples - p.window_start_examples) / interval : 0.0;
  if (noise) {
    row.b_simple = noise->b_simple();
    row.grad_sq = noise->grad_sq();
    row.trace_sigma = noise->trace_sigma();
  }
  row.wall_s = p.wall_s;
  row.comm_bytes = p.comm_bytes;
  metrics->append(row);
  p.window_loss_sum = 0.0;
  p.window_steps = 0;
  p.window_start_examples = p.examples;
  p.window_start_wall_s = p.wall_s;
  return p.last_eval;
}

// ---- Checkpointing ----

void Trainer::Impl::save() {
  CheckpointState s;
  s.step = progress.step;
  s.prev_lr = opt->prev_lr();
  s.params = params;
  s.buffers = model_buffers;
  s.optimizer_state = state_buffers();
  if (kfac) s.preconditioner_state = kfac->state();
  s.metrics_csv = metrics->text();
  if (noise) s.noise_scale = noise->save_state();
  s.progress = progress_values();
  if (diloco) s.outer = diloco->save_state();
  save_checkpoint(checkpoint_path(), s);
}

// ---- The summary ----

TrainResult Trainer::Impl::finish(const std::string& status, std::int64_t steps_to_target) const {
  const RunProgress& p = progress;
  TrainResult r;
  r.status = status;
  r.steps = p.step;
  r.steps_to_target = steps_to_target;
  r.final_accuracy = p.last_eval.accuracy;
  r.final_eval_loss = p.last_eval.loss;
  r.wall_s = p.wall_s;
  r.comm_s = comm_seconds();
  r.data_s = data_seconds();
  r.compute_s = std::max(0.0, p.wall_s - r.comm_s - r.data_s);
  // p.examples counts the batches the loader delivered (each checked against the schedule)
  // and, from the schedule, those before a resume.
  r.examples = batches->examples_before(r.steps);
  if (r.examples != p.examples)
    throw std::logic_error("trained on " + std::to_string(p.examples) + " examples, the batch schedule says " +
                           std::to_string(r.examples) + " after " + std::to_string(r.steps) + " steps");
  r.img_per_s = p.wall_s > 0.0 ? static_cast<double>(r.examples) / p.wall_s : 0.0;
  // Every example of a language model is a window of `context` predicted tokens.
  if (model->is_language_model()) r.tokens_per_s = r.img_per_s * static_cast<double>(gpt_shape(cfg.model).context);
  r.parameters = parameters;
  r.noise_small_batch = p.noise_batches[0];
  r.noise_big_batch = p.noise_batches[1];
  r.b_simple = noise ? noise->b_simple() : kNaN;
  return r;
}

// Every setting as resolved (defaults written out, lr after scaling, warm-up in steps).
nlohmann::json Trainer::Impl::config_json() const {
  const TrainConfig& c = cfg;
  return {{"dataset", c.dataset}, {"data-dir", resolved_data_dir(c)}, {"model", c.model},
          {"zero-init-residual", c.zero_init_residual}, {"batch-size", c.batch_size},
          {"accumulate", c.accumulate}, {"precision", c.precision},
          {"batch-milestones", c.batch_milestones}, {"batch-factor", c.batch_factor}, {"batch-max", c.batch_max},
          {"batch-lr-coupling", c.batch_lr_coupling},
          {"optimizer", c.optimizer}, {"lr", c.lr}, {"lr_scaled", base_lr}, {"momentum", c.momentum},
          {"weight-decay", c.weight_decay}, {"beta1", ocfg.beta1}, {"beta2", ocfg.beta2},
          {"eps", ocfg.eps}, {"trust-coefficient", c.trust_coefficient},
          {"max-grad-norm", c.max_grad_norm}, {"precond-every", c.precond_every},
          {"precond-eps", c.precond_eps}, {"precond-warmup", c.precond_warmup},
          {"shampoo-max-dim", c.shampoo_max_dim}, {"shampoo-graft", c.shampoo_graft},
          {"precondition", c.precondition}, {"kfac-damping", c.kfac_damping}, {"kfac-decay", c.kfac_decay},
          {"kfac-stats-every", c.kfac_stats_every}, {"kfac-pi-damping", c.kfac_pi_damping}, {"scaling", c.scaling}, {"batch-ref", c.batch_ref},
          {"warmup", c.warmup}, {"warmup-steps", schedule->config().warmup_steps},
          {"schedule", c.schedule}, {"milestones", c.milestones}, {"decay-factor", c.decay_factor},
          {"sync", policy.to_string()}, {"average-momentum", c.average_momentum},
          {"outer", c.outer}, {"outer-lr", c.outer_lr}, {"outer-momentum", c.outer_momentum},
          {"outer-bits", c.outer_bits}, {"outer-rounding", c.outer_rounding},
          {"outer-overlap", c.outer_overlap}, {"outer-overlap-steps", c.outer_overlap_steps},
          {"backend", c.backend}, {"bucket-mb", c.bucket_mb}, {"no-overlap", c.no_overlap},
          {"noise-scale-ema", c.noise_scale_ema}, {"epochs", c.epochs}, {"steps", total_steps},
          {"eval-every", c.eval_every}, {"eval-examples", c.eval_examples}, {"target", c.target},
          {"target-loss", c.target_loss}, {"seed", c.seed},
          {"threads", threads}, {"loader-threads", c.loader_threads}, {"output", c.output},
          {"checkpoint-every", c.checkpoint_every}, {"resume", c.resume}};
}

// OUTPUT/summary.json (rank 0): the result, the resolved settings and the provenance.
void Trainer::Impl::write_summary(const TrainResult& r) const {
  nlohmann::json prov = provenance;
  prov["torch_version"] = torch_version();
  prov["mpi_version"] = mpi_library_version();
  prov["ranks"] = pg.world;
  prov["threads_per_rank"] = threads;
  prov["backend"] = pg.backend;
  prov["device"] = device.str();
  const bool reached = r.steps_to_target >= 0;
  nlohmann::json j = {
      {"status", r.status},
      {"steps", r.steps},
      {"examples", r.examples},
      {"steps_to_target", reached ? nlohmann::json(r.steps_to_target) : nlohmann::json()},
      {"examples_to_target", reached ? nlohmann::json(batches->examples_before(r.steps_to_target)) : nlohmann::json()},
      {"target", cfg.target > 0.0 ? nlohmann::json(cfg.target) : nlohmann::json()},
      {"target_loss", cfg.target_loss > 0.0 ? nlohmann::json(cfg.target_loss) : nlohmann::json()},
      {"parameters", parameters},
      {"final_accuracy", nullable(r.final_accuracy)},
      {"final_eval_loss", nullable(r.final_eval_loss)},
      {"wall_s", r.wall_s},
      {"img_per_s", r.img_per_s},
      {"time_split", {{"compute_s", r.compute_s}, {"communication_s", r.comm_s}, {"data_s", r.data_s}}},
      {"b_simple", nullable(r.b_simple)},
      {"config", config_json()},
      {"provenance", prov}};
  j["comm_bytes"] = progress.comm_bytes;
  if (diloco) {
    const optim::DilocoStats& d = diloco->stats();
    j["diloco"] = {{"outer_steps", d.outer_steps},
                   {"quant_relative_error", d.total_error.relative()},
                   {"quant_max_error_over_bound", d.total_error.max_over_bound}};
  }
  if (!batches->constant()) {
    nlohmann::json phases = nlohmann::json::array();
    for (const auto& p : batches->phases())
      phases.push_back({{"first_step", p.first_step}, {"examples_before", p.examples_before}, {"batch", p.batch}});
    j["batch_phases"] = phases;
  }
  if (model->is_language_model()) {
    // Byte tokens: a token is a byte, so nats per token / ln 2 = bits per byte.
    j["final_bits_per_byte"] = nullable(r.final_eval_loss / std::log(2.0));
    j["tokens_per_s"] = r.tokens_per_s;
    j["metric_note"] = "eval_loss and final_eval_loss: mean next-byte cross-entropy in nats per token over the "
                       "validation windows; final_accuracy: next-byte accuracy";
  }
  if (!noise)
    j["b_simple_note"] =
        "not measured: the noise scale needs two gradients of one update (>= 2 ranks, or --accumulate >= 2)";
  optim::write_file_atomic(out_dir / "summary.json", j.dump(2) + "\n");
}

// ---- The run: restore, loop (train, evaluate + log, checkpoint), summary ----

TrainResult Trainer::run() {
  Impl& m = *impl_;
  const TrainConfig& c = m.cfg;
  m.begin_run();
  m.start_loop();
  optim::TrialStatus status = optim::TrialStatus::kNotReached;
  std::int64_t steps_to_target = -1;
  while (m.progress.step < m.total_steps) {
    const double loss = m.train_step();
    const std::int64_t done = m.progress.step;
    const bool diverged = !std::isfinite(loss);
    if (done % c.eval_every == 0 || done == m.total_steps || diverged) {
      const EvalResult e = m.evaluate_and_log();
      if (diverged || !std::isfinite(e.loss)) {
        status = optim::TrialStatus::kDiverged;
        break;
      }
      if ((c.target > 0.0 && e.accuracy >= c.target) || (c.target_loss > 0.0 && e.loss <= c.target_loss)) {
        status = optim::TrialStatus::kReached;
        steps_to_target = done;
        break;
      }
    }
    if (c.checkpoint_every > 0 && done % c.checkpoint_every == 0) m.save();
  }
  const TrainResult result = m.finish(to_string(status), steps_to_target);
  if (m.pg.rank == 0) m.write_summary(result);
  m.loader.reset();
  return result;
}

}  // namespace batchlab::realtrain
