// The console report shared by `batchlab sweep` and `batchlab study` (experiments/engine/study_report.h)
// prints, byte for byte, the lines each command printed before they shared it.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "experiments/engine/study_report.h"

using namespace batchlab::experiments;

namespace {

std::vector<OptimizerSummary> summaries() {
  std::vector<OptimizerSummary> s(3);
  s[0].optimizer = "sgd";
  s[0].fit.ok = true;
  s[0].fit.b_crit = 772.31;
  s[0].fit.s_min = 1234.5;
  s[0].fit.e_min = 953473.1;
  s[0].fit.rms_log_error = 0.0456;
  s[0].fit.knee_batch = 154.46;
  s[1].optimizer = "lamb:paper";
  s[1].fit.ok = true;
  s[1].fit.bounded = false;
  s[1].fit.b_crit = 1e6;
  s[1].fit.s_min = 10.0;
  s[1].fit.e_min = 1e7;
  s[1].fit.rms_log_error = 0.5;
  s[1].fit.knee_batch = 2e5;
  s[1].edge_batches = {64, 4096};
  s[2].optimizer = "adam";  // fit.ok = false
  return s;
}

std::string table(const FitTableColumn* extra) {
  char* buf = nullptr;
  std::size_t len = 0;
  std::FILE* f = open_memstream(&buf, &len);
  print_fit_table(f, summaries(), extra);
  std::fclose(f);
  std::string out(buf, len);
  std::free(buf);
  return out;
}

}  // namespace

TEST(StudyReport, FitTableOfSweep) {
  EXPECT_EQ(table(nullptr),
            "optimizer            B_crit        S_min          E_min    fit_rms       knee_B\n"
            "sgd                   772.3         1234      9.535e+05     0.0456        154.5\n"
            "lamb:paper            1e+06           10          1e+07        0.5        2e+05  (unbounded fit)\n"
            "adam                      -   (fewer than 2 batch sizes reached the target)\n");
}

TEST(StudyReport, FitTableOfStudyWithBSimpleColumn) {
  const FitTableColumn b_simple{"B_simple", [](const OptimizerSummary& s) {
                                  return s.optimizer == "sgd" ? std::string("2.5")
                                         : s.optimizer == "adam" ? std::string("37.12")
                                                                 : std::string("-");
                                }};
  EXPECT_EQ(table(&b_simple),
            "optimizer            B_crit        S_min          E_min    fit_rms       knee_B     B_simple\n"
            "sgd                   772.3         1234      9.535e+05     0.0456        154.5          2.5\n"
            "lamb:paper            1e+06           10          1e+07        0.5        2e+05            -  (unbounded fit)\n"
            "adam                      -   (fewer than 2 batch sizes reached the target)   B_simple 37.12\n");
}

TEST(StudyReport, EdgeWarningAndTrialDescription) {
  testing::internal::CaptureStderr();
  warn_edge_lrs(summaries(), "batchlab sweep");
  EXPECT_EQ(testing::internal::GetCapturedStderr(),
            "batchlab sweep: warning: lamb:paper: best lr on the edge of study.lr_grid at batch sizes 64,4096 "
            "(widen the grid)\n");
  TrialPoint p;
  p.trial_id = 7;
  p.optimizer = "momentum";
  p.batch_size = 256;
  p.lr = 0.25;
  p.momentum = 0.9;
  p.seed = 3;
  EXPECT_EQ(describe_trial(p), "trial 7 (optimizer momentum, batch_size 256, lr 0.25, momentum 0.9, seed 3)");
}
