// batchlab study's torch-free parts: config parsing and its errors, the per-trial `batchlab train`
// options (budget, evaluation interval, scaled lr grid), the launcher command line, the child
// process runner and reading a trial's summary back. Expected values are hand algebra.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "experiments/engine/real_study.h"
#include "optim/config.h"

namespace fs = std::filesystem;
using namespace batchlab::experiments;

namespace {

// Per process: ctest runs every test of this file as its own process, two at a time, and other
// build trees run the same tests on this machine.
fs::path scratch(const std::string& name) {
  const fs::path d =
      fs::temp_directory_path() / ("batchlab_test_real_study_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// scratch(name), removed again when it goes out of scope.
struct ScratchDir {
  explicit ScratchDir(const std::string& name) : path(scratch(name)) {}
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  const fs::path path;
};

// Parses INI text plus command-line overrides.
RealStudyConfig parse(const std::string& ini, std::vector<std::string> extra = {}) {
  const ScratchDir d("ini");
  const fs::path f = d.path / "my_study.ini";
  std::ofstream(f) << ini;
  std::vector<std::string> args = {"study", f.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  RealStudyConfig cfg;
  EXPECT_TRUE(parse_real_study_args(static_cast<int>(argv.size()), argv.data(), cfg));
  return cfg;
}

std::string parse_error(const std::string& ini, std::vector<std::string> extra = {}) {
  try {
    parse(ini, extra);
  } catch (const batchlab::optim::ConfigError& e) {
    return e.what();
  }
  return "";
}

const char* kBase =
    "[study]\nbatch_sizes = 16,256,4096\nlr_grid = 0.05,0.1\nmax_steps = 100\nmax_epochs = 2\n"
    "eval_every_examples = 1000\neval_every_max = 20\n"
    "[train]\nmodel = mlp:32\ntarget = 0.8\n";

std::string value_of(const ResolvedConfig& r, const std::string& key) {
  for (const auto& [k, v] : r)
    if (k == key) return v;
  return "<missing>";
}

bool has_arg(const std::vector<std::string>& a, const std::string& s) {
  return std::find(a.begin(), a.end(), s) != a.end();
}

}  // namespace

TEST(RealStudyConfig, ResolvesDefaultsAndEveryTrainOption) {
  const RealStudyConfig cfg = parse(kBase);
  EXPECT_EQ(cfg.study_name, "my_study");  // file stem
  EXPECT_EQ(cfg.output_dir, "results/my_study");
  EXPECT_EQ(cfg.train_examples, 60000);  // fashion-mnist
  EXPECT_EQ(cfg.optimizers, std::vector<std::string>{"momentum"});
  EXPECT_EQ(cfg.momenta, std::vector<double>{0.9});
  // [train] defaults are written out; per-trial keys are not part of the study config.
  EXPECT_EQ(value_of(cfg.resolved, "train.model"), "mlp:32");
  EXPECT_EQ(value_of(cfg.resolved, "train.warmup"), "none");
  EXPECT_EQ(value_of(cfg.resolved, "train.target"), "0.8");
  EXPECT_EQ(value_of(cfg.resolved, "train.batch-size"), "<missing>");
  EXPECT_EQ(value_of(cfg.resolved, "study.train_examples"), "60000");
  EXPECT_EQ(value_of(cfg.resolved, "launcher.ranks"), "1");
  // Command line beats the file.
  EXPECT_EQ(parse(kBase, {"--study.max_steps=7"}).max_steps, 7);
}

TEST(RealStudyConfig, BudgetAndEvaluationIntervalPerBatch) {
  const RealStudyConfig cfg = parse(kBase);
  // steps(B) = max(100, ceil(2 x 60000 / B)): 7500 at 16, 469 at 256 (468.75), 100 at 4096 (29.3).
  EXPECT_EQ(trial_steps(cfg, 16), 7500);
  EXPECT_EQ(trial_steps(cfg, 256), 469);
  EXPECT_EQ(trial_steps(cfg, 4096), 100);
  // eval every min(20, ceil(1000 / B)), >= 1: 20 at 16 (63), 4 at 256 (3.9), 1 at 4096.
  EXPECT_EQ(trial_eval_every(cfg, 16), 20);
  EXPECT_EQ(trial_eval_every(cfg, 256), 4);
  EXPECT_EQ(trial_eval_every(cfg, 4096), 1);
}

TEST(RealStudyConfig, TrialArgumentsAbsoluteGrid) {
  const RealStudyConfig cfg = parse(kBase);
  const StudyGrid g = make_real_grid(cfg);
  ASSERT_EQ(g.size(), 6);  // 3 batch sizes x 2 lrs x 1 momentum x 1 seed
  EXPECT_EQ(g.landscape, "fashion-mnist/mlp:32");
  const TrialPoint p = g.point(3);  // batch 256, lr 0.1
  ASSERT_EQ(p.batch_size, 256);
  ASSERT_DOUBLE_EQ(p.lr, 0.1);
  const auto a = trial_train_args(cfg, p, "/x/trial_00003");
  for (const char* s : {"--model=mlp:32", "--target=0.8", "--optimizer=momentum", "--momentum=0.9", "--lr=0.1",
                        "--batch-size=256", "--seed=0", "--steps=469", "--eval-every=4", "--threads=1",
                        "--output=/x/trial_00003"})
    EXPECT_TRUE(has_arg(a, s)) << s;
}

TEST(RealStudyConfig, ScaledGridMultipliesTheRuleLr) {
  const RealStudyConfig cfg = parse(
      "[study]\nbatch_sizes = 128,512\nlr_grid = scaled:0.5:2:3\nmax_steps = 10\n"
      "[train]\nlr = 0.1\nscaling = linear\nbatch-ref = 128\ntarget = 0.5\nzero-init-residual = true\n");
  const StudyGrid g = make_real_grid(cfg);
  ASSERT_EQ(g.size(), 6);
  // Multipliers logspace(0.5, 2, 3) = 0.5, 1, 2; rule lr at 512 = 0.1 x 512 / 128 = 0.4.
  const TrialPoint p = g.point(5);
  EXPECT_EQ(p.batch_size, 512);
  EXPECT_NEAR(p.lr_multiplier, 2.0, 1e-12);
  EXPECT_NEAR(p.lr, 0.8, 1e-12);
  const auto a = trial_train_args(cfg, p, "/x");
  // The child gets multiplier x lr_ref and applies the rule itself.
  EXPECT_TRUE(has_arg(a, "--lr=0.2"));
  EXPECT_TRUE(has_arg(a, "--scaling=linear"));
  EXPECT_TRUE(has_arg(a, "--batch-ref=128"));
  EXPECT_TRUE(has_arg(a, "--zero-init-residual"));  // a switch, passed bare
  EXPECT_FALSE(has_arg(a, "--zero-init-residual=true"));
}

TEST(RealStudyConfig, LauncherSubstitution) {
  const RealStudyConfig cfg = parse(std::string(kBase) +
                                    "[launcher]\ncommand = mpirun -np {ranks} -x OMP_NUM_THREADS={threads}\n"
                                    "ranks = 2\nthreads = 3\n");
  const auto c = child_command(cfg, "/bin/batchlab", {"--lr=1"});
  const std::vector<std::string> want = {"mpirun", "-np", "2", "-x", "OMP_NUM_THREADS=3", "/bin/batchlab", "train",
                                         "--lr=1"};
  EXPECT_EQ(c, want);
  EXPECT_EQ(trial_dir("out", 12), fs::path("out/trials/trial_00012"));
}

TEST(RealStudyConfig, BadInputIsOneLineNamingTheKey) {
  struct Case {
    std::string ini_or_override;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"[study]\nbogus = 1\n", "bogus"},
      {"[train]\nbatch-size = 64\n", "train.batch-size"},
      {"[train]\nthreads = 2\n", "launcher.threads"},
      {"[train]\nlr = 0.3\n", "train.lr"},                 // absolute grid ignores it
      {"[train]\nscaling = linear\n", "train.scaling"},    // only with a scaled grid
      {"[train]\nsteps = 5\n", "train.steps"},            // the study budget sets the length
      {"[train]\nno-such-option = 1\n", "no-such-option"},
      {"[launcher]\nranks = 2\n", "launcher.command"},    // several ranks need a launcher
      {"[launcher]\ncommand = mpirun\nranks = 3\n", "not divisible"},
      {"[study]\nmax_steps = 5\n", "study.max_steps given twice"},
  };
  for (const auto& c : cases) {
    // Later sections override kBase's only through distinct keys; append and parse.
    const std::string err = parse_error(std::string(kBase) + c.ini_or_override);
    EXPECT_NE(err.find(c.expect), std::string::npos) << c.ini_or_override << " -> " << err;
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  }
  EXPECT_NE(parse_error("[study]\nmax_steps = 10\n[train]\nmodel = mlp\n").find("train.target"), std::string::npos);
  EXPECT_NE(parse_error(kBase, {"--study.seeds=x"}).find("study.seeds"), std::string::npos);
  EXPECT_NE(parse_error(kBase, {"--study.lr_grid=log:0:1:3"}).find("study.lr_grid"), std::string::npos);
}

TEST(RealStudyChild, ExitStatusAndLog) {
  const ScratchDir scratch_dir("child");
  const fs::path& d = scratch_dir.path;
  EXPECT_EQ(run_child({"/bin/sh", "-c", "echo hello; echo oops >&2; exit 3"}, d / "log"), 3);
  std::ifstream in(d / "log");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(all, "hello\noops\n");
  EXPECT_EQ(run_child({"/bin/sh", "-c", "kill -9 $$"}, d / "log2"), 128 + 9);
  EXPECT_EQ(run_child({"/nonexistent/program"}, d / "log3"), 127);
}

TEST(RealStudyChild, ReadsSummaryAndCurve) {
  const ScratchDir scratch_dir("summary");
  const fs::path& d = scratch_dir.path;
  std::ofstream(d / "summary.json")
      << R"({"status": "reached", "steps": 40, "steps_to_target": 40, "final_accuracy": 0.61,
            "b_simple": 123.5, "img_per_s": 1000.0})";
  std::ofstream(d / "metrics.csv") << "step,examples,epoch,lr,train_loss,eval_loss,eval_accuracy,img_per_s\n"
                                      "20,1280,0.02,0.1,1.5,1.4,0.42,900\n40,2560,0.04,0.1,1.1,1.0,0.61,950\n";
  const RealTrialResult r = read_trial_result(d, true);
  EXPECT_EQ(r.outcome.status, TrialStatus::kReached);
  EXPECT_EQ(r.outcome.steps_to_target, 40);
  EXPECT_DOUBLE_EQ(r.outcome.final_metric, 0.61);
  EXPECT_DOUBLE_EQ(r.b_simple, 123.5);
  EXPECT_EQ(r.steps, 40);
  ASSERT_EQ(r.outcome.curve.size(), 2u);
  EXPECT_EQ(r.outcome.curve[1].step, 40);
  EXPECT_DOUBLE_EQ(r.outcome.curve[0].value, 0.42);

