#include "experiments/cli/calibrate_setup.h"

#include <cmath>
#include <fstream>
#include <iostream>

#include <boost/program_options.hpp>

#include "experiments/engine/grid.h"
#include "experiments/engine/results_writer.h"
#include "optim/config.h"
#include "realtrain/checkpoint.h"
#include "realtrain/data/data_error.h"
#include "realtrain/data/source.h"
#include "realtrain/trainer.h"

namespace batchlab::cli {
namespace fs = std::filesystem;
namespace po = boost::program_options;

namespace {

[[noreturn]] void bad(const std::string& msg) { throw CalibrateBadInput(msg); }

po::options_description calibrate_options(CalibrateSetup& s) {
  auto& o = s.options;
  po::options_description d("batchlab calibrate options");
  d.add_options()
      ("help,h", "this help")
      ("checkpoint", po::value(&s.checkpoint), "measure at this `batchlab train` checkpoint (OUTPUT/checkpoint/rank0.pt) instead of the initialisation")
      ("reference", po::value(&s.reference), "a `batchlab train` output dir that met the study's target: the target loss is its test loss at the first evaluation that did")
      ("target-loss", po::value(&s.target_loss_option), "the loss at the target, given directly (instead of --reference)")
      ("loss-floor", po::value(&s.loss_floor)->default_value(s.loss_floor), "the loss the NQM's minimum stands for (0: cross-entropy's infimum)")
      ("measured", po::value(&s.measured_file), "reuse the measurement of an earlier calibration.json (same model): predict again, e.g. with other --study.* overrides, without measuring")
      ("compare", po::value(&s.compare_dir), "a measured study output dir (summary.json, steps_vs_batch.csv) to hold the prediction against")
      ("output", po::value<std::string>()->default_value(s.output.string()), "output directory")
      ("top-k", po::value(&o.top_k)->default_value(o.top_k), "Hessian eigenpairs by Lanczos")
      ("lanczos-steps", po::value(&o.lanczos_max_steps)->default_value(o.lanczos_max_steps), "Lanczos steps at most (Hessian-vector products)")
      ("lanczos-tol", po::value(&o.lanczos_tol)->default_value(o.lanczos_tol), "relative residual at which the top k count as converged")
      ("slq-probes", po::value(&o.slq_probes)->default_value(o.slq_probes), "stochastic Lanczos quadrature probes")
      ("slq-steps", po::value(&o.slq_steps)->default_value(o.slq_steps), "Lanczos steps (quadrature nodes) per probe")
      ("trace-probes", po::value(&o.trace_probes)->default_value(o.trace_probes), "Hutchinson probes for tr(H) and tr(H Sigma)")
      ("hessian-examples", po::value(&s.hessian_examples)->default_value(s.hessian_examples), "fixed training subset for H and the gradient")
      ("noise-examples", po::value(&s.noise_examples)->default_value(s.noise_examples), "fixed training subset for the per-example gradients (Sigma)")
      ("chunk", po::value(&s.chunk)->default_value(s.chunk), "examples per forward pass in Hessian-vector products")
      ("seed", po::value(&o.seed)->default_value(o.seed), "subset order and probe vectors")
      ("threads", po::value(&s.threads)->default_value(s.threads), "torch threads (0: all cores; 1 is often fastest on a shared machine)")
      ("nqm-max-steps", po::value(&s.nqm_max_steps)->default_value(s.nqm_max_steps), "step budget of the NQM's trials");
  return d;
}

// The study's first trial as `batchlab train` would resolve it.
realtrain::TrainConfig first_trial(const experiments::RealStudyConfig& real) {
  const experiments::StudyGrid g = experiments::make_real_grid(real);
  const auto args = experiments::trial_train_args(real, g.point(0), "calibrate");
  realtrain::TrainConfig c;
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(realtrain::train_options(c)).run(), vm);
  po::notify(vm);
  return c;
}

// What the analytic NQM models: a constant lr, a constant batch, plain (heavy-ball) SGD, sync.
void check_predictable(const realtrain::TrainConfig& c) {
  auto no = [&](const std::string& key, const std::string& value, const std::string& why) {
    bad("train." + key + " = " + value + ": " + why + " (the calibrated NQM predicts constant-lr, constant-batch, "
        "synchronous sgd / momentum studies)");
  };
  if (c.schedule != "constant") no("schedule", c.schedule, "an lr decay");
  if (c.warmup != "none") no("warmup", c.warmup, "a warm-up");
  if (!c.batch_milestones.empty()) no("batch-milestones", c.batch_milestones, "a batch-size schedule");
  if (c.weight_decay != 0.0) no("weight-decay", experiments::format_number(c.weight_decay), "weight decay");
  if (c.max_grad_norm != 0.0) no("max-grad-norm", experiments::format_number(c.max_grad_norm), "gradient clipping");
  if (c.sync != "sync") no("sync", c.sync, "local / hierarchical SGD");
}

// The test loss at the first evaluation of a `batchlab train` run that met `target`.
double reference_target_loss(const fs::path& dir, const realtrain::TrainConfig& study, std::string& source) {
  std::ifstream sj(dir / "summary.json");
  if (sj) {
    try {
      const auto j = nlohmann::json::parse(sj);
      const auto model = j.at("config").at("model").get<std::string>(), data = j.at("config").at("dataset").get<std::string>();
      if (model != study.model || data != study.dataset)
        bad("--reference " + dir.string() + ": the run trained " + data + "/" + model + ", the study trains " +
            study.dataset + "/" + study.model);
    } catch (const nlohmann::json::exception& e) {
      bad("--reference " + dir.string() + ": summary.json: " + e.what());
    }
  }
  std::ifstream in(dir / "metrics.csv");
  if (!in) bad("--reference " + dir.string() + ": no metrics.csv (not a `batchlab train` output dir)");
  std::string line;
  std::getline(in, line);
  const auto header = experiments::split_list(line, ',');
  std::size_t cl = header.size(), ca = header.size(), cs = header.size();
  for (std::size_t i = 0; i < header.size(); ++i) {
    if (header[i] == "eval_loss") cl = i;
    if (header[i] == "eval_accuracy") ca = i;
    if (header[i] == "step") cs = i;
  }
  if (cl == header.size() || ca == header.size() || cs == header.size())
    bad("--reference " + dir.string() + ": metrics.csv has no step / eval_loss / eval_accuracy column");
  while (std::getline(in, line)) {
    const auto f = experiments::split_list(line, ',');
    if (f.size() != header.size() || f[ca].empty()) continue;
    const double acc = experiments::parse_double("eval_accuracy", f[ca]);
    if (acc >= study.target) {
      source = "test loss of " + dir.string() + " at step " + f[cs] + " (accuracy " + f[ca] + " >= target " +
               experiments::format_number(study.target) + ")";
      return experiments::parse_double("eval_loss", f[cl]);
    }
  }
  bad("--reference " + dir.string() + ": the run never reached the study's target accuracy " +
      experiments::format_number(study.target));
}

void check_numbers(const CalibrateSetup& s) {
  const auto& o = s.options;
  if (o.top_k < 1) bad("--top-k = " + std::to_string(o.top_k) + ": must be >= 1");
  if (o.lanczos_max_steps < o.top_k)
    bad("--lanczos-steps = " + std::to_string(o.lanczos_max_steps) + ": must be >= --top-k = " + std::to_string(o.top_k));
  if (!(o.lanczos_tol > 0.0)) bad("--lanczos-tol: must be > 0");
  if (o.slq_probes < 1 || o.slq_steps < 1) bad("--slq-probes and --slq-steps must be >= 1");
  if (o.trace_probes < 2) bad("--trace-probes = " + std::to_string(o.trace_probes) + ": must be >= 2 (a standard error needs two)");
  if (s.hessian_examples < 1) bad("--hessian-examples = " + std::to_string(s.hessian_examples) + ": must be >= 1");
  if (s.noise_examples < 2) bad("--noise-examples = " + std::to_string(s.noise_examples) + ": must be >= 2");
  if (s.chunk < 1) bad("--chunk = " + std::to_string(s.chunk) + ": must be >= 1");
  if (s.nqm_max_steps < 1) bad("--nqm-max-steps: must be >= 1");
  if (s.threads < 0) bad("--threads: must be >= 0");
  if (!s.reference.empty() && std::isfinite(s.target_loss_option)) bad("give --reference or --target-loss, not both");
  if (s.reference.empty() && !std::isfinite(s.target_loss_option))
    bad("the target loss is needed: --reference DIR (a `batchlab train` run that met the target) or --target-loss X");
}

}  // namespace

