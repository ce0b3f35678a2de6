// Results files: atomic commits, resume after a crash without lost or duplicated rows, refusal
// to resume into a different study, and identical files for any thread count.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "experiments/engine/results_writer.h"
#include "experiments/engine/study_engine.h"

using namespace batchlab::experiments;
namespace fs = std::filesystem;

namespace {

StudyGrid grid() {
  StudyGrid g;
  g.study = "w";
  g.landscape = "fake";
  g.optimizers = {{"sgd", {0.0}, {0.0}}, {"ema", {0.0}, {0.5, 0.9}}};
  g.batch_sizes = {2, 8, 32, 128};
  g.lr_grid = {0.05, 0.1, 0.2, 0.4, 0.8};
  g.seeds = {1, 2};
  return g;
}

TrialOutcome fake(const TrialPoint& p) {
  TrialOutcome o;
  const double ideal = 0.01 * static_cast<double>(p.batch_size);
  const double d = std::log2(p.lr / ideal);
  o.metric = "loss";
  if (d > 3) {
    o.status = TrialStatus::kDiverged;
    o.final_metric = 1e30;
  } else {
    o.status = TrialStatus::kReached;
    o.steps_to_target = 10 + static_cast<std::int64_t>(5000.0 / static_cast<double>(p.batch_size) * (1 + d * d)) +
                        static_cast<std::int64_t>(p.seed) + static_cast<std::int64_t>(100 * p.ema_decay);
    o.final_metric = 0.5;
  }
  for (std::int64_t s : {0, 1, 10}) o.curve.push_back({s, p.lr, 1.0 / static_cast<double>(s + 1)});
  return o;
}

const ResolvedConfig kConfig = {{"study.name", "w"}, {"study.target", "0.01"}, {"study.threads", "1"},
                                {"output.dir", "x"}};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Drops the wall_s column (index 11), the only one that differs between runs.
std::string without_wall(const std::string& csv) {
  std::istringstream in(csv);
  std::string line, out;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ls(line);
    std::string cell;
    while (std::getline(ls, cell, ',')) f.push_back(cell);
    f.erase(f.begin() + 11);
    for (std::size_t i = 0; i < f.size(); ++i) out += (i ? "," : "") + f[i];
    out += "\n";
  }
  return out;
}

// Runs the study into `dir`; `crash_after` >= 0 makes the runner throw there (a crash).
void run(const fs::path& dir, const StudyGrid& g, int threads, std::int64_t crash_after = -1,
         double flush_interval = 0.0, const ResolvedConfig& config = kConfig) {
  ResultsWriter w(dir, g, {.curves = true, .flush_interval_s = flush_interval});
  BestTracker t(g);
  const std::int64_t done = w.open(config, t);
  const TrialRunner r = [&](const TrialPoint& p) {
    if (p.trial_id == crash_after) throw std::runtime_error("crash");
    return fake(p);
  };
  try {
    run_trials(g, done, r,
               [&](const TrialPoint& p, TrialOutcome&& o) {
                 w.append(p, o);
                 t.add(p, o);
               },
               {.threads = threads, .window = 16});
  } catch (const std::runtime_error&) {
    return;  // like SIGKILL: whatever was committed stays, nothing else is written
  }
  w.flush();
  write_summaries(dir, g, t, {{"study", "w"}});
}

class ResultsWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base = fs::temp_directory_path() / ("batchlab_rw_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(base);
    fs::create_directories(base);
  }
  void TearDown() override { fs::remove_all(base); }
  fs::path base;
};

}  // namespace

TEST_F(ResultsWriterTest, WritesEveryFileWithTheDocumentedColumns) {
  const StudyGrid g = grid();
  run(base / "a", g, 2);
  for (const char* f : {"config.ini", "trials.csv", "curves.csv", "steps_vs_batch.csv", "summary.json"})
    EXPECT_TRUE(fs::exists(base / "a" / f)) << f;
  const std::string trials = slurp(base / "a" / "trials.csv");
  EXPECT_EQ(trials.substr(0, trials.find('\n')),
            "study,landscape,optimizer,batch_size,lr,momentum,seed,status,steps_to_target,examples_to_target,"
            "final_metric,wall_s,trial_id,ema_decay,lr_multiplier,comm_bytes");
  EXPECT_EQ(std::count(trials.begin(), trials.end(), '\n'), g.size() + 1);
  const std::string svb = slurp(base / "a" / "steps_vs_batch.csv");
  EXPECT_EQ(svb.substr(0, svb.find('\n')),
            "optimizer,batch_size,steps_to_target,examples_to_target,lr,momentum,status,lr_on_edge,"
            "ema_decay,final_metric,seeds_reached,trials,trials_diverged");
  EXPECT_EQ(std::count(svb.begin(), svb.end(), '\n'), 1 + 2 * 4);
  const std::string curves = slurp(base / "a" / "curves.csv");
  EXPECT_EQ(curves.substr(0, curves.find('\n')), "trial_id,step,examples,lr,metric,value");
  EXPECT_EQ(std::count(curves.begin(), curves.end(), '\n'), 1 + 3 * g.size());
  EXPECT_NE(slurp(base / "a" / "summary.json").find("\"b_crit\""), std::string::npos);
  EXPECT_FALSE(fs::exists(base / "a" / "trials.csv.tmp"));
}

TEST_F(ResultsWriterTest, ThreadCountDoesNotChangeAnyRow) {
  const StudyGrid g = grid();
  run(base / "one", g, 1);
  run(base / "four", g, 4);
  EXPECT_EQ(without_wall(slurp(base / "one" / "trials.csv")), without_wall(slurp(base / "four" / "trials.csv")));
  EXPECT_EQ(slurp(base / "one" / "steps_vs_batch.csv"), slurp(base / "four" / "steps_vs_batch.csv"));
  EXPECT_EQ(slurp(base / "one" / "curves.csv"), slurp(base / "four" / "curves.csv"));
}

