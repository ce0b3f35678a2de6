// The study driver that `batchlab sweep` and `batchlab study` share: a study interrupted by a
// failing trial resumes into files equal to an uninterrupted run's, reused trials keep their
// recorded wall time and stay out of nothing else, and the summary carries the command's keys
// and the driver's provenance.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "experiments/engine/study_driver.h"

using namespace batchlab::experiments;
namespace fs = std::filesystem;

namespace {

StudyGrid grid() {
  StudyGrid g;
  g.study = "d";
  g.landscape = "fake";
  g.optimizers = {{"sgd", {0.0}, {0.0}}, {"momentum", {0.9}, {0.0}}};
  g.batch_sizes = {4, 16, 64};
  g.lr_grid = {0.1, 0.2, 0.4};
  g.seeds = {0, 1};
  return g;
}

TrialOutcome fake(const TrialPoint& p) {
  TrialOutcome o;
  o.metric = "loss";
  o.status = TrialStatus::kReached;
  o.steps_to_target = 2000 / p.batch_size + static_cast<std::int64_t>(100 * std::abs(std::log2(p.lr / 0.2))) +
                      static_cast<std::int64_t>(p.seed);
  o.final_metric = 0.01;
  o.curve.push_back({1, p.lr, 0.5});
  return o;
}

fs::path scratch(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("batchlab_driver_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(d);
  return d;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// trials.csv without its wall_s column (the 12th).
std::string without_wall(const std::string& csv) {
  std::istringstream in(csv);
  std::string line, out;
  while (std::getline(in, line)) {
    std::size_t start = 0;
    for (int c = 0; c < 11; ++c) start = line.find(',', start) + 1;
    const std::size_t end = line.find(',', start);
    out += line.substr(0, start) + line.substr(end + 1) + "\n";
  }
  return out;
}

StudySettings settings(const fs::path& dir) {
  return {.who = "test",
          .progress_label = "test",
          .output_dir = dir,
          .resolved = {{"study.name", "d"}, {"study.threads", "1"}, {"output.dir", dir.string()}},
          .results = {.curves = true, .flush_interval_s = 0.0},
          .threads = 2,
          .target_key = "study.target",
          .result_files = "trials.csv",
          .no_plot = true,
          .observer = {}};
}

StudyHooks hooks(const TrialRunner& runner) {
  StudyHooks h;
  h.run_trial = runner;
  h.summary = [](const BestTracker&) { return nlohmann::json{{"study", "d"}, {"mode", "fake"}}; };
  return h;
}

}  // namespace

TEST(StudyDriver, AStudyStoppedByAFailingTrialResumesIntoTheUninterruptedRunsFiles) {
  const StudyGrid g = grid();
  const fs::path whole = scratch("whole"), cut = scratch("cut");
  StudyDriver(g, settings(whole)).run(hooks(fake), {{"argv", {"test"}}});

  const TrialRunner failing = [](const TrialPoint& p) {
    if (p.trial_id == 13) throw std::runtime_error("trial 13 crashed");
    return fake(p);
  };
  EXPECT_THROW(StudyDriver(g, settings(cut)).run(hooks(failing), {}), std::runtime_error);
  ASSERT_TRUE(fs::exists(cut / "trials.csv"));
  EXPECT_FALSE(fs::exists(cut / "summary.json"));

  StudyDriver again(g, settings(cut));
  EXPECT_NO_THROW(again.check_resumable());
  again.run(hooks(fake), {});
  EXPECT_EQ(without_wall(slurp(whole / "trials.csv")), without_wall(slurp(cut / "trials.csv")));
  EXPECT_EQ(slurp(whole / "curves.csv"), slurp(cut / "curves.csv"));
  EXPECT_EQ(slurp(whole / "steps_vs_batch.csv"), slurp(cut / "steps_vs_batch.csv"));
  const auto sw = nlohmann::json::parse(slurp(whole / "summary.json"));
  const auto sc = nlohmann::json::parse(slurp(cut / "summary.json"));
  EXPECT_EQ(sw["optimizers"], sc["optimizers"]);
  EXPECT_EQ(sw["provenance"]["resumed_at_trial"], 0);
  EXPECT_GT(sc["provenance"]["resumed_at_trial"].get<int>(), 0);
  EXPECT_LE(sc["provenance"]["resumed_at_trial"].get<int>(), 13);
  fs::remove_all(whole);
  fs::remove_all(cut);
}

TEST(StudyDriver, SummaryHasTheCommandsKeysAndTheDriversProvenance) {
  const StudyGrid g = grid();
  const fs::path dir = scratch("summary");
  StudyDriver(g, settings(dir)).run(hooks(fake), {{"argv", {"test"}}}, {{"threads", 2}});
  const auto s = nlohmann::json::parse(slurp(dir / "summary.json"));
  EXPECT_EQ(s["study"], "d");
  EXPECT_EQ(s["mode"], "fake");
  EXPECT_EQ(s["provenance"]["argv"][0], "test");
  EXPECT_EQ(s["provenance"]["threads"], 2);
  EXPECT_EQ(s["provenance"]["seeds"], nlohmann::json({0, 1}));
  EXPECT_TRUE(s["provenance"].contains("finished_utc"));
  EXPECT_EQ(s["trials"]["total"], g.size());
  EXPECT_TRUE(s["optimizers"].contains("momentum"));
  fs::remove_all(dir);
}

TEST(StudyDriver, AReusedTrialKeepsTheWallTimeItsRunnerRecorded) {
  const StudyGrid g = grid();
  const fs::path dir = scratch("reused");
  const TrialRunner reusing = [](const TrialPoint& p) {
    TrialOutcome o = fake(p);
    o.reused = true;
    o.wall_s = 100.0 + static_cast<double>(p.trial_id);
    return o;
  };
  StudyHooks h = hooks(reusing);
  std::vector<std::string> lines;
  h.describe = [&](const TrialPoint& p, const TrialOutcome& o) {
    lines.push_back(std::to_string(p.trial_id));
    return to_string(o.status);
  };
  StudyDriver(g, settings(dir)).run(h, {});
  EXPECT_EQ(lines.size(), static_cast<std::size_t>(g.size()));
  std::istringstream in(slurp(dir / "trials.csv"));
  std::string line;
  std::getline(in, line);
  for (std::int64_t id = 0; std::getline(in, line); ++id) {
    std::size_t start = 0;
    for (int c = 0; c < 11; ++c) start = line.find(',', start) + 1;
    EXPECT_EQ(std::stod(line.substr(start, line.find(',', start) - start)), 100.0 + static_cast<double>(id)) << line;
  }
  fs::remove_all(dir);
}

TEST(StudyDriver, AnOutputDirOfAnotherStudyIsRefusedBeforeAnyWork) {
  const StudyGrid g = grid();
  const fs::path dir = scratch("other");
  StudyDriver(g, settings(dir)).run(hooks(fake), {});
  StudySettings other = settings(dir);
  other.resolved[0].second = "e";
  bool ran = false;
  StudyDriver d(g, other);
  EXPECT_THROW(d.check_resumable(), ResumeError);
  EXPECT_THROW(d.run(hooks([&](const TrialPoint& p) {
                 ran = true;
                 return fake(p);
               }),
                     {}),
               ResumeError);
  EXPECT_FALSE(ran);
  fs::remove_all(dir);
}