bool parse_calibrate_args(int argc, char** argv, CalibrateSetup& s) {
  po::options_description d = calibrate_options(s);
  po::variables_map vm;
  std::vector<std::string> rest;
  try {
    const auto parsed = po::command_line_parser(argc, argv).options(d).allow_unregistered().run();
    po::store(parsed, vm);
    po::notify(vm);
    rest = po::collect_unrecognized(parsed.options, po::include_positional);
  } catch (const po::error& e) {
    bad(std::string("command line: ") + e.what());
  }
  if (vm.count("help")) {
    std::cout << "usage: batchlab calibrate STUDY.ini [--section.key=value ...] [options] [--no-plot]\n"
                 "  STUDY.ini: the real study to predict (a `batchlab study` config or a study's config.ini);\n"
                 "  --section.key=value overrides it as in `batchlab study`.\n\n"
              << d << "\n";
    return false;
  }
  s.output = vm["output"].as<std::string>();
  for (const auto& r : rest)
    if (r == "--check") bad("--check: not a calibrate option");
  std::vector<std::string> args{"calibrate"};
  args.insert(args.end(), rest.begin(), rest.end());
  std::vector<char*> av;
  for (auto& a : args) av.push_back(a.data());
  try {
    experiments::parse_real_study_args(static_cast<int>(av.size()), av.data(), s.real);
  } catch (const optim::ConfigError& e) {
    bad(e.what());
  }
  check_numbers(s);
  return true;
}


