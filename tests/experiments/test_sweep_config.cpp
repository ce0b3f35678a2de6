// Sweep settings: INI + --section.key overrides with the same names, shared and per-optimizer
// grids, resolved config with every default, and one-line errors naming section.key.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "experiments/engine/sweep_config.h"
#include "optim/config.h"

using namespace batchlab::experiments;
using batchlab::optim::ConfigError;
namespace fs = std::filesystem;

namespace {

fs::path write_ini(const std::string& name, const std::string& text) {
  const fs::path p = fs::temp_directory_path() / ("batchlab_cfg_" + std::to_string(::getpid()) + "_" + name + ".ini");
  std::ofstream(p) << text;
  return p;
}

SweepConfig parse(const fs::path& ini, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"sweep", ini.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  SweepConfig c;
  EXPECT_TRUE(parse_sweep_args(static_cast<int>(argv.size()), argv.data(), c));
  return c;
}

std::string error_of(const fs::path& ini, std::vector<std::string> extra = {}) {
  try {
    parse(ini, std::move(extra));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

std::string value_of(const SweepConfig& c, const std::string& key) {
  for (const auto& [k, v] : c.resolved)
    if (k == key) return v;
  return "<absent>";
}

const char* kBase = R"(
[landscape]
kind = nqm
dim = 64

[optimizer]
name = sgd,momentum,ema
momentum = 0.8

[study]
batch_sizes = pow2:2:4
lr_grid = log:0.01:1:3
ema_grid = 0.5,0.9
target = 0.1
)";

}  // namespace

TEST(SweepConfig, CommandLineOverridesTheIniWithTheSameNames) {
  const auto ini = write_ini("override", kBase);
  const SweepConfig c = parse(ini, {"--landscape.dim=128", "--study.target", "0.05"});
  EXPECT_EQ(c.landscape.dim, 128);
  EXPECT_DOUBLE_EQ(c.target, 0.05);
  EXPECT_EQ(value_of(c, "landscape.dim"), "128");
  EXPECT_EQ(c.batch_sizes, (std::vector<std::int64_t>{4, 8, 16}));
}

TEST(SweepConfig, ResolvedConfigListsEveryDefault) {
  const auto ini = write_ini("resolved", kBase);
  const SweepConfig c = parse(ini);
  EXPECT_EQ(value_of(c, "landscape.curvature_power"), "1");
  EXPECT_EQ(value_of(c, "schedule.warmup"), "none");
  EXPECT_EQ(value_of(c, "schedule.total_steps"), "100000");  // auto = study.max_steps
  EXPECT_EQ(value_of(c, "study.momentum_grid"), "0.8");      // auto = optimizer.momentum
  EXPECT_EQ(value_of(c, "study.name"), ini.stem().string());
  EXPECT_EQ(value_of(c, "output.dir"), "results/" + ini.stem().string());
  EXPECT_NE(value_of(c, "study.threads"), "0");  // resolved to the hardware concurrency
  EXPECT_GE(c.resolved.size(), 55u);
}

TEST(SweepConfig, MomentumGridGoesToMomentumOptimizersAndEmaGridToEma) {
  const auto ini = write_ini("axes", kBase);
  const SweepConfig c = parse(ini, {"--study.momentum_grid=0.5,0.9"});
  ASSERT_EQ(c.optimizers.size(), 3u);
  EXPECT_EQ(c.optimizers[0].momenta, std::vector<double>{0.0});       // sgd
  EXPECT_EQ(c.optimizers[1].momenta, (std::vector<double>{0.5, 0.9}));  // momentum
  EXPECT_EQ(c.optimizers[2].momenta, std::vector<double>{0.0});       // ema: plain SGD + EMA
  EXPECT_EQ(c.optimizers[0].ema_decays, std::vector<double>{0.0});
  EXPECT_EQ(c.optimizers[2].ema_decays, (std::vector<double>{0.5, 0.9}));
  const StudyGrid g = make_grid(c);
  EXPECT_EQ(g.size(), 3 * 3 * (1 + 2 + 2));
}

TEST(SweepConfig, PerOptimizerSectionsOverrideOneOptimizer) {
  const auto ini = write_ini("peropt", std::string(kBase) + R"(
[optimizer.ema]
momentum = 0.9
ema_grid = 0.99

[optimizer.momentum]
weight_decay = 0.01
)");
  const SweepConfig c = parse(ini, {"--optimizer.sgd.weight_decay=0.5"});
  EXPECT_EQ(c.optimizers[2].momenta, std::vector<double>{0.9});
  EXPECT_EQ(c.optimizers[2].ema_decays, std::vector<double>{0.99});
  EXPECT_DOUBLE_EQ(c.optimizers[1].config.weight_decay, 0.01);
  EXPECT_DOUBLE_EQ(c.optimizers[0].config.weight_decay, 0.5);
  EXPECT_EQ(value_of(c, "optimizer.ema.momentum"), "0.9");
  // The resolved file keeps the per-optimizer section.
  EXPECT_NE(config_ini_text(c.resolved).find("[optimizer.ema]\nema_grid = 0.99\nmomentum = 0.9\n"), std::string::npos);
}

TEST(SweepConfig, TrialSpecCarriesTheGridPoint) {
  const auto ini = write_ini("spec", kBase);
  const SweepConfig c = parse(ini, {"--study.seeds=3,4"});
  const StudyGrid g = make_grid(c);
  const TrialPoint p = g.point(g.size() - 1);
  const auto spec = make_trial_spec(c, p);
  EXPECT_EQ(spec.optimizer.name, "ema");
  EXPECT_EQ(spec.optimizer_label, "ema");
  EXPECT_EQ(spec.batch_size, 16);
  EXPECT_DOUBLE_EQ(spec.lr, 1.0);
  EXPECT_DOUBLE_EQ(spec.ema_decay, 0.9);
  EXPECT_EQ(spec.seed, 4u);
  EXPECT_DOUBLE_EQ(spec.target, 0.1);
  EXPECT_EQ(spec.landscape.dim, 64);
}

TEST(SweepConfig, ScaledGridsMultiplyTheScalingRule) {
  const auto ini = write_ini("scaled", kBase);
  const SweepConfig c = parse(ini, {"--study.lr_grid=scaled:0.5:2:3", "--scaling.rule=linear", "--scaling.batch_ref=4",
                                    "--scaling.lr_ref=0.1", "--schedule.warmup=gradual", "--schedule.warmup_steps=10"});
  const StudyGrid g = make_grid(c);
  // sgd, B = 16 (k = 4, scaled lr 0.4), multiplier 2 -> lr 0.8; gradual warm-up starts at 2 x lr_ref.
  const TrialPoint p = g.point(2 * 3 + 2);
  EXPECT_EQ(p.batch_size, 16);
  EXPECT_DOUBLE_EQ(p.lr, 0.8);
  const auto spec = make_trial_spec(c, p);
  EXPECT_DOUBLE_EQ(spec.schedule.warmup_start_lr, 0.2);
}

TEST(SweepConfig, ErrorsNameTheSettingAndTheValue) {
  const auto ini = write_ini("errors", kBase);
  EXPECT_NE(error_of(ini, {"--study.lr_grid=log:1:0.1:x"}).find("study.lr_grid = 'log:1:0.1:x'"), std::string::npos);
  EXPECT_NE(error_of(ini, {"--optimizer.name=sgd,rmsprop"}).find("unknown optimizer 'rmsprop'"), std::string::npos);
  EXPECT_NE(error_of(ini, {"--study.mode=exact"}).find("study.mode = 'exact'"), std::string::npos);
  EXPECT_NE(error_of(ini, {"--optimizer.momentum=1.2"}).find("1.2"), std::string::npos);
  EXPECT_NE(error_of(ini, {"--landscape.bogus=1"}).find("unknown option"), std::string::npos);
  EXPECT_NE(error_of(ini, {"--study.batch_sizes=4,0"}).find("study.batch_sizes = '4,0'"), std::string::npos);
  EXPECT_NE(error_of(ini, {"--schedule.decay=cosine", "--schedule.total_steps=0"}).find("schedule.total_steps"),
            std::string::npos);
  EXPECT_NE(error_of(ini, {"--sync.policy=local:4"}).find("sync.policy = 'local:4': needs sync.workers > 1"),
            std::string::npos);
  EXPECT_NE(error_of(ini, {"--study.mode=sampled", "--sync.workers=3"}).find("not a multiple of sync.workers = 3"),
            std::string::npos);
  // A grid no listed optimizer uses is only a warning (configs are often run on a subset).
  SweepConfig subset = parse(ini, {"--optimizer.name=sgd"});
  ASSERT_EQ(subset.warnings.size(), 1u);
  EXPECT_NE(subset.warnings[0].find("study.ema_grid = '0.5,0.9' is unused"), std::string::npos);
  const auto bad_key = write_ini("badkey", std::string(kBase) + "\n[landscape]\ncolour = red\n");
  EXPECT_NE(error_of(bad_key).find("unknown key landscape.colour"), std::string::npos);
  const auto bad_sec = write_ini("badsec", std::string(kBase) + "\n[plot]\ncolour = red\n");
  EXPECT_NE(error_of(bad_sec).find("unknown section [plot]"), std::string::npos);
  const auto twice = write_ini("twice", std::string(kBase) + "\n[landscape]\ndim = 3\n");
  EXPECT_NE(error_of(twice).find("landscape.dim"), std::string::npos);
}
