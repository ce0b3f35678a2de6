// `batchlab plan` arithmetic (experiments/engine/plan.h) on a small study directory written here
// and the round-number profile of step_profile_fixture.h: every row's time equals the
// hand-computed S(B) x step time, S(B) is the measured point, the fit between measured batch
// sizes and the marked extrapolation beyond; recommendations and the Pareto front follow; bad
// input (no fit, another model, K not dividing B, a non-positive price) is refused.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "experiments/engine/plan.h"
#include "experiments/engine/results_writer.h"
#include "step_profile_fixture.h"

using namespace batchlab::experiments;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

// Scratch directories of this process, removed at exit.
struct Scratch {
  fs::path root = fs::temp_directory_path() / ("batchlab_plan_test_" + std::to_string(::getpid()));
  ~Scratch() { fs::remove_all(root); }
};
const Scratch scratch;

// S(B) measured at 64, 256, 1024 (1700, 520, 200 steps); fit S_min = 100, B_crit = 1000.
fs::path study_dir(const std::string& name, const std::string& sync = "sync", bool fit = true,
                   const std::string& model = "mlp") {
  const fs::path d = scratch.root / name;
  fs::remove_all(d);
  fs::create_directories(d);
  write(d / "config.ini", "[launcher]\nranks = 2\n\n[train]\ndataset = fashion-mnist\nmodel = " + model +
                              "\nsync = " + sync + "\naverage-momentum = false\n");
  std::string csv;
  for (const auto& c : steps_vs_batch_columns()) csv += (csv.empty() ? "" : ",") + c;
  csv += "\nmomentum,64,1700,108800,0.01,0.9,reached,false,0,0.85,1,3,0\n"
         "momentum,256,520,133120,0.02,0.9,reached,false,0,0.85,1,3,0\n"
         "momentum,1024,200,204800,0.04,0.9,reached,false,0,0.85,1,3,0\n"
         "momentum,4096,-1,-1,nan,nan,not_reached,false,nan,nan,0,3,0\n";
  write(d / "steps_vs_batch.csv", csv);
  const std::string f = fit ? R"("b_crit": 1000, "s_min": 100, "fit_error": 0.05, "fit_points": 3, "fit_bounded": true)"
                            : R"("b_crit": null, "s_min": null, "fit_points": 1)";
  write(d / "summary.json", R"({"landscape": "fashion-mnist/mlp", "optimizers": {"momentum": {)" + f + "}}}");
  return d;
}

StepTimeModel model() { return StepTimeModel(fixtures::round_profile()); }

const PlanRow& row(const Plan& p, int k, std::int64_t b) {
  for (const auto& r : p.rows)
    if (r.workers == k && r.batch_size == b) return r;
  throw std::runtime_error("no row");
}

