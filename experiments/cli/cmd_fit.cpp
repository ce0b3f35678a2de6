// batchlab fit TABLE.csv [--by COLUMN] [--output DIR] [--no-plot]
// batchlab fit TABLE.csv --law loss-nd [--columns N,D,LOSS] [--output DIR]
//
// The critical-batch fit S(B) = S_min (1 + B_crit / B) with its bootstrap interval, on any
// steps-to-target table: a study's own steps_vs_batch.csv or trials.csv, or a published one typed
// in by hand (batch_size and steps_to_target or examples_to_target columns, one row per trial or
// per batch size), per group of --by COLUMN. The fit, the seed reduction and the interval are the
// study engine's (experiments/engine/fit.h), so a table is fitted exactly like batchlab's own.
// Writes DIR/fit.csv, DIR/fit_points.csv and DIR/fit.{png,pdf} (plots/fit.py).
//
// --law loss-nd: Hoffmann et al. 2022's L(N, D) = E + A/N^alpha + B/D^beta over (N, D, final
// loss) rows (their approach 3: Huber loss on log residuals, L-BFGS from a grid of starts;
// experiments/engine/loss_law.h), with bootstrap intervals and the compute-optimal exponents
// N_opt ~ C^a_N, D_opt ~ C^b_D it implies. Writes DIR/loss_fit.csv.
//
// Bad input (no such file, a missing column, a value that is not a positive number, a group with
// fewer than 3 reached batch sizes; loss-nd: fewer than 5 rows or 2 distinct N / D): one line on
// stderr, exit status 2, nothing written.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>

#include <boost/program_options.hpp>

#include "experiments/cli/commands.h"
#include "experiments/engine/fit.h"
#include "experiments/engine/loss_law.h"
#include "experiments/engine/plots.h"
#include "experiments/engine/results_writer.h"
#include "experiments/engine/study_report.h"
#include "optim/io.h"

namespace batchlab::cli {
namespace {

using namespace batchlab::experiments;
constexpr const char* kWho = "batchlab fit";

struct FitArgs {
  std::string table, by, output, law = "critical-batch", columns = "N,D,loss";
  bool no_plot = false;
};

// Returns false after --help.
bool parse_fit_args(int argc, char** argv, FitArgs& a) {
  namespace po = boost::program_options;
  po::options_description d("batchlab fit TABLE.csv [--by COLUMN] [--law critical-batch|loss-nd] [--output DIR]");
  d.add_options()
      ("help,h", "show this help")
      ("by", po::value(&a.by), "group rows by this column (e.g. model size); default: one group 'all'")
      ("law", po::value(&a.law)->default_value(a.law),
       "critical-batch: S(B) = S_min (1 + B_crit / B) over batch_size, steps_to_target; "
       "loss-nd: L(N, D) = E + A/N^alpha + B/D^beta over N, D, loss (Hoffmann et al. 2022)")
      ("columns", po::value(&a.columns)->default_value(a.columns), "loss-nd: the N, D and loss columns")
      ("output", po::value(&a.output), "output directory (default: TABLE's name without .csv, + _fit)")
      ("no-plot", po::bool_switch(&a.no_plot), "write no figure")
      ("table", po::value(&a.table)->required(), "the CSV table");
  po::positional_options_description pos;
  pos.add("table", 1);
  po::variables_map vm;
  po::store(po::command_line_parser(argc, argv).options(d).positional(pos).run(), vm);
  if (vm.count("help")) {
    std::cout << d << "\n";
    return false;
  }
  po::notify(vm);
  if (a.law != "critical-batch" && a.law != "loss-nd")
    throw po::error("--law = '" + a.law + "': unknown (critical-batch, loss-nd)");
  if (a.law == "critical-batch" && !vm["columns"].defaulted()) throw po::error("--columns is for --law loss-nd");
  if (a.law == "loss-nd" && vm.count("by")) throw po::error("--by is for --law critical-batch");
  if (a.law == "loss-nd" && optim::split_list(a.columns, ',').size() != 3)
    throw po::error("--columns = '" + a.columns + "': give three column names N,D,LOSS");
  if (a.output.empty()) a.output = std::filesystem::path(a.table).stem().string() + "_fit";
  return true;
}

// The fit table of the study commands (study_report.h), one row per group.
void print_groups(const TableFit& fit) {
  std::vector<OptimizerSummary> rows;
  for (const auto& g : fit.groups) {
    OptimizerSummary s;
    s.optimizer = g.group;
    s.target = std::nan("");
    s.fit = g.fit;
    s.ci = g.ci;
    rows.push_back(std::move(s));
  }
  print_fit_table(stdout, rows);
}

int fit_critical_batch_table(const FitArgs& a) {
  TableFit fit;
  try {
    fit = fit_table(a.table, a.by);
  } catch (const TableError& e) {
    std::fprintf(stderr, "%s: %s\n", kWho, e.what());
    return 2;
  }
  try {
    write_table_fit(fit, a.output);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", kWho, e.what());
    return 1;
  }
  print_groups(fit);
  std::printf("results: %s/{fit.csv,fit_points.csv}\n", a.output.c_str());
  if (!a.no_plot) {
    if (run_plot_script("fit.py", {a.output}, kWho) == 0) std::printf("plots:   %s/fit.{png,pdf}\n", a.output.c_str());
    else std::fprintf(stderr, "%s: warning: plot not written (fit.csv is complete)\n", kWho);
  }
  return 0;
}

int fit_loss_law_table(const FitArgs& a) {
  LossLawFit fit;
  try {
    const auto c = optim::split_list(a.columns, ',');
    fit = fit_loss_law(read_loss_table(a.table, c[0], c[1], c[2]));
  } catch (const TableError& e) {
    std::fprintf(stderr, "%s: %s\n", kWho, e.what());
    return 2;
  }
  try {
    write_loss_law(fit, a.output);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", kWho, e.what());
    return 1;
  }
  std::printf("L(N, D) = E + A/N^alpha + B/D^beta: %d rows, %d L-BFGS starts, Huber objective %.4g, rms ln error %.3g\n",
              fit.points, fit.starts, fit.objective, fit.rms_log_error);
  std::printf("%-8s %12s %24s\n", "", "value", "95% bootstrap CI");
  for (std::size_t k = 0; k < fit.values.size(); ++k) {
    char ci[64];
    std::snprintf(ci, sizeof ci, "[%.4g, %.4g]", fit.values[k].lo, fit.values[k].hi);
    std::printf("%-8s %12.4g %24s\n", loss_law_names()[k].c_str(), fit.values[k].value, ci);
  }
  std::printf("compute-optimal (C = 6 N D): N_opt = G (C/6)^a_N, D_opt = (C/6)^b_D / G  (%d bootstrap replicates)\n",
              fit.replicates);
  std::printf("results: %s/loss_fit.csv\n", a.output.c_str());
  return 0;
}

}  // namespace

int cmd_fit(int argc, char** argv) {
  FitArgs a;
  try {
    if (!parse_fit_args(argc, argv, a)) return 0;
  } catch (const boost::program_options::error& e) {
    std::fprintf(stderr, "%s: %s\n", kWho, e.what());
    return 2;
  }
  return a.law == "loss-nd" ? fit_loss_law_table(a) : fit_critical_batch_table(a);
}

}  // namespace batchlab::cli