TEST_F(ResultsWriterTest, CrashThenResumeGivesTheUninterruptedFilesWithoutDuplicates) {
  const StudyGrid g = grid();
  run(base / "clean", g, 2);
  for (std::int64_t crash : std::vector<std::int64_t>{0, 1, 17, 39, 40, 41, g.size() - 1}) {
    const fs::path d = base / ("crash" + std::to_string(crash));
    run(d, g, 2, crash);
    const std::string partial = slurp(d / "trials.csv");
    // Committed rows are a prefix of the grid and stop before the crashed trial.
    EXPECT_LE(std::count(partial.begin(), partial.end(), '\n'), crash + 1) << crash;
    EXPECT_FALSE(fs::exists(d / "summary.json"));
    run(d, g, 3);
    EXPECT_EQ(without_wall(slurp(d / "trials.csv")), without_wall(slurp(base / "clean" / "trials.csv"))) << crash;
    EXPECT_EQ(slurp(d / "steps_vs_batch.csv"), slurp(base / "clean" / "steps_vs_batch.csv")) << crash;
    EXPECT_EQ(slurp(d / "curves.csv"), slurp(base / "clean" / "curves.csv")) << crash;
  }
}

TEST_F(ResultsWriterTest, CurveRowsOfUncommittedTrialsAreDroppedOnResume) {
  const StudyGrid g = grid();
  const fs::path d = base / "c";
  run(d, g, 1, 12);
  // A kill between the two renames: curves.csv has rows of trials that trials.csv lacks.
  std::ofstream(d / "curves.csv", std::ios::app) << "12,0,0,0.1,loss,1\n13,0,0,0.1,loss,1\n";
  run(d, g, 2);
  run(base / "clean", g, 1);
  EXPECT_EQ(slurp(d / "curves.csv"), slurp(base / "clean" / "curves.csv"));
}

TEST_F(ResultsWriterTest, ACompletedStudyRerunsNothing) {
  const StudyGrid g = grid();
  run(base / "a", g, 2);
  const std::string before = slurp(base / "a" / "trials.csv");
  ResultsWriter w(base / "a", g, {.curves = true});
  BestTracker t(g);
  EXPECT_EQ(w.open(kConfig, t), g.size());
  EXPECT_EQ(slurp(base / "a" / "trials.csv"), before);
}

TEST_F(ResultsWriterTest, RefusesADirectoryOfAnotherStudy) {
  const StudyGrid g = grid();
  run(base / "a", g, 1, 20);
  ResolvedConfig other = kConfig;
  other[1].second = "0.02";
  ResultsWriter w(base / "a", g, {.curves = true});
  try {
    w.check_resumable(other);
    FAIL() << "resumed into a different study";
  } catch (const ResumeError& e) {
    EXPECT_NE(std::string(e.what()).find("study.target = '0.01' there, '0.02' here"), std::string::npos) << e.what();
  }
  // The thread count and the output dir may change.
  ResolvedConfig more_threads = kConfig;
  more_threads[2].second = "8";
  more_threads[3].second = "y";
  EXPECT_NO_THROW(w.check_resumable(more_threads));
}

// A setting added to batchlab after a study was written is absent from its config.ini: resuming
// is fine while this run keeps the new key at its default, refused otherwise.
TEST_F(ResultsWriterTest, AcceptsAKeyAddedLaterOnlyAtItsDefault) {
  const StudyGrid g = grid();
  run(base / "a", g, 1, 20);
  ResolvedConfig newer = kConfig;
  newer.emplace_back("schedule.batch_factor", "1");
  ResultsWriter strict(base / "a", g, {.curves = true});
  EXPECT_THROW(strict.check_resumable(newer), ResumeError);
  ResultsWriter w(base / "a", g, {.curves = true, .defaults = {{"schedule.batch_factor", "1"}}});
  EXPECT_NO_THROW(w.check_resumable(newer));
  newer.back().second = "5";
  try {
    w.check_resumable(newer);
    FAIL() << "resumed with a new key away from its default";
  } catch (const ResumeError& e) {
    EXPECT_NE(std::string(e.what()).find("schedule.batch_factor = (absent) there, '5' here"), std::string::npos)
        << e.what();
  }
}

TEST_F(ResultsWriterTest, RefusesRowsThatAreNotThisGrid) {
  StudyGrid g = grid();
  run(base / "a", g, 1, 20);
  g.lr_grid[1] = 0.11;  // same config text (in this test), different grid
  ResultsWriter w(base / "a", g, {.curves = true});
  BestTracker t(g);
  try {
    w.open(kConfig, t);
    FAIL() << "accepted foreign rows";
  } catch (const ResumeError& e) {
    EXPECT_NE(std::string(e.what()).find("lr = '0.1'"), std::string::npos) << e.what();
  }
}

TEST(ResultsFormat, NumbersRoundTripInShortestForm) {
  EXPECT_EQ(format_number(0.1), "0.1");
  EXPECT_EQ(format_number(1e-5), "1e-05");
  EXPECT_EQ(format_number(3.0), "3");
  EXPECT_EQ(format_number(std::nan("")), "nan");
  const double x = 0.1 + 0.2;
  EXPECT_EQ(std::stod(format_number(x)), x);
}

TEST(ResultsFormat, ConfigIniRoundTrips) {
  const ResolvedConfig c = {{"landscape.kind", "nqm"}, {"optimizer.name", "sgd,ema"}, {"optimizer.ema.momentum", "0.9"},
                            {"study.lr_grid", "log:0.1:1:3"}};
  EXPECT_EQ(parse_config_ini_text(config_ini_text(c)), c);
}