std::string plan_error(const StudyInput& s, const PlanOptions& o) {
  try {
    make_plan(s, model(), o);
  } catch (const PlanError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(PlanStudy, StepsAreMeasuredAtMeasuredBatchesFittedBetweenAndMarkedBeyond) {
  const StudyInput s = read_study_dir(study_dir("steps"));
  ASSERT_EQ(s.curves.size(), 1u);
  EXPECT_EQ(s.model, "mlp");
  EXPECT_EQ(s.study_workers, 2);
  const StudyCurve& c = s.curves[0];
  EXPECT_EQ(c.batch_sizes, (std::vector<double>{64, 256, 1024}));  // the not-reached 4096 is left out
  const StepsEstimate at64 = steps_to_target(c, 64), at128 = steps_to_target(c, 128);
  const StepsEstimate at4096 = steps_to_target(c, 4096), at32 = steps_to_target(c, 32);
  EXPECT_EQ(at64.steps, 1700);
  EXPECT_EQ(at64.source, "measured");
  EXPECT_EQ(at128.steps, 882);  // ceil(100 (1 + 1000 / 128)) = ceil(881.25)
  EXPECT_EQ(at128.source, "fit");
  EXPECT_EQ(at4096.steps, 125);  // ceil(124.41)
  EXPECT_EQ(at4096.source, "extrapolated");
  EXPECT_EQ(at32.steps, 3225);
  EXPECT_EQ(at32.source, "extrapolated");
}

TEST(PlanArithmetic, EveryRowIsStepsTimesTheModelledStepTime) {
  PlanOptions o;
  o.workers = {1, 2};
  o.device_cost_per_hour = 3.0;
  const Plan p = make_plan(read_study_dir(study_dir("rows")), model(), o);
  ASSERT_EQ(p.rows.size(), 6u);  // 2 K x the 3 measured B
  // K = 1, B = 256: T_c(256) = 2 + 25.6 ms (loader 2.56 ms, hidden), 520 steps.
  const PlanRow& a = row(p, 1, 256);
  EXPECT_NEAR(a.time_to_target_s, 520 * 27.6e-3, 1e-9);
  EXPECT_EQ(a.run.comm_s, 0.0);
  // K = 2, B = 256: b = 128, T_c = 3 + 15.36 ms, + 75% of (2 x 50 us + 4 MB x 1 ns/B) = 3.075 ms.
  const PlanRow& b = row(p, 2, 256);
  EXPECT_EQ(b.local_batch, 128);
  EXPECT_NEAR(b.time_to_target_s, 520 * (18.36e-3 + 3.075e-3), 1e-9);
  EXPECT_NEAR(b.comm_fraction, 3.075 / 21.435, 1e-9);
  EXPECT_NEAR(b.device_hours, 2 * b.time_to_target_s / 3600, 1e-15);
  EXPECT_NEAR(b.cost, 3.0 * b.device_hours, 1e-15);
  EXPECT_TRUE(b.extrapolated.empty());
  // K = 1, B = 1024: local batch 1024 lies beyond the profiled 8 .. 512.
  EXPECT_EQ(row(p, 1, 1024).extrapolated, (std::vector<std::string>{"local_batch", "data_batch"}));
}

TEST(PlanArithmetic, RecommendsTheFastestAndTheCheapestWithinTheSlowdown) {
  PlanOptions o;
  o.workers = {1, 2};
  const StudyInput s = read_study_dir(study_dir("rec"));
  const Plan p = make_plan(s, model(), o);
  // Times: K=1: 14.28 (B 64), 14.352, 20.88 s; K=2: 16.8555, 11.1462 (B 256), 13.503 s.
  ASSERT_EQ(p.recommendations.size(), 1u);
  const PlanRow& fastest = p.rows[p.recommendations[0].fastest];
  const PlanRow& cheapest = p.rows[p.recommendations[0].cheapest];
  EXPECT_EQ(fastest.workers, 2);
  EXPECT_EQ(fastest.batch_size, 256);
  EXPECT_EQ(cheapest.workers, 1);  // 3.97e-3 device-hours at 14.28 s, within 2x of 11.15 s
  EXPECT_EQ(cheapest.batch_size, 64);
  int on_front = 0;
  for (const auto& r : p.rows) on_front += r.pareto;
  EXPECT_EQ(on_front, 2);
  EXPECT_TRUE(row(p, 2, 256).pareto && row(p, 1, 64).pareto);
  o.max_slowdown = 1.2;  // nothing else within 13.4 s is cheaper than the fastest
  const Plan q = make_plan(s, model(), o);
  EXPECT_EQ(q.recommendations[0].cheapest, q.recommendations[0].fastest);
}

TEST(PlanArithmetic, LocalSgdStudiesPriceTheirAveragingRoundsAndSaySoInTheNotes) {
  PlanOptions o;
  o.workers = {2};
  o.batch_sizes = {256};
  const Plan p = make_plan(read_study_dir(study_dir("local", "local:10")), model(), o);
  // 520 updates of 18.36 ms, 52 averaging rounds of 10 x 50 us + 4 ms.
  EXPECT_NEAR(p.rows[0].time_to_target_s, 520 * 18.36e-3 + 52 * 4.5e-3, 1e-9);
  ASSERT_EQ(p.notes.size(), 1u);
  EXPECT_NE(p.notes[0].find("local SGD's steps depend on the worker count"), std::string::npos);
}

TEST(PlanInput, BadInputIsOneLineNamingTheValue) {
  const StudyInput s = read_study_dir(study_dir("bad"));
  PlanOptions o;
  o.workers = {1, 3};
  o.batch_sizes = {64};
  EXPECT_EQ(plan_error(s, o), "--workers 3 does not divide --batch-sizes 64 (each worker takes B / K examples per update)");
  o.batch_sizes.clear();
  EXPECT_NE(plan_error(s, o).find("no measured batch size"), std::string::npos);
  o.workers = {1};
  o.device_cost_per_hour = 0.0;
  EXPECT_EQ(plan_error(s, o), "--device-cost 0: must be > 0 (price of one device-hour)");
  o.device_cost_per_hour = -2.0;
  EXPECT_EQ(plan_error(s, o), "--device-cost -2: must be > 0 (price of one device-hour)");

  EXPECT_THROW(read_study_dir(study_dir("nofit", "sync", false)), PlanError);
  try {
    read_study_dir(study_dir("nofit2", "sync", false));
  } catch (const PlanError& e) {
    EXPECT_NE(std::string(e.what()).find("no fit of S(B)"), std::string::npos);
  }
  const fs::path empty = study_dir("empty");
  fs::remove(empty / "summary.json");
  EXPECT_THROW(read_study_dir(empty), PlanError);

  StepTimeProfile other = fixtures::round_profile();
  other.model = "simple-cnn";
  try {
    check_profile_matches(s, other);
    ADD_FAILURE() << "a profile of another model was accepted";
  } catch (const PlanError& e) {
    EXPECT_NE(std::string(e.what()).find("profile is of model 'simple-cnn'"), std::string::npos);
  }
  EXPECT_NO_THROW(check_profile_matches(s, fixtures::round_profile()));
}

TEST(PlanInput, ATableOfPublishedStepsIsFittedWithTheStudysFit) {
  const fs::path d = study_dir("table");
  write(d / "published.csv", "batch_size,steps_to_target,source\n8192,14076,a\n32768,3519,b\n");
  const StudyInput s = read_study_input(d / "published.csv");
  ASSERT_EQ(s.curves.size(), 1u);
  EXPECT_TRUE(s.model.empty());  // a table names no model: any profile is taken as given
  EXPECT_EQ(s.curves[0].fit.points, 2);
  EXPECT_EQ(steps_to_target(s.curves[0], 8192).steps, 14076);
  write(d / "one.csv", "batch_size,steps_to_target\n8192,14076\n");
  EXPECT_THROW(read_study_input(d / "one.csv"), PlanError);
  write(d / "nocol.csv", "batch,steps\n8192,14076\n");
  EXPECT_THROW(read_study_input(d / "nocol.csv"), PlanError);
}

TEST(PlanOutput, WritesPlanCsvWithTheDocumentedColumns) {
  const fs::path d = study_dir("out");
  const StudyInput s = read_study_dir(d);
  PlanOptions o;
  o.workers = {1, 2};
  const StepTimeModel m = model();
  const Plan p = make_plan(s, m, o);
  write_plan(d / "plan", p, s, m, o, nlohmann::json::object());
  std::ifstream in(d / "plan" / "plan.csv");
  std::string header, line;
  std::getline(in, header);
  EXPECT_EQ(header,
            "optimizer,workers,batch_size,local_batch,steps_to_target,steps_source,step_time_s,compute_step_s,"
            "comm_step_s,data_step_s,comm_fraction,time_to_target_s,device_hours,cost,pareto,extrapolated");
  int rows = 0;
  while (std::getline(in, line)) ++rows;
  EXPECT_EQ(rows, 6);
  std::ifstream j(d / "plan" / "plan.json");
  const nlohmann::json pj = nlohmann::json::parse(j);
  EXPECT_EQ(pj["recommendations"]["momentum"]["fastest"]["workers"], 2);
  EXPECT_TRUE(pj["device_cost_per_hour"].is_null());
}