  std::ofstream(d / "summary.json")
      << R"({"status": "diverged", "steps": 3, "steps_to_target": null, "final_accuracy": null, "b_simple": null})";
  const RealTrialResult dv = read_trial_result(d, false);
  EXPECT_EQ(dv.outcome.status, TrialStatus::kDiverged);
  EXPECT_EQ(dv.outcome.steps_to_target, -1);
  EXPECT_TRUE(std::isnan(dv.outcome.final_metric));
  EXPECT_TRUE(std::isnan(dv.b_simple));

  fs::remove(d / "summary.json");
  EXPECT_THROW(read_trial_result(d, false), std::runtime_error);
}

TEST(RealStudyConfig, TrainBatchScheduleCountsTheTrialsExamples) {
  // [train] batch-milestones = 1000, batch-factor 2 on 2 ranks: at B = 64 the batch becomes 128
  // after ceil(1000 / 64) = 16 updates (1024 examples), so 20 updates are 1024 + 4 x 128 = 1536
  // examples; the trainer counts them with the same optim::BatchSchedule.
  const RealStudyConfig cfg = parse(
      "[study]\nbatch_sizes = 64,256\nlr_grid = 0.1\nmax_steps = 20\n"
      "[launcher]\ncommand = mpirun -np {ranks}\nranks = 2\n"
      "[train]\ntarget = 0.5\nbatch-milestones = 1000\nbatch-factor = 2\n");
  const StudyGrid g = make_real_grid(cfg);
  EXPECT_DOUBLE_EQ(g.examples(64, 20.0), 1536.0);
  EXPECT_DOUBLE_EQ(g.examples(256, 3.0), 768.0);  // 1000 not yet reached
  const RealStudyConfig plain = parse(kBase);
  EXPECT_DOUBLE_EQ(make_real_grid(plain).examples(16, 10.0), 160.0);
  // A cap below a study batch size is a config error before any trial.
  EXPECT_NE(parse_error("[study]\nbatch_sizes = 64,256\nlr_grid = 0.1\nmax_steps = 20\n"
                        "[train]\ntarget = 0.5\nbatch-milestones = 1000\nbatch-factor = 2\nbatch-max = 128\n")
                .find("batch size 256"),
            std::string::npos);
  EXPECT_NE(parse_error("[study]\nbatch_sizes = 64\nlr_grid = 0.1\nmax_steps = 20\n"
                        "[train]\ntarget = 0.5\nbatch-milestones = 2000,1000\nbatch-factor = 2\n")
                .find("train.batch-milestones"),
            std::string::npos);
}

