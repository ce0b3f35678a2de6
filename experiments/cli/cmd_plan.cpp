// batchlab plan STUDY --profile profile.json [--workers 1,2,4] [--batch-sizes ...]
//                     [--device-cost PER_HOUR] [--max-slowdown X] [--output DIR] [--no-plot]
//
// Time and device-hours to the study's target for K workers and global batch B: the study's S(B)
// times the step-time model of a profile from `batchlab bench-step` (or written by hand for
// hardware one does not have). The arithmetic is experiments/engine/plan.h; this file parses,
// checks, writes DIR/plan.csv and plan.json and draws DIR/plan.png (plots/plan.py).
// Bad input (no fit, a profile of another model, K not dividing B, a non-positive price): one
// line on stderr, exit status 2, nothing written.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>

#include <boost/program_options.hpp>

#include "experiments/cli/commands.h"
#include "experiments/engine/grid.h"
#include "experiments/engine/plan.h"
#include "experiments/engine/plots.h"
#include "experiments/engine/provenance.h"
#include "experiments/engine/results_writer.h"
#include "optim/config.h"

namespace batchlab::cli {
namespace {

using namespace batchlab::experiments;
constexpr const char* kWho = "batchlab plan";

struct PlanArgs {
  std::string study, profile, workers = "1,2,4,8,16,32,64", batch_sizes, device_cost, output = "plan_out";
  double max_slowdown = 2.0;
  bool no_plot = false;
};

// Returns false after --help.
bool parse_plan_args(int argc, char** argv, PlanArgs& a) {
  namespace po = boost::program_options;
  po::options_description d("batchlab plan STUDY_DIR|TABLE.csv --profile profile.json [options]");
  d.add_options()
      ("help,h", "show this help")
      ("profile", po::value(&a.profile)->required(), "step-time profile (batchlab bench-step, or written by hand)")
      ("workers", po::value(&a.workers)->default_value(a.workers), "worker counts K: 1,2,4 or pow2:LO:HI")
      ("batch-sizes", po::value(&a.batch_sizes), "global batch sizes B (default: the study's, those every K divides)")
      ("device-cost", po::value(&a.device_cost), "price of one device-hour (adds the cost column)")
      ("max-slowdown", po::value(&a.max_slowdown)->default_value(a.max_slowdown),
       "the cheapest recommendation may be this many times slower than the fastest")
      ("output", po::value(&a.output)->default_value(a.output), "output directory (plan.csv, plan.json, plan.png)")
      ("no-plot", po::bool_switch(&a.no_plot), "write no figure")
      ("study", po::value(&a.study)->required(), "study output directory or steps-vs-batch CSV table");
  po::positional_options_description pos;
  pos.add("study", 1);
  po::variables_map vm;
  po::store(po::command_line_parser(argc, argv).options(d).positional(pos).run(), vm);
  if (vm.count("help")) {
    std::cout << d << "\n";
    return false;
  }
  po::notify(vm);
  return true;
}

PlanOptions plan_options(const PlanArgs& a) {
  PlanOptions o;
  o.workers = parse_batch_sizes("--workers", a.workers);
  if (!a.batch_sizes.empty()) o.batch_sizes = parse_batch_sizes("--batch-sizes", a.batch_sizes);
  if (!a.device_cost.empty()) o.device_cost_per_hour = parse_double("--device-cost", a.device_cost);
  o.max_slowdown = a.max_slowdown;
  return o;
}

void print_recommendations(const Plan& plan, const PlanOptions& o) {
  auto line = [](const char* what, const PlanRow& r) {
    std::string ex;
    for (const auto& e : r.extrapolated) ex += (ex.empty() ? "" : "+") + e;
    char cost[64] = "";
    if (std::isfinite(r.cost)) std::snprintf(cost, sizeof cost, ", cost %.4g", r.cost);
    std::printf("  %-10s K = %d, B = %lld: %.4g s to target, %.4g device-hours%s, %.0f%% communication%s\n", what,
                r.workers, static_cast<long long>(r.batch_size), r.time_to_target_s, r.device_hours, cost,
                100.0 * r.comm_fraction, ex.empty() ? "" : (" [extrapolated: " + ex + "]").c_str());
  };
  for (const auto& rec : plan.recommendations) {
    std::printf("%s:\n", rec.optimizer.c_str());
    line("fastest", plan.rows[rec.fastest]);
    char what[64];
    std::snprintf(what, sizeof what, "cheapest (<= %gx slower)", o.max_slowdown);
    std::printf("  %s:\n", what);
    line("", plan.rows[rec.cheapest]);
  }
  for (const auto& n : plan.notes) std::printf("note: %s\n", n.c_str());
}

}  // namespace

int cmd_plan(int argc, char** argv) {
  PlanArgs a;
  StudyInput study;
  PlanOptions options;
  std::unique_ptr<StepTimeModel> model;
  Plan plan;
  try {
    if (!parse_plan_args(argc, argv, a)) return 0;
    options = plan_options(a);
    study = read_study_input(a.study);
    StepTimeProfile profile = read_profile(a.profile);
    check_profile_matches(study, profile);
    model = std::make_unique<StepTimeModel>(std::move(profile));
    plan = make_plan(study, *model, options);
  } catch (const boost::program_options::error& e) {
    std::fprintf(stderr, "%s: %s\n", kWho, e.what());
    return 2;
  } catch (const optim::ConfigError& e) {
    std::fprintf(stderr, "%s: %s\n", kWho, e.what());
    return 2;
  } catch (const PlanError& e) {
    std::fprintf(stderr, "%s: %s\n", kWho, e.what());
    return 2;
  } catch (const ProfileError& e) {
    std::fprintf(stderr, "%s: %s\n", kWho, e.what());
    return 2;
  }
  try {
    nlohmann::json extra = {{"profile_path", a.profile}, {"provenance", provenance(argc + 1, argv - 1)}};
    write_plan(a.output, plan, study, *model, options, extra);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", kWho, e.what());
    return 1;
  }
  print_recommendations(plan, options);
  std::printf("results: %s/{plan.csv,plan.json}\n", a.output.c_str());
  if (!a.no_plot) {
    if (run_plot_script("plan.py", {a.output}, kWho) == 0)
      std::printf("plots:   %s/plan.{png,pdf}\n", a.output.c_str());
    else
      std::fprintf(stderr, "%s: warning: plot not written (plan.csv is complete)\n", kWho);
  }
  return 0;
}

}  // namespace batchlab::cli