namespace {

// The study's model at its initialisation (the trainer's seed and construction), its subsets,
// then the checkpoint if one is given.
void load_model_and_data(CalibrateSetup& s) {
  const realtrain::TrainConfig& c = s.train;
  std::shared_ptr<const data::ExampleSource> train;
  try {
    train = data::open_dataset(c.dataset, realtrain::resolved_data_dir(c), "train");
  } catch (const data::DataError& e) {
    bad(e.what());
  } catch (const std::invalid_argument& e) {
    bad(e.what());
  }
  s.dataset_size = train->size();
  for (auto [name, n] : {std::pair{"--hessian-examples", s.hessian_examples}, std::pair{"--noise-examples", s.noise_examples}})
    if (n > s.dataset_size)
      bad(std::string(name) + " = " + std::to_string(n) + ": larger than the " + std::to_string(s.dataset_size) +
          " training examples of " + c.dataset);
  torch::manual_seed(c.seed);  // as the trainer does before make_model: the study's initialisation
  try {
    s.model = realtrain::make_model(realtrain::model_spec(c, *train));
  } catch (const optim::ConfigError& e) {
    bad(e.what());
  }
  std::int64_t n = 0;
  for (const auto& p : s.model->parameters()) n += p.numel();
  if (s.options.top_k > n)
    bad("--top-k = " + std::to_string(s.options.top_k) + ": larger than the " + std::to_string(n) + " parameters of " + c.model);
  const auto perm = realtrain::seeded_permutation(s.dataset_size, s.options.seed);
  const std::int64_t need = std::max(s.hessian_examples, s.noise_examples);
  const realtrain::ExampleTensors all = realtrain::load_examples(*train, {perm.begin(), perm.begin() + need});
  auto model = s.model;
  const realtrain::LossOnExamples::LossFn loss = [model](const torch::Tensor& x, const torch::Tensor& y) {
    return torch::nn::functional::cross_entropy(model->forward(x), y);
  };
  s.hessian_set = std::make_unique<realtrain::LossOnExamples>(s.model->parameters(), loss, all.head(s.hessian_examples), s.chunk);
  s.noise_set = std::make_unique<realtrain::LossOnExamples>(s.model->parameters(), loss, all.head(s.noise_examples), s.chunk);
  s.options.dataset_size = s.dataset_size;
  s.model->train();
  s.initial_loss = s.hessian_set->loss();
  s.point_loss = s.initial_loss;
  s.initial_grad_sq_raw = s.hessian_set->gradient().to(torch::kDouble).pow(2).sum().item<double>();
}

// Parameters and buffers from a `batchlab train` checkpoint of the same model.
void load_checkpoint_into_model(CalibrateSetup& s) {
  realtrain::CheckpointState st;
  try {
    st = realtrain::load_checkpoint(s.checkpoint);
  } catch (const std::exception& e) {
    bad(std::string("--checkpoint: ") + e.what());
  }
  std::vector<torch::Tensor> params = s.model->parameters(), buffers = s.model->buffers();
  const std::string which = "--checkpoint " + s.checkpoint + ": not a checkpoint of the study's model '" + s.train.model + "': ";
  if (st.params.size() != params.size())
    bad(which + "it holds " + std::to_string(st.params.size()) + " parameter tensors, the model has " + std::to_string(params.size()));
  for (std::size_t i = 0; i < params.size(); ++i)
    if (st.params[i].sizes() != params[i].sizes())
      bad(which + "parameter " + std::to_string(i) + " has shape " + c10::str(st.params[i].sizes()) + ", the model's " +
          c10::str(params[i].sizes()));
  if (st.buffers.size() != buffers.size()) bad(which + "its buffers differ");
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < params.size(); ++i) params[i].copy_(st.params[i]);
  for (std::size_t i = 0; i < buffers.size(); ++i) buffers[i].copy_(st.buffers[i]);
  s.checkpoint_step = st.step;
}

