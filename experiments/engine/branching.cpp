#include "experiments/engine/branching.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>

#include "optim/config.h"
#include "optim/io.h"
#include "optim/registry.h"

namespace batchlab::experiments {

using optim::ConfigError;
using optim::format_number;

BranchGap parse_branch_gap(const std::string& s) {
  if (s == "absolute") return BranchGap::kAbsolute;
  if (s == "relative") return BranchGap::kRelative;
  if (s == "progress") return BranchGap::kProgress;
  throw ConfigError("--branch-gap = " + s + ": unknown (absolute, relative, progress)");
}

std::string to_string(BranchGap g) {
  switch (g) {
    case BranchGap::kAbsolute: return "absolute";
    case BranchGap::kRelative: return "relative";
    case BranchGap::kProgress: return "progress";
  }
  return "?";
}

std::vector<std::int64_t> parse_branch_factors(const std::string& text, const std::string& prefix) {
  const std::string key = prefix + "factors";
  const std::vector<std::int64_t> k = optim::parse_list<std::int64_t>(
      key, text, "a whole number", [](std::string_view s) { return optim::to_int(s); });
  if (k.empty()) throw ConfigError(key + " = '" + text + "': give at least one factor, e.g. 2,4,8");
  for (std::size_t i = 0; i < k.size(); ++i) {
    if (k[i] < 2) throw ConfigError(key + " = '" + text + "': factor " + std::to_string(k[i]) + " is below 2");
    if (i > 0 && k[i] <= k[i - 1])
      throw ConfigError(key + " = '" + text + "': factor " + std::to_string(k[i]) + " does not exceed " +
                        std::to_string(k[i - 1]) + " (factors must be strictly increasing)");
  }
  return k;
}

void validate(const BranchSettings& s, const std::string& prefix) {
  std::string text;
  for (std::int64_t k : s.factors) {
    if (!text.empty()) text += ',';
    text += std::to_string(k);
  }
  (void)parse_branch_factors(text, prefix);
  if (s.examples <= 0) throw ConfigError(prefix + "examples = " + std::to_string(s.examples) + ": must be > 0");
  if (!(std::isfinite(s.epsilon) && s.epsilon > 0.0))
    throw ConfigError(prefix + "epsilon = " + format_number(s.epsilon) + ": must be finite and > 0");
  if (s.coupling == optim::LrCoupling::kNone)
    throw ConfigError(prefix + "lr-coupling = none: a branch at k x batch needs the lr coupled (linear or sqrt)");
}

optim::LrCoupling branch_lr_coupling(optim::LrCoupling configured, optim::ScalingKind scaling,
                                     const std::string& optimizer, std::string* why) {
  auto say = [&](const std::string& w) {
    if (why) *why = w;
  };
  if (configured != optim::LrCoupling::kNone) {
    say("batch_lr_coupling = " + optim::to_string(configured));
    return configured;
  }
  if (scaling == optim::ScalingKind::kLinear) {
    say("scaling = linear");
    return optim::LrCoupling::kLinear;
  }
  if (scaling == optim::ScalingKind::kSqrt || scaling == optim::ScalingKind::kMalladi) {
    say(scaling == optim::ScalingKind::kSqrt ? "scaling = sqrt" : "scaling = malladi (its lr part)");
    return optim::LrCoupling::kSqrt;
  }
  const std::string rule = optim::canonical_rule_name(optimizer);
  const bool adam_like = rule.rfind("adam", 0) == 0 || rule.rfind("lamb", 0) == 0 || rule.rfind("shampoo", 0) == 0;
  say(std::string("optimizer ") + optimizer + (adam_like ? " is Adam-like: sqrt" : " is SGD-like: linear"));
  return adam_like ? optim::LrCoupling::kSqrt : optim::LrCoupling::kLinear;
}

optim::BatchScheduleConfig branch_schedule(const BranchPoint& p, std::int64_t k) {
  optim::BatchScheduleConfig s = p.batch_schedule;
  if (k == 1) return s;
  if (p.examples <= 0) throw ConfigError("branch point at step " + std::to_string(p.step) + ": no examples done yet (branch after at least one update)");
  if (!s.milestones.empty() && s.factor != static_cast<double>(k))
    throw ConfigError("branch factor " + std::to_string(k) + ": the run already grows its batch by " +
                      format_number(s.factor) + " at its own milestones; branch a constant-batch run, or with factor " +
                      format_number(s.factor));
  if (!s.milestones.empty() && s.milestones.back() >= p.examples)
    throw ConfigError("branch point at " + std::to_string(p.examples) + " examples: the run's batch milestone " +
                      std::to_string(s.milestones.back()) + " is not before it");
  s.milestones.push_back(p.examples);
  s.factor = static_cast<double>(k);
  s.max_batch = 0;
  return s;
}

namespace {

double gap_of(BranchGap g, double loss, double ref, double at_branch) {
  switch (g) {
    case BranchGap::kAbsolute: return loss - ref;
    case BranchGap::kRelative: return (loss - ref) / ref;
    case BranchGap::kProgress: return (loss - ref) / (at_branch - ref);
  }
  return 0.0;
}

// Rows, in factor order, stop counting at the first rejection.
void estimate(BranchReport& r) {
  r.b_branch = r.batch;
  r.below_first = !r.rows.empty() && !r.rows.front().accepted;
  for (const BranchRow& row : r.rows) {
    if (!row.accepted) break;
    r.b_branch = row.batch;
  }
}

}  // namespace

BranchReport run_branch_test(const BranchPoint& point, const BranchSettings& settings, BranchRunner& runner) {
  validate(settings);
  BranchReport r;
  r.point = point;
  r.settings = settings;
  optim::BatchScheduleConfig own = point.batch_schedule;
  own.lr_coupling = settings.coupling;
  BranchPoint p = point;
  p.batch_schedule = own;
  const optim::BatchSchedule run(p.base_batch, own, p.multiple_of);
  r.batch = run.batch_at(p.step);
  r.lr = p.base_lr * run.lr_factor_at(p.step);
  const std::int64_t biggest = settings.factors.back() * r.batch;
  if (settings.examples % biggest != 0)
    throw ConfigError("--branch-examples = " + std::to_string(settings.examples) +
                      ": must be a multiple of the largest branch batch " + std::to_string(biggest) +
                      " (so that every branch and the reference see exactly that many examples)");
  r.loss_at_branch = runner.loss_at_branch_point();
  r.reference_steps = settings.examples / r.batch;
  r.loss_reference = runner.loss_after(own, p.step + r.reference_steps, "reference");
  for (std::int64_t k : settings.factors) {
    BranchRow row;
    row.factor = k;
    const optim::BatchScheduleConfig sched = branch_schedule(p, k);
    const optim::BatchSchedule b(p.base_batch, sched, p.multiple_of);
    row.batch = b.batch_at(p.step);
    row.lr = p.base_lr * b.lr_factor_at(p.step);
    row.steps = settings.examples / row.batch;
    row.examples = row.steps * row.batch;
    row.loss_reference = r.loss_reference;
    row.loss_branch = runner.loss_after(sched, p.step + row.steps, std::string("k").append(std::to_string(k)));
    row.gap = gap_of(settings.gap, row.loss_branch, r.loss_reference, r.loss_at_branch);
    row.accepted = std::isfinite(row.gap) && row.gap <= settings.epsilon;
    r.rows.push_back(row);
  }
  estimate(r);
  return r;
}

namespace {

std::string num(double v) { return std::isfinite(v) ? format_number(v) : ""; }

nlohmann::json nullable(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

nlohmann::json settings_json(const BranchSettings& s) {
  return {{"factors", s.factors},
          {"examples", s.examples},
          {"epsilon", s.epsilon},
          {"gap", to_string(s.gap)},
          {"lr_coupling", optim::to_string(s.coupling)}};
}

}  // namespace

void write_branch_report(const std::filesystem::path& dir, const BranchReport& r, const nlohmann::json& extra) {
  std::filesystem::create_directories(dir);
  std::ostringstream csv;
  csv << "factor,batch,lr,steps,examples,loss_branch,loss_reference,gap,accepted\n";
  for (const BranchRow& row : r.rows)
    csv << row.factor << ',' << row.batch << ',' << num(row.lr) << ',' << row.steps << ',' << row.examples << ','
        << num(row.loss_branch) << ',' << num(row.loss_reference) << ',' << num(row.gap) << ','
        << (row.accepted ? "true" : "false") << '\n';
  optim::write_file_atomic(dir / "branches.csv", csv.str());
  nlohmann::json j = {{"branch_step", r.point.step},
                      {"branch_examples", r.point.examples},
                      {"batch", r.batch},
                      {"lr", r.lr},
                      {"settings", settings_json(r.settings)},
                      {"loss_at_branch", nullable(r.loss_at_branch)},
                      {"loss_reference", nullable(r.loss_reference)},
                      {"reference_steps", r.reference_steps},
                      {"b_branch", r.b_branch},
                      {"below_first", r.below_first}};
  j.update(extra);
  optim::write_file_atomic(dir / "branch.json", j.dump(2) + "\n");
}

// ---- warm-up ----

void validate(const WarmupSettings& s, const std::string& prefix) {
  if (s.every_examples <= 0)
    throw ConfigError(prefix + "every = " + std::to_string(s.every_examples) + ": must be > 0 (examples)");
  if (s.total_examples <= s.every_examples)
    throw ConfigError(prefix + "examples = " + std::to_string(s.total_examples) + ": must exceed " + prefix +
                      "every = " + std::to_string(s.every_examples));
  if (s.max_batch < 0) throw ConfigError(prefix + "max-batch = " + std::to_string(s.max_batch) + ": must be >= 0");
  BranchSettings t = s.test;
  t.factors = {2};
  validate(t, "--branch-");
}

namespace {

// The test's length at batch B: the settings' examples rounded up to a multiple of 2 B, so that
// the reference and the doubled branch see the same whole number of examples.
std::int64_t test_examples(std::int64_t examples, std::int64_t batch) {
  return (examples + 2 * batch - 1) / (2 * batch) * (2 * batch);
}

}  // namespace

WarmupResult run_cbs_warmup(const BranchPoint& start, const WarmupSettings& s, WarmupRunner& runner) {
  validate(s);
  WarmupResult out;
  out.schedule = start.batch_schedule;
  out.schedule.lr_coupling = s.test.coupling;
  if (out.schedule.milestones.empty()) out.schedule.factor = 2.0;
  if (out.schedule.factor != 2.0)
    throw ConfigError("--warmup: the run must start with a constant batch (its batch schedule grows by " +
                      format_number(out.schedule.factor) + ")");
  BranchPoint p = start;
  std::int64_t next = s.every_examples;
  while (next < s.total_examples) {
    const optim::BatchSchedule now(p.base_batch, out.schedule, p.multiple_of);
    p.step = now.first_step_with_examples(next);
    p.examples = now.examples_before(p.step);
    p.batch_schedule = out.schedule;
    runner.advance(out.schedule, p.step);
    const std::int64_t batch = now.batch_at(p.step);
    next = p.examples + s.every_examples;
    if (s.max_batch > 0 && 2 * batch > s.max_batch) continue;  // at the cap: nothing to test
    BranchSettings t = s.test;
    t.factors = {2};
    t.examples = test_examples(s.test.examples, batch);
    const BranchReport r = run_branch_test(p, t, runner);
    WarmupDecision d{p.step, p.examples, batch, r.lr, r.loss_at_branch, r.loss_reference,
                     r.rows.front().loss_branch, r.rows.front().gap, r.rows.front().accepted};
    out.decisions.push_back(d);
    if (d.accepted) out.schedule = branch_schedule(p, 2);
  }
  const optim::BatchSchedule fin(p.base_batch, out.schedule, p.multiple_of);
  out.steps = fin.first_step_with_examples(s.total_examples);
  out.examples = fin.examples_before(out.steps);
  out.final_batch = fin.batch_at(out.steps - 1);
  runner.advance(out.schedule, out.steps);
  out.final_loss = runner.loss_at_branch_point();
  return out;
}

void write_warmup_report(const std::filesystem::path& dir, const WarmupResult& r, const WarmupSettings& s,
                         const nlohmann::json& extra) {
  std::filesystem::create_directories(dir);
  std::ostringstream csv;
  csv << "step,examples,batch,lr,loss_at_branch,loss_reference,loss_branch,gap,accepted\n";
  for (const WarmupDecision& d : r.decisions)
    csv << d.step << ',' << d.examples << ',' << d.batch << ',' << num(d.lr) << ',' << num(d.loss_at_branch) << ','
        << num(d.loss_reference) << ',' << num(d.loss_branch) << ',' << num(d.gap) << ','
        << (d.accepted ? "true" : "false") << '\n';
  optim::write_file_atomic(dir / "warmup.csv", csv.str());
  nlohmann::json j = {{"batch_milestones", r.schedule.milestones},
                      {"batch_factor", r.schedule.factor},
                      {"lr_coupling", optim::to_string(r.schedule.lr_coupling)},
                      {"steps", r.steps},
                      {"examples", r.examples},
                      {"final_loss", nullable(r.final_loss)},
                      {"final_batch", r.final_batch},
                      {"every_examples", s.every_examples},
                      {"total_examples", s.total_examples},
                      {"max_batch", s.max_batch},
                      {"test", settings_json(s.test)}};
  j["test"]["factors"] = {2};
  j.update(extra);
  optim::write_file_atomic(dir / "warmup.json", j.dump(2) + "\n");
}

}  // namespace batchlab::experiments
