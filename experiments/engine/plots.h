// Runs the matplotlib scripts of plots/ on a results directory (PNG + PDF written into it).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace batchlab::experiments {

// plots/ of the source tree (BATCHLAB_SOURCE_DIR) or of an install (<prefix>/share/batchlab/plots,
// found from the executable's location); BATCHLAB_PLOTS_DIR overrides both. Empty if none.
std::filesystem::path find_plot_scripts();

// Python: BATCHLAB_PYTHON, else the first of python3 (PATH) and /usr/bin/python3 that imports
// matplotlib. Returns 0 on success; otherwise prints one line to stderr and returns 2 (bad directory) or 1
// (python3 / matplotlib missing, or a script failed).
int run_plots(const std::filesystem::path& results_dir, const char* who);

// One script of plots/ (e.g. "plan.py") with `args`, on that interpreter; 0 on success, else 1
// with one line on stderr.
int run_plot_script(const std::string& script, const std::vector<std::string>& args, const char* who);

// The closing lines of `sweep` and `study`: where the results are (`files` lists them, without
// curves.csv, which `curves` adds) and, unless no_plot, the figures; a failed plot is a warning,
// since the results are complete by then.
void report_results_and_plot(const std::filesystem::path& results_dir, const std::string& files,
                             bool curves, bool no_plot, const char* who);

}  // namespace batchlab::experiments
