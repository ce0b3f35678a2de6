#include "experiments/cli/config_check.h"

#include <fstream>
#include <string>

#include "optim/io.h"

namespace batchlab::experiments {
namespace {

using optim::format_number;

// s += sep + item, without the separator before the first item.
void append(std::string& s, const char* sep, const std::string& item) {
  if (!s.empty()) s += sep;
  s += item;
}

template <class T, class F>
std::string join_values(const std::vector<T>& v, F&& text) {
  std::string s;
  for (const auto& x : v) append(s, ",", text(x));
  return s;
}

// 6 significant digits: a summary for reading (the files and the trials' argv keep full precision).
std::string short_number(double x) { return format_number(x, 6); }

std::string numbers(const std::vector<double>& v) { return join_values(v, short_number); }

void line(std::FILE* out, const std::string& label, const std::string& text) {
  const std::string l = label.empty() ? label : label + ":";
  std::fprintf(out, "%-15s %s\n", l.c_str(), text.c_str());
}

}  // namespace

std::string output_dir_state(const std::filesystem::path& dir, std::int64_t trials) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return "does not exist (a run creates it)";
  if (!fs::exists(dir / "config.ini", ec)) return "exists, no study in it yet (a run writes into it)";
  std::int64_t rows = 0;
  std::ifstream in(dir / "trials.csv");
  std::string l;
  for (bool header = true; std::getline(in, l); header = false)
    if (!header && !l.empty()) ++rows;
  return "exists, holds this study with " + std::to_string(rows) + " of " + std::to_string(trials) +
         " trials in trials.csv (a run resumes it)";
}

void print_check_report(std::FILE* out, const StudyGrid& grid, const CheckReport& r) {
  std::fprintf(out, "%s --check: %s: valid\n", r.who.c_str(), r.config_path.c_str());
  line(out, "study", grid.study + " (" + grid.landscape + ")");

  // Trials per optimizer: batch sizes x lrs x its momenta x its EMA decays x seeds.
  const auto per_point = static_cast<std::int64_t>(grid.batch_sizes.size() * grid.lr_grid.size() * grid.seeds.size());
  std::string split;
  for (const auto& o : grid.optimizers)
    append(split, ", ",
           o.label + " " + std::to_string(per_point * static_cast<std::int64_t>(o.momenta.size() * o.ema_decays.size())));
  line(out, "trials", std::to_string(grid.size()) + " (" + split + ")");

  std::string opts;
  for (const auto& o : grid.optimizers) {
    std::string axes;
    if (o.momenta.size() > 1 || o.momenta.front() != 0.0) axes += "momentum " + numbers(o.momenta);
    if (o.ema_decays.size() > 1 || o.ema_decays.front() != 0.0)
      append(axes, "; ", "ema decay " + numbers(o.ema_decays));
    append(opts, ", ", axes.empty() ? o.label : o.label + " (" + axes + ")");
  }
  line(out, "optimizers", opts);
  line(out, "batch sizes",
       join_values(grid.batch_sizes, [](std::int64_t b) { return std::to_string(b); }) + " (" +
           std::to_string(grid.batch_sizes.size()) + ")");
  if (!grid.batch_schedule.constant()) {
    const auto& bs = grid.batch_schedule;
    std::string text = "batch x";
    text += short_number(bs.factor);
    text += " at examples " + join_values(bs.milestones, [](std::int64_t e) { return std::to_string(e); });
    if (bs.max_batch > 0) text += ", capped at " + std::to_string(bs.max_batch);
    text += ", rounded to multiples of " + std::to_string(grid.batch_multiple);
    line(out, "batch schedule", text);
  }
  if (grid.lr_scaled) {
    line(out, "lr multipliers", numbers(grid.lr_grid) + " (" + std::to_string(grid.lr_grid.size()) + ")");
    std::string rule;
    for (std::size_t i = 0; i < grid.batch_sizes.size(); ++i)
      append(rule, ", ", std::to_string(grid.batch_sizes[i]) + ": " + short_number(grid.scaled_lr[i]));
    line(out, "rule lr", rule + " (batch size: the scaling rule's lr; a trial's lr = multiplier x this)");
  } else {
    line(out, "lrs", numbers(grid.lr_grid) + " (" + std::to_string(grid.lr_grid.size()) + ")");
  }
  line(out, "seeds",
       join_values(grid.seeds, [](std::uint64_t s) { return std::to_string(s); }) + " (" +
           std::to_string(grid.seeds.size()) + ")");
  line(out, "output dir", r.output_dir + ": " + output_dir_state(r.output_dir, grid.size()));
  for (const auto& [label, text] : r.details) line(out, label, text);
  if (r.not_checked.empty()) {
    line(out, "not checked", "nothing");
  } else {
    for (std::size_t i = 0; i < r.not_checked.size(); ++i) line(out, i == 0 ? "not checked" : "", r.not_checked[i]);
  }
  std::fprintf(out, "%s --check: nothing written, nothing run\n", r.who.c_str());
}

}  // namespace batchlab::experiments
