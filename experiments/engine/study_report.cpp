#include "experiments/engine/study_report.h"

#include <algorithm>
#include <cmath>

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
      const std::string at = std::isnan(s.target) ? "" : " (target " + format_number(s.target) + ")";
      std::fprintf(stderr, "%s: warning: %s%s: best lr on the edge of study.lr_grid at batch sizes %s (widen the grid)\n",
                   who, s.optimizer.c_str(), at.c_str(), bs.c_str());
    }
}

namespace {

// "[lo, hi]" with 4 significant digits, or "-".
std::string interval(bool ok, double lo, double hi) {
  if (!ok) return "-";
  char text[64];
  std::snprintf(text, sizeof text, "[%.4g, %.4g]", lo, hi);
  return text;
}

}  // namespace

void print_fit_table(std::FILE* out, const std::vector<OptimizerSummary>& summaries, const FitTableColumn* extra) {
  // Several-target studies: a target column after the optimizer.
  const bool targets = !summaries.empty() && !std::isnan(summaries.front().target);
  // Bootstrap intervals (fit.h), when any fit has them.
  const bool cis = std::any_of(summaries.begin(), summaries.end(), [](const auto& s) { return s.ci.ok; });
  std::fprintf(out, "%-14s", "optimizer");
  if (targets) std::fprintf(out, " %10s", "target");
  std::fprintf(out, " %12s %12s %14s %10s %12s", "B_crit", "S_min", "E_min", "fit_rms", "knee_B");
  if (cis) std::fprintf(out, " %22s %22s", "B_crit 95% CI", "S_min 95% CI");
  if (extra) std::fprintf(out, " %12s", extra->header.c_str());
  std::fputc('\n', out);
  for (const auto& s : summaries) {
    const std::string cell = extra ? extra->cell(s) : std::string();
    std::fprintf(out, "%-14s", s.optimizer.c_str());
    if (targets) std::fprintf(out, " %10s", format_number(s.target).c_str());
    if (!s.fit.ok) {
      std::fprintf(out, " %12s   (fewer than 2 batch sizes reached the target)", "-");
      if (extra) std::fprintf(out, "   %s %s", extra->header.c_str(), cell.c_str());
      std::fputc('\n', out);
      continue;
    }
    std::fprintf(out, " %12.4g %12.4g %14.4g %10.3g %12.4g", s.fit.b_crit, s.fit.s_min, s.fit.e_min,
                 s.fit.rms_log_error, s.fit.knee_batch);
    if (cis) std::fprintf(out, " %22s %22s", interval(s.ci.ok, s.ci.b_crit_lo, s.ci.b_crit_hi).c_str(),
                          interval(s.ci.ok, s.ci.s_min_lo, s.ci.s_min_hi).c_str());
    if (extra) std::fprintf(out, " %12s", cell.c_str());
    std::fprintf(out, "%s\n", s.fit.bounded ? "" : "  (unbounded fit)");
  }
}

}  // namespace batchlab::experiments