// The inputs block of an earlier calibration.json, as the measurement that wrote it.
void load_measurement(CalibrateSetup& s) {
  std::ifstream in(s.measured_file);
  if (!in) bad("--measured " + s.measured_file + ": cannot open");
  try {
    const nlohmann::json j = nlohmann::json::parse(in).at("inputs");
    if (j.at("model").get<std::string>() != s.train.model || j.at("dataset").get<std::string>() != s.train.dataset)
      bad("--measured " + s.measured_file + ": measured " + j.at("dataset").get<std::string>() + "/" +
          j.at("model").get<std::string>() + ", the study trains " + s.train.dataset + "/" + s.train.model);
    realtrain::CurvatureMeasurement m;
    m.parameters = j.at("parameters");
    m.hessian_examples = j.at("hessian_examples");
    m.noise_examples = j.at("noise_examples");
    m.loss = j.at("loss").at("at_point");
    m.top_h = j.at("eigenvalues").get<std::vector<double>>();
    m.top_residuals = j.at("eigen_residuals").get<std::vector<double>>();
    m.top_c = j.at("c").get<std::vector<double>>();
    m.top_g = j.at("g").get<std::vector<double>>();
    m.lanczos_steps = j.at("lanczos").at("steps");
    m.lanczos_converged = j.at("lanczos").at("converged");
    m.slq_nodes = j.at("slq").at("nodes").get<std::vector<double>>();
    m.slq_weights = j.at("slq").at("weights").get<std::vector<double>>();
    m.slq_probe = j.at("slq").at("probe").get<std::vector<int>>();
    for (auto [key, field] : {std::pair{"trace_h", &m.trace_h}, {"trace_h_tail", &m.tail_trace_h},
                              {"trace_h_tail_stderr", &m.tail_trace_h_stderr}, {"trace_sigma", &m.trace_sigma},
                              {"trace_sigma_tail", &m.tail_trace_sigma}, {"trace_h_sigma", &m.trace_h_sigma},
                              {"trace_h_sigma_tail", &m.tail_trace_h_sigma},
                              {"trace_h_sigma_tail_stderr", &m.tail_trace_h_sigma_stderr}, {"grad_sq", &m.grad_sq},
                              {"grad_h_grad", &m.grad_h_grad}})
      *field = j.at(key).get<double>();
    auto nan_if_null = [](const nlohmann::json& v) { return v.is_null() ? std::nan("") : v.get<double>(); };
    m.b_simple = nan_if_null(j.at("b_simple"));
    m.b_noise = nan_if_null(j.at("b_noise"));
    const auto& cost = j.at("cost");
    m.hvps = cost.at("hessian_vector_products");
    m.per_example_gradients = cost.at("per_example_gradients");
    const auto& w = cost.at("wall_s");
    m.gradient_s = w.at("gradient");
    m.lanczos_s = w.at("lanczos");
    m.slq_s = w.at("slq");
    m.trace_s = w.at("hutchinson");
    m.noise_s = w.at("noise");
    m.total_s = w.at("total");
    s.dataset_size = j.at("dataset_size");
    s.initial_loss = j.at("loss").at("initial");
    s.point_loss = m.loss;
    s.initial_grad_sq_raw = j.at("initial_grad_sq_raw");
    s.measured_point = j.at("point");
    s.measured_point["measured_by"] = s.measured_file;
    s.options.top_k = static_cast<int>(m.top_h.size());
    s.options.slq_probes = j.at("slq").at("probes");
    s.options.slq_steps = j.at("slq").at("steps");
    s.options.trace_probes = j.at("trace_probes");
    s.options.lanczos_tol = j.at("lanczos").at("tol");
    s.options.seed = j.at("seed_subsets").get<std::uint64_t>();
    s.measured = std::move(m);
  } catch (const nlohmann::json::exception& e) {
    bad("--measured " + s.measured_file + ": not a calibration.json with an inputs block (" + e.what() + ")");
  }
}

}  // namespace

