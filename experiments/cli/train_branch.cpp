#include "experiments/cli/train_branch.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <sstream>
#include <thread>

#include "experiments/engine/branching.h"
#include "experiments/engine/plots.h"
#include "optim/config.h"
#include "optim/io.h"
#include "realtrain/checkpoint.h"
#include "realtrain/data/data_error.h"
#include "realtrain/trainer.h"

namespace batchlab::cli {

namespace fs = std::filesystem;
using experiments::BranchPoint;
using experiments::BranchSettings;
using optim::ConfigError;

boost::program_options::options_description train_branch_options(TrainBranchOptions& o) {
  namespace po = boost::program_options;
  po::options_description d("branched critical batch (Merrill et al. 2025) and CBS batch warm-up");
  d.add_options()
      ("branch-from", po::value(&o.from), "branch from the checkpoint of this run's --output (its checkpoint/rank<r>.pt)")
      ("branch-factors", po::value(&o.factors)->default_value(o.factors), "batch multipliers k to test, >= 2, increasing")
      ("branch-examples", po::value(&o.examples)->default_value(o.examples), "examples every branch and the reference train")
      ("branch-epsilon", po::value(&o.epsilon)->default_value(o.epsilon), "accept k when the loss gap is <= this")
      ("branch-gap", po::value(&o.gap)->default_value(o.gap), "gap: progress | relative | absolute (experiments/engine/branching.h)")
      ("branch-lr-coupling", po::value(&o.lr_coupling)->default_value(o.lr_coupling), "lr of a branch: auto | linear | sqrt")
      ("warmup-every", po::value(&o.warmup_every)->default_value(o.warmup_every), "CBS warm-up: test doubling the batch every this many examples")
      ("warmup-examples", po::value(&o.warmup_examples)->default_value(o.warmup_examples), "CBS warm-up: the run's length in examples")
      ("warmup-max-batch", po::value(&o.warmup_max_batch)->default_value(o.warmup_max_batch), "CBS warm-up: never grow beyond (0: no cap)");
  return d;
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string join(const std::vector<std::int64_t>& v) {
  std::string s;
  for (std::int64_t x : v) {
    if (!s.empty()) s += ',';
    s += std::to_string(x);
  }
  return s;
}

std::string checkpoint_file(const fs::path& run_dir, int rank) {
  return (run_dir / "checkpoint" / std::string("rank").append(std::to_string(rank)).append(".pt")).string();
}

// eval_loss of the metrics row at `step` (the trainer's metrics.csv text); NaN when none.
double eval_loss_at(const std::string& csv, std::int64_t step) {
  std::istringstream in(csv);
  std::string line;
  if (!std::getline(in, line)) return kNaN;
  const std::vector<std::string> head = optim::split_list(line);
  std::size_t col = head.size();
  for (std::size_t i = 0; i < head.size(); ++i)
    if (head[i] == "eval_loss") col = i;
  while (std::getline(in, line)) {
    const std::vector<std::string> f = optim::split_list(line);
    if (col < f.size() && optim::to_int(f[0]) == step) return optim::to_double(f[col]).value_or(kNaN);
  }
  return kNaN;
}

// One training process of a branch or of the warm-up's run: `base` with the batch schedule, its
// length and output replaced; resumed from DIR/checkpoint when `resume`.
realtrain::TrainConfig segment_config(const realtrain::TrainConfig& base, const optim::BatchScheduleConfig& s,
                                      std::int64_t steps, const fs::path& out, bool resume) {
  realtrain::TrainConfig c = base;
  c.batch_milestones = join(s.milestones);
  c.batch_factor = s.milestones.empty() ? 1.0 : s.factor;
  c.batch_max = 0;
  // Without milestones the coupling has nothing to act on (and the trainer refuses it then).
  c.batch_lr_coupling = s.milestones.empty() ? "none" : optim::to_string(s.lr_coupling);
  c.steps = steps;
  c.epochs = 0.0;
  c.output = out.string();
  c.resume = resume;
  c.target = -1.0;
  c.target_loss = -1.0;
  return c;
}

// The trainer as a BranchRunner: branches resume copies of the branch point's checkpoint; the
// warm-up's own run continues in OUT/run and checkpoints where each test branches.
class TrainBranchRunner : public experiments::WarmupRunner {
 public:
  TrainBranchRunner(realtrain::TrainConfig cfg, realtrain::ProcessGroup& pg, nlohmann::json prov, fs::path out)
      : cfg_(std::move(cfg)), pg_(pg), prov_(std::move(prov)), out_(std::move(out)) {}

  // --branch-from: the branch point is that run's checkpoint, with loss L_0 (NaN: unknown).
  void branch_from(fs::path run_dir, std::int64_t step, double loss) {
    from_ = std::move(run_dir);
    step_ = step;
    loss_ = loss;
  }

  double loss_after(const optim::BatchScheduleConfig& s, std::int64_t steps, const std::string& label) override {
    const fs::path dir = out_ / "branches" / std::string("step").append(std::to_string(step_)) / label;
    fs::create_directories(dir / "checkpoint");
    fs::copy_file(checkpoint_file(from_, pg_.rank), checkpoint_file(dir, pg_.rank), fs::copy_options::overwrite_existing);
    realtrain::TrainConfig c = segment_config(cfg_, s, steps, dir, /*resume=*/true);
    c.checkpoint_every = 0;
    c.eval_every = steps;  // one evaluation, at the end
    realtrain::Trainer t(c, pg_, prov_);
    const realtrain::TrainResult r = t.run();
    if (pg_.rank == 0)
      std::printf("  %-10s batch %lld, %lld steps -> eval loss %.6g (%s)\n", label.c_str(),
                  static_cast<long long>(t.global_batch(steps - 1)), static_cast<long long>(steps - step_),
                  r.final_eval_loss, r.status.c_str());
    return r.status == "diverged" ? kNaN : r.final_eval_loss;
  }

  double loss_at_branch_point() override { return loss_; }

  void advance(const optim::BatchScheduleConfig& s, std::int64_t steps) override {
    const fs::path dir = out_ / "run";
    realtrain::TrainConfig c = segment_config(cfg_, s, steps, dir, /*resume=*/step_ > 0);
    c.checkpoint_every = steps;  // the one multiple of `steps` this process reaches is its end
    realtrain::Trainer t(c, pg_, prov_);
    const realtrain::TrainResult r = t.run();
    from_ = dir;
    step_ = steps;
    loss_ = r.status == "diverged" ? kNaN : r.final_eval_loss;
  }

 private:
  realtrain::TrainConfig cfg_;
  realtrain::ProcessGroup& pg_;
  nlohmann::json prov_;
  fs::path out_, from_;
  std::int64_t step_ = 0;
  double loss_ = kNaN;
};

struct Plan {
  BranchSettings settings;
  experiments::WarmupSettings warmup;
  BranchPoint point;
  std::string coupling_why;
  double loss_at_checkpoint = kNaN;
};

// Everything that can be wrong with the input, before any training (throws ConfigError).
Plan plan(const realtrain::TrainConfig& cfg, const TrainBranchOptions& o, realtrain::ProcessGroup& pg,
          const nlohmann::json& prov) {
  if (o.branching() && o.warmup()) throw ConfigError("--branch-from: not together with --warmup-* (the warm-up branches its own run)");
  if (cfg.resume) throw ConfigError("--resume: --branch-from and --warmup-* resume checkpoints themselves");
  if (!cfg.batch_milestones.empty())
    throw ConfigError("--batch-milestones = " + cfg.batch_milestones + ": branch a constant-batch run (the warm-up grows the batch itself)");
  if (!(cfg.schedule == "constant" || (cfg.schedule == "step" && cfg.milestones.empty())))
    throw ConfigError("--schedule = " + cfg.schedule + ": branches compare runs at a constant lr (constant, or step without milestones)");
  Plan p;
  BranchSettings& s = p.settings;
  s.factors = o.warmup() ? std::vector<std::int64_t>{2} : experiments::parse_branch_factors(o.factors);
  s.examples = o.examples;
  s.epsilon = o.epsilon;
  s.gap = experiments::parse_branch_gap(o.gap);
  if (o.lr_coupling != "auto" && o.lr_coupling != "linear" && o.lr_coupling != "sqrt")
    throw ConfigError("--branch-lr-coupling = " + o.lr_coupling + ": unknown (auto, linear, sqrt)");
  const optim::LrCoupling configured = optim::parse_lr_coupling(o.lr_coupling == "auto" ? cfg.batch_lr_coupling : o.lr_coupling);
  s.coupling = experiments::branch_lr_coupling(configured, optim::parse_scaling(cfg.scaling), cfg.optimizer, &p.coupling_why);
  experiments::validate(s);
  p.point.base_batch = cfg.batch_size;
  p.point.base_lr = realtrain::lr_scaling_rule(cfg).lr(static_cast<double>(cfg.batch_size), cfg.lr);
  p.point.multiple_of = pg.world;
  // The settings, the data and the model, checked by a Trainer that never runs (its length is the
  // branches' business: --steps / --epochs of the command line are not used).
  realtrain::TrainConfig probe_cfg = cfg;
  probe_cfg.steps = 1;
  probe_cfg.epochs = 0.0;
  if (o.warmup()) {
    p.warmup = {o.warmup_every, o.warmup_examples, o.warmup_max_batch, s};
    experiments::validate(p.warmup);
    realtrain::Trainer probe(probe_cfg, pg, prov);
    return p;
  }
  const std::int64_t biggest = s.factors.back() * cfg.batch_size;
  if (s.examples % biggest != 0)
    throw ConfigError("--branch-examples = " + std::to_string(s.examples) + ": must be a multiple of the largest branch batch " +
                      std::to_string(biggest) + " (every branch and the reference then see exactly that many examples)");
  realtrain::Trainer probe(probe_cfg, pg, prov);
  const std::string path = checkpoint_file(o.from, pg.rank);
  realtrain::CheckpointState ck;
  try {
    ck = realtrain::load_checkpoint(path);
  } catch (const std::exception& e) {
    throw ConfigError("--branch-from = " + o.from + ": " + e.what());
  }
  const std::string mismatch = probe.checkpoint_mismatch(ck);
  if (!mismatch.empty()) throw ConfigError("--branch-from = " + o.from + ": checkpoint of another run: " + mismatch);
  if (ck.step <= 0) throw ConfigError("--branch-from = " + o.from + ": the checkpoint is at step 0 (nothing trained to branch from)");
  p.point.step = ck.step;
  p.point.examples = probe.examples_before(ck.step);
  p.loss_at_checkpoint = eval_loss_at(ck.metrics_csv, ck.step);
  if (s.gap == experiments::BranchGap::kProgress && !std::isfinite(p.loss_at_checkpoint))
    throw ConfigError("--branch-from = " + o.from + ": the checkpoint (step " + std::to_string(ck.step) +
                      ") has no evaluation at its step, which --branch-gap progress needs; checkpoint at a multiple of --eval-every");
  return p;
}

void report_branches(const experiments::BranchReport& r) {
  std::printf("batchlab train: branched critical batch %s%lld (batch %lld at step %lld, %lld examples per branch)\n",
              r.below_first ? "<= " : "", static_cast<long long>(r.b_branch), static_cast<long long>(r.batch),
              static_cast<long long>(r.point.step), static_cast<long long>(r.settings.examples));
  for (const auto& row : r.rows)
    std::printf("  k %3lld batch %6lld lr %-10.4g loss %-10.6g reference %-10.6g gap %-10.4g %s\n",
                static_cast<long long>(row.factor), static_cast<long long>(row.batch), row.lr, row.loss_branch,
                row.loss_reference, row.gap, row.accepted ? "accepted" : "rejected");
}

}  // namespace

int run_train_branch(const realtrain::TrainConfig& cfg, const TrainBranchOptions& o, realtrain::ProcessGroup& pg,
                     const nlohmann::json& provenance) {
  const bool rank0 = pg.rank == 0;
  const char* who = "batchlab train";
  Plan p;
  try {
    p = plan(cfg, o, pg, provenance);
  } catch (const std::exception& e) {  // ConfigError, DataError, a checkpoint that cannot be read
    if (rank0) std::fprintf(stderr, "%s: %s\n", who, e.what());
    else std::this_thread::sleep_for(std::chrono::seconds(2));  // let rank 0 print before mpirun aborts
    return 2;
  }
  if (rank0) std::printf("%s: branch lr coupling %s (%s)\n", who, optim::to_string(p.settings.coupling).c_str(), p.coupling_why.c_str());
  const fs::path out = cfg.output;
  const nlohmann::json extra = {{"lr_coupling_from", p.coupling_why}, {"model", cfg.model},
                                {"optimizer", cfg.optimizer},         {"dataset", cfg.dataset},
                                {"ranks", pg.world},                  {"provenance", provenance}};
  TrainBranchRunner runner(cfg, pg, provenance, out);
  if (o.warmup()) {
    const experiments::WarmupResult r = experiments::run_cbs_warmup(p.point, p.warmup, runner);
    if (rank0) {
      nlohmann::json j = extra;
      j["run_dir"] = (out / "run").string();
      experiments::write_warmup_report(out, r, p.warmup, j);
      std::printf("%s: CBS warm-up: %zu tests, %zu doublings, %lld steps, %lld examples, final eval loss %.6g -> %s\n", who,
                  r.decisions.size(), r.schedule.milestones.size(), static_cast<long long>(r.steps),
                  static_cast<long long>(r.examples), r.final_loss, out.c_str());
      (void)experiments::run_plot_script("branches.py", {out.string()}, who);
    }
    return 0;
  }
  runner.branch_from(o.from, p.point.step, p.loss_at_checkpoint);
  const experiments::BranchReport r = experiments::run_branch_test(p.point, p.settings, runner);
  if (rank0) {
    nlohmann::json j = extra;
    j["branch_from"] = o.from;
    experiments::write_branch_report(out, r, j);
    report_branches(r);
    (void)experiments::run_plot_script("branches.py", {out.string()}, who);
    std::printf("results: %s\n", out.c_str());
  }
  return 0;
}

}  // namespace batchlab::cli