TEST(RealStudyConfig, EpochBudgetUnderABatchScheduleCountsExamples) {
  // study.max_epochs is a budget in examples (max_epochs x train_examples), as the trainer's own
  // --epochs is: 0.1 x 60000 = 6000 examples. At B = 64 growing x2 once 1000 examples are done
  // (after 16 updates, 1024 examples), that is 16 + ceil((6000 - 1024) / 128) = 16 + 39 = 55
  // updates, not ceil(6000 / 64) = 94 (which would be 1024 + 78 x 128 = 11008 examples).
  const RealStudyConfig cfg = parse(
      "[study]\nbatch_sizes = 64,256\nlr_grid = 0.1\nmax_epochs = 0.1\n"
      "[train]\ntarget = 0.5\nbatch-milestones = 1000\nbatch-factor = 2\n");
  EXPECT_EQ(trial_steps(cfg, 64), 55);
  const StudyGrid g = make_real_grid(cfg);
  EXPECT_GE(g.examples(64, 55.0), 6000.0);
  EXPECT_LT(g.examples(64, 54.0), 6000.0);
  // B = 256: 4 updates (1024 examples), then 512 each: 4 + ceil(4976 / 512) = 4 + 10 = 14.
  EXPECT_EQ(trial_steps(cfg, 256), 14);
  // The step budget stays a step budget: max(max_steps, the epoch budget's updates).
  const RealStudyConfig both = parse(
      "[study]\nbatch_sizes = 64\nlr_grid = 0.1\nmax_epochs = 0.1\nmax_steps = 60\n"
      "[train]\ntarget = 0.5\nbatch-milestones = 1000\nbatch-factor = 2\n");
  EXPECT_EQ(trial_steps(both, 64), 60);
  // The phases round to the ranks like the trainer's: B = 62 x 1.5 = 93 is 94 on 2 ranks. After
  // ceil(1000 / 62) = 17 updates (1054 examples): 17 + ceil(4946 / 94) = 17 + 53 = 70 on 2 ranks,
  // 17 + ceil(4946 / 93) = 17 + 54 = 71 on 1.
  const std::string odd =
      "[study]\nbatch_sizes = 62\nlr_grid = 0.1\nmax_epochs = 0.1\n"
      "[train]\ntarget = 0.5\nbatch-milestones = 1000\nbatch-factor = 1.5\n";
  EXPECT_EQ(trial_steps(parse(odd), 62), 71);
  EXPECT_EQ(trial_steps(parse(odd + "[launcher]\ncommand = mpirun -np {ranks}\nranks = 2\n"), 62), 70);
}