void prepare_calibration(CalibrateSetup& s) {
  try {
    s.train = first_trial(s.real);
    (void)experiments::prediction_grid(s.real);
  } catch (const optim::ConfigError& e) {
    bad(e.what());
  } catch (const po::error& e) {
    bad(std::string("[train]: ") + e.what());
  }
  check_predictable(s.train);
  if (!s.compare_dir.empty()) {
    try {
      s.compare = experiments::read_measured_study(s.compare_dir, s.real.optimizers.front());
    } catch (const optim::ConfigError& e) {
      bad(e.what());
    }
  }
  if (!s.reference.empty()) {
    s.target_loss = reference_target_loss(s.reference, s.train, s.target_source);
  } else {
    s.target_loss = s.target_loss_option;
    s.target_source = "--target-loss";
  }
  if (!s.checkpoint.empty() && !fs::is_regular_file(s.checkpoint))
    bad("--checkpoint " + s.checkpoint + ": no such file");
  s.threads = realtrain::resolve_threads(s.threads);
  torch::set_num_threads(s.threads);
  if (!s.measured_file.empty()) {
    if (!s.checkpoint.empty()) bad("--measured reuses a measurement: --checkpoint has nothing to do");
    load_measurement(s);
  } else {
    load_model_and_data(s);
  }
  if (!(s.initial_loss - s.loss_floor > 0.0))
    bad("--loss-floor = " + experiments::format_number(s.loss_floor) + ": not below the initial loss " +
        experiments::format_number(s.initial_loss));
  if (!(s.target_loss > s.loss_floor && s.target_loss < s.initial_loss))
    bad("target loss " + experiments::format_number(s.target_loss) + " (" + s.target_source + ") is not between the loss floor " +
        experiments::format_number(s.loss_floor) + " and the initial loss " + experiments::format_number(s.initial_loss));
  if (!s.checkpoint.empty()) {
    load_checkpoint_into_model(s);
    s.point_loss = s.hessian_set->loss();
  }
}

nlohmann::json CalibrateSetup::point_json() const {
  if (measured) return measured_point;
  if (checkpoint.empty()) return {{"kind", "initialisation"}, {"step", 0}};
  return {{"kind", "checkpoint"}, {"checkpoint", checkpoint}, {"step", checkpoint_step}};
}

nlohmann::json CalibrateSetup::loss_json(double loss_at_point) const {
  return {{"initial", initial_loss},
          {"at_point", loss_at_point},
          {"target", target_loss},
          {"target_source", target_source},
          {"floor", loss_floor},
          {"of", "mean cross-entropy on the Hessian subset (initial, at_point); the NQM's loss is the gap to floor"}};
}

}  // namespace batchlab::cli
