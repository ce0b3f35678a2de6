#include "experiments/engine/plots.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#ifndef BATCHLAB_SOURCE_DIR
#define BATCHLAB_SOURCE_DIR ""
#endif

extern char** environ;

namespace batchlab::experiments {
namespace fs = std::filesystem;

namespace {

// Runs argv with stdout/stderr inherited; returns the exit status (127 if it could not start).
int spawn(const std::vector<std::string>& args, bool quiet) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (quiet) {
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", 0, 0);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", 0, 0);
  }
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return 127;
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return 127;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

// A several-target study: steps_vs_batch.csv has a "target" column (the last one).
bool has_targets(const fs::path& dir) {
  std::ifstream in(dir / "steps_vs_batch.csv");
  std::string header;
  return std::getline(in, header) && header.ends_with(",target");
}

}  // namespace

fs::path find_plot_scripts() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("BATCHLAB_PLOTS_DIR")) candidates.emplace_back(env);
  if (std::string(BATCHLAB_SOURCE_DIR).size()) candidates.push_back(fs::path(BATCHLAB_SOURCE_DIR) / "plots");
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(exe.parent_path().parent_path() / "share" / "batchlab" / "plots");
  for (const auto& c : candidates)
    if (fs::exists(c / "steps_vs_batch.py", ec)) return c;
  return {};
}

int run_plots(const fs::path& dir, const char* who) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    std::fprintf(stderr, "%s: results directory '%s' does not exist\n", who, dir.c_str());
    return 2;
  }
  // A `batchlab calibrate` output dir has its own figure (measured spectra, predicted vs measured S(B)).
  const bool calibration = fs::exists(dir / "calibration.json", ec);
  if (!calibration && !fs::exists(dir / "steps_vs_batch.csv", ec)) {
    std::fprintf(stderr, "%s: '%s' has no steps_vs_batch.csv (not a study results directory)\n", who, dir.c_str());
    return 2;
  }
  std::vector<std::string> names = {"steps_vs_batch.py", "lr_vs_batch.py"};
  if (fs::exists(dir / "curves.csv", ec)) names.emplace_back("curves.py");
  if (has_targets(dir)) names.emplace_back("b_crit_vs_target.py");
  if (calibration) names = {"calibration.py"};
  for (const auto& n : names)
    if (const int rc = run_plot_script(n, {dir.string()}, who); rc != 0) return rc;
  return 0;
}

int run_plot_script(const std::string& script, const std::vector<std::string>& args, const char* who) {
  const fs::path scripts = find_plot_scripts();
  if (scripts.empty()) {
    std::fprintf(stderr, "%s: plots/*.py not found (set BATCHLAB_PLOTS_DIR)\n", who);
    return 1;
  }
  // The first interpreter that has matplotlib: BATCHLAB_PYTHON, python3 on PATH (may be a
  // virtualenv or pyenv without it), then the system one (Debian python3-matplotlib).
  std::vector<std::string> pythons;
  if (const char* env = std::getenv("BATCHLAB_PYTHON")) pythons.emplace_back(env);
  pythons.emplace_back("python3");
  pythons.emplace_back("/usr/bin/python3");
  std::string python;
  for (const auto& p : pythons)
    if (spawn({p, "-c", "import matplotlib, numpy"}, true) == 0) {
      python = p;
      break;
    }
  if (python.empty()) {
    std::fprintf(stderr, "%s: python3 with matplotlib and numpy is required (apt-get install python3-matplotlib)\n", who);
    return 1;
  }
  std::vector<std::string> argv = {python, (scripts / script).string()};
  argv.insert(argv.end(), args.begin(), args.end());
  if (const int rc = spawn(argv, false); rc != 0) {
    std::fprintf(stderr, "%s: %s failed (exit status %d)\n", who, (scripts / script).c_str(), rc);
    return 1;
  }
  return 0;
}

void report_results_and_plot(const fs::path& dir, const std::string& files, bool curves,
                             bool no_plot, const char* who) {
  const std::string d = dir.string();
  std::printf("results: %s/{%s%s}\n", d.c_str(), files.c_str(), curves ? ",curves.csv" : "");
  if (no_plot) return;
  if (run_plots(dir, who) == 0)
    std::printf("plots:   %s/{steps_vs_batch,lr_vs_batch%s%s}.{png,pdf}\n", d.c_str(),
                curves ? ",curves" : "", has_targets(dir) ? ",b_crit_vs_target" : "");
  else
    std::fprintf(stderr, "%s: warning: plots not written (results are complete)\n", who);
}

}  // namespace batchlab::experiments
