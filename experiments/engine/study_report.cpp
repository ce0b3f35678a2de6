#include "experiments/engine/study_report.h"

namespace batchlab::experiments {

std::string describe_trial(const TrialPoint& p) {
  return "trial " + std::to_string(p.trial_id) + " (optimizer " + p.optimizer + ", batch_size " +
         std::to_string(p.batch_size) + ", lr " + format_number(p.lr) + ", momentum " + format_number(p.momentum) +
         ", seed " + std::to_string(p.seed) + ")";
}

void warn_edge_lrs(const std::vector<OptimizerSummary>& summaries, const char* who) {
  for (const auto& s : summaries)
    if (!s.edge_batches.empty()) {
      std::string bs;
      for (auto b : s.edge_batches) {
        if (!bs.empty()) bs += ',';
        bs += std::to_string(b);
      }
      std::fprintf(stderr, "%s: warning: %s: best lr on the edge of study.lr_grid at batch sizes %s (widen the grid)\n",
                   who, s.optimizer.c_str(), bs.c_str());
    }
}

void print_fit_table(std::FILE* out, const std::vector<OptimizerSummary>& summaries, const FitTableColumn* extra) {
  std::fprintf(out, "%-14s %12s %12s %14s %10s %12s", "optimizer", "B_crit", "S_min", "E_min", "fit_rms", "knee_B");
  if (extra) std::fprintf(out, " %12s", extra->header.c_str());
  std::fputc('\n', out);
  for (const auto& s : summaries) {
    const std::string cell = extra ? extra->cell(s) : std::string();
    if (!s.fit.ok) {
      std::fprintf(out, "%-14s %12s   (fewer than 2 batch sizes reached the target)", s.optimizer.c_str(), "-");
      if (extra) std::fprintf(out, "   %s %s", extra->header.c_str(), cell.c_str());
      std::fputc('\n', out);
      continue;
    }
    std::fprintf(out, "%-14s %12.4g %12.4g %14.4g %10.3g %12.4g", s.optimizer.c_str(), s.fit.b_crit, s.fit.s_min,
                 s.fit.e_min, s.fit.rms_log_error, s.fit.knee_batch);
    if (extra) std::fprintf(out, " %12s", cell.c_str());
    std::fprintf(out, "%s\n", s.fit.bounded ? "" : "  (unbounded fit)");
  }
}

}  // namespace batchlab::experiments
