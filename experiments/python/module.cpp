// batchlab._batchlab: the C++ half of the Python module `batchlab` (the Python half, which turns
// these into DataFrames and friendly signatures, is experiments/python/batchlab/).
//
// Thin bindings over the code the CLI runs, never a second implementation:
//   run_command        `batchlab sweep` / `batchlab study` themselves (experiments/cli), on a
//                      worker thread without the GIL; the calling thread forwards progress to a
//                      Python callback and turns Ctrl-C into the driver's stop flag
//                      (study_driver.h: finished trials committed, output dir resumable)
//   plot               experiments::run_plots, as `batchlab plot DIR`
//   fit_critical_batch the engine's S(B) fit (fit.h)
//   nqm_*              the simulator's analytic NQM (sim/nqm.h) over arrays of (lr, batch size)
//   Optimizer          an optim::Optimizer over the Eigen backend, float32 or float64 NumPy arrays
//                      updated in place
// Nothing here links LibTorch: real-study trials are `batchlab train` child processes.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "experiments/cli/commands.h"
#include "experiments/engine/fit.h"
#include "experiments/engine/plots.h"
#include "optim/backend_eigen.h"
#include "optim/config.h"
#include "optim/optimizer.h"
#include "optim/precond.h"
#include "sim/nqm.h"
#include "sim/trial.h"

namespace py = pybind11;

namespace batchlab::python {
namespace {

// batchlab.ConfigError (a ValueError): bad input, the text the CLI prints before exit status 2.
// Also what an optim::ConfigError thrown by a binding becomes. Kept alive by pybind11.
py::handle g_config_error;

[[noreturn]] void raise(py::handle type, const std::string& message) {
  PyErr_SetString(type.ptr(), message.c_str());
  throw py::error_already_set();
}

// ---------------------------------------------------------------------------------------------
// sweep / study

using Command = int (*)(int, char**, const cli::CommandIo&);

Command command_named(const std::string& name) {
  if (name == "sweep") return static_cast<Command>(cli::cmd_sweep);
#ifdef BATCHLAB_HAVE_REALTRAIN
  if (name == "study") return static_cast<Command>(cli::cmd_study);
#endif
  raise(PyExc_ValueError, "batchlab: no command '" + name + "' in this build (sweep" +
#ifdef BATCHLAB_HAVE_REALTRAIN
                              std::string(", study") +
#endif
                              ")");
}

// What the command's thread tells the calling thread, under `mu`.
struct CommandState {
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  int status = 0;
  std::string error_line;
  std::string output_dir;
  std::int64_t done_before = 0, committed = 0, total = 0;
  std::atomic<bool> stop{false};
};

// Joins the command thread without the GIL (it never needs it).
void join(std::thread& t) {
  py::gil_scoped_release nogil;
  if (t.joinable()) t.join();
}

// argv = {"batchlab", COMMAND, CONFIG, options...}, exactly a CLI command line. Returns
// {"output_dir", "done_before", "total"}; raises ConfigError (exit status 2: bad input, nothing
// written), RuntimeError (1: a failure while working) or KeyboardInterrupt (Ctrl-C: the study
// stops after committing its finished trials).
py::dict run_command(std::vector<std::string> args, const std::string& batchlab_exe, const py::object& progress) {
  if (args.size() < 2) raise(PyExc_ValueError, "run_command: argv needs at least {\"batchlab\", COMMAND}");
  const Command command = command_named(args[1]);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  CommandState st;
  cli::CommandIo io;
  io.batchlab_exe = batchlab_exe;
  io.error = [&st](int, const std::string& line) {
    std::lock_guard lk(st.mu);
    st.error_line = line;
  };
  io.observer.on_start = [&st](const std::filesystem::path& dir, std::int64_t done, std::int64_t total) {
    std::lock_guard lk(st.mu);
    st.output_dir = dir.string();
    st.done_before = st.committed = done;
    st.total = total;
    st.cv.notify_all();
  };
  io.observer.on_trial = [&st](std::int64_t done, std::int64_t total) {
    std::lock_guard lk(st.mu);
    st.committed = done;
    st.total = total;
    st.cv.notify_all();
  };
  io.observer.stop = &st.stop;

  const int argc = static_cast<int>(args.size());
  std::thread worker([&] {
    int status = 1;
    try {
      status = command(argc - 1, argv.data() + 1, io);  // argv[-1] is "batchlab", as in main()
    } catch (const std::exception& e) {
      io.fail(1, ("batchlab " + args[1]).c_str(), e.what());
    }
    std::fflush(stdout);  // the fit table, before Python writes more
    std::lock_guard lk(st.mu);
    st.status = status;
    st.finished = true;
    st.cv.notify_all();
  });

  // Poll for signals (Python handles them on this thread only) and report progress.
  std::int64_t reported = -1;
  while (true) {
    bool finished = false;
    std::int64_t committed = 0, total = 0;
    {
      py::gil_scoped_release nogil;
      std::unique_lock lk(st.mu);
      st.cv.wait_for(lk, std::chrono::milliseconds(100), [&] { return st.finished || st.committed != reported; });
      finished = st.finished;
      committed = st.committed;
      total = st.total;
    }
    try {
      if (PyErr_CheckSignals() != 0) throw py::error_already_set();
      if (!progress.is_none() && total > 0 && committed != reported) progress(committed, total);
    } catch (py::error_already_set&) {  // Ctrl-C, or the progress callback raised
      st.stop = true;
      join(worker);
      throw;
    }
    reported = committed;
    if (finished) break;
  }
  join(worker);
  if (st.status == 2) raise(g_config_error, st.error_line);
  if (st.status != 0) raise(PyExc_RuntimeError, st.error_line);
  py::dict out;
  out["output_dir"] = st.output_dir.empty() ? py::object(py::none()) : py::object(py::str(st.output_dir));
  out["done_before"] = st.done_before;
  out["total"] = st.total;
  return out;
}

int plot(const std::string& dir) {
  py::gil_scoped_release nogil;
  const int status = experiments::run_plots(dir, "batchlab plot");
  std::fflush(stderr);
  return status;
}

// ---------------------------------------------------------------------------------------------
// The S(B) fit

py::dict fit_critical_batch(const std::vector<double>& batch_sizes, const std::vector<double>& steps) {
  experiments::CriticalBatchFit f;
  try {
    f = experiments::fit_critical_batch(batch_sizes, steps);
  } catch (const std::invalid_argument& e) {
    raise(PyExc_ValueError, e.what());
  }
  // The keys and the nulls of summary.json (results_writer.cpp): NaN where the fit did not run.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto num = [&](double v) { return f.ok ? v : nan; };
  py::dict d;
  d["b_crit"] = num(f.b_crit);
  d["s_min"] = num(f.s_min);
  d["e_min"] = num(f.e_min);
  d["fit_error"] = num(f.rms_log_error);
  d["fit_points"] = f.points;
  d["fit_bounded"] = f.ok && f.bounded;
  d["knee_batch"] = num(f.knee_batch);
  d["knee_batch_measured"] = f.knee_batch_measured;
  return d;
}

// ---------------------------------------------------------------------------------------------
// The analytic NQM

// A trial of the analytic NQM from the Python keywords (the settings' names in a sweep config).
sim::TrialSpec nqm_spec(const py::dict& kw) {
  sim::TrialSpec s;
  s.mode = "analytic";
  s.landscape.kind = "nqm";
  for (const auto& [k, v] : kw) {
    const std::string key = py::str(k);
    if (key == "optimizer") s.optimizer.name = v.cast<std::string>();
    else if (key == "momentum") s.optimizer.momentum = v.cast<double>();
    else if (key == "precond_power") s.optimizer.precond_power = v.cast<double>();
    else if (key == "ema_decay") s.ema_decay = v.cast<double>();
    else if (key == "dim") s.landscape.dim = v.cast<std::int64_t>();
    else if (key == "curvature_power") s.landscape.curvature_power = v.cast<double>();
    else if (key == "noise_power") s.landscape.noise_power = v.cast<double>();
    else if (key == "init_variance") s.landscape.init_variance = v.cast<double>();
    else if (key == "target") s.target = v.cast<double>();
    else if (key == "max_steps") s.max_steps = v.cast<std::int64_t>();
    else raise(PyExc_TypeError, "nqm: unexpected keyword argument '" + key + "'");
  }
  return s;
}

// Runs f(spec with lr[i], batch_size[i]) for every i, without the GIL; the arrays are 1-D of one
// length (the Python side broadcasts them and names the argument in its errors).
template <class T, class F>
py::array_t<T> over_grid(const py::array_t<double, py::array::c_style | py::array::forcecast>& lr,
                         const py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>& batch_size,
                         const sim::TrialSpec& base, F&& f) {
  if (lr.ndim() != 1 || batch_size.ndim() != 1 || lr.size() != batch_size.size())
    raise(PyExc_ValueError, "nqm: lr and batch_size must be 1-D arrays of one length");
  const auto n = lr.size();
  py::array_t<T> out(n);
  const double* plr = lr.data();
  const std::int64_t* pb = batch_size.data();
  T* po = out.mutable_data();
  {
    py::gil_scoped_release nogil;
    for (py::ssize_t i = 0; i < n; ++i) {
      sim::TrialSpec s = base;
      s.lr = plr[i];
      s.batch_size = pb[i];
      sim::validate(s);  // optim::ConfigError -> batchlab.ConfigError, as a sweep refuses it
      po[i] = f(s, i);
    }
  }
  return out;
}

py::array_t<std::int64_t> nqm_steps_to_target(const py::array_t<double, py::array::c_style | py::array::forcecast>& lr,
                                              const py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>& batch_size,
                                              const py::dict& kw) {
  return over_grid<std::int64_t>(lr, batch_size, nqm_spec(kw), [](const sim::TrialSpec& s, py::ssize_t) {
    return sim::run_validated_trial(s).steps_to_target;  // what a sweep's trial reports
  });
}

py::array_t<double> nqm_expected_loss(const py::array_t<double, py::array::c_style | py::array::forcecast>& lr,
                                      const py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>& batch_size,
                                      const py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>& steps,
                                      const py::dict& kw) {
  if (steps.ndim() != 1 || steps.size() != lr.size())
    raise(PyExc_ValueError, "nqm: steps must be a 1-D array as long as lr");
  const std::int64_t* pt = steps.data();
  return over_grid<double>(lr, batch_size, nqm_spec(kw), [pt](const sim::TrialSpec& s, py::ssize_t i) {
    if (pt[i] < 0) throw optim::ConfigError("steps = " + std::to_string(pt[i]) + ": must be >= 0");
    return sim::nqm_has_fast_path(s) ? sim::nqm_expected_loss_closed(s, pt[i])
                                     : sim::nqm_expected_loss_stepwise(s, pt[i]).back();
  });
}

// ---------------------------------------------------------------------------------------------
// Update rules

// OptimizerConfig from keywords named as its fields (the INI's optimizer.* keys).
optim::OptimizerConfig optimizer_config(const std::string& name, const py::dict& kw) {
  optim::OptimizerConfig c;
  c.name = name;
  const std::map<std::string, double*> reals = {
      {"momentum", &c.momentum},       {"dampening", &c.dampening},
      {"beta1", &c.beta1},             {"beta2", &c.beta2},
      {"eps", &c.eps},                 {"weight_decay", &c.weight_decay},
      {"trust_coefficient", &c.trust_coefficient}, {"trust_eps", &c.trust_eps},
      {"lamb_phi_lower", &c.lamb_phi_lower},       {"lamb_phi_upper", &c.lamb_phi_upper},
      {"max_grad_norm", &c.max_grad_norm},         {"precond_power", &c.precond_power}};
  const std::map<std::string, bool*> flags = {{"trust_clip", &c.trust_clip},
                                              {"lr_in_momentum", &c.lr_in_momentum},
                                              {"momentum_correction", &c.momentum_correction}};
  for (const auto& [k, v] : kw) {
    const std::string key = py::str(k);
    if (auto r = reals.find(key); r != reals.end()) *r->second = v.cast<double>();
    else if (auto f = flags.find(key); f != flags.end()) *f->second = v.cast<bool>();
    else {
      std::string known;
      for (const auto& [n, p] : reals) known += (known.empty() ? "" : ", ") + n;
      for (const auto& [n, p] : flags) known += ", " + n;
      throw optim::ConfigError("optimizers.make: unknown option '" + key + "' (known: " + known + ")");
    }
  }
  return c;
}

optim::GroupOptions group_options(const py::dict& d, std::size_t i) {
  optim::GroupOptions g;
  g.name = "group" + std::to_string(i);
  for (const auto& [k, v] : d) {
    const std::string key = py::str(k);
    if (key == "name") g.name = v.cast<std::string>();
    else if (key == "lr_mult") g.lr_mult = v.cast<double>();
    else if (key == "weight_decay_mult") g.weight_decay_mult = v.cast<double>();
    else if (key == "exclude_from_weight_decay") g.exclude_from_weight_decay = v.cast<bool>();
    else if (key == "exclude_from_adaptation") g.exclude_from_adaptation = v.cast<bool>();
    else throw optim::ConfigError("optimizers.make: groups[" + std::to_string(i) + "]: unknown key '" + key +
                                  "' (known: name, lr_mult, weight_decay_mult, exclude_from_weight_decay, "
                                  "exclude_from_adaptation)");
  }
  return g;
}

// The arrays of one step argument: one array (one group) or a list of them, each checked and
// named in errors as the caller wrote it ("params", "grads[2]").
std::vector<py::array> arrays_of(const py::handle& arg, const char* name, std::size_t groups) {
  std::vector<std::pair<py::handle, std::string>> items;
  if (py::isinstance<py::list>(arg) || py::isinstance<py::tuple>(arg)) {
    std::size_t i = 0;
    for (auto x : arg) items.emplace_back(x, std::string(name) + "[" + std::to_string(i++) + "]");
  } else {
    items.emplace_back(arg, name);
  }
  if (items.size() != groups)
    raise(PyExc_ValueError, std::string(name) + ": " + std::to_string(items.size()) + " array(s) for " +
                                std::to_string(groups) + " parameter group(s)");
  std::vector<py::array> out;
  for (const auto& [x, label] : items) {
    if (!py::isinstance<py::array>(x))
      raise(PyExc_TypeError, label + ": expected a numpy array, got " + py::str(py::object(x.get_type().attr("__name__"))).cast<std::string>());
    auto a = py::reinterpret_borrow<py::array>(x);
    const auto dt = a.dtype();
    if (!dt.is(py::dtype::of<float>()) && !dt.is(py::dtype::of<double>()))
      raise(PyExc_TypeError, label + ": expected float32 or float64, got " + py::str(py::handle(dt)).cast<std::string>());
    if (!(a.flags() & py::array::c_style))
      raise(PyExc_ValueError, label + ": must be C-contiguous (np.ascontiguousarray)");
    out.push_back(a);
  }
  return out;
}

class PyOptimizer {
 public:
  PyOptimizer(const std::string& name, const py::dict& options, const py::object& groups) {
    const optim::OptimizerConfig cfg = optimizer_config(name, options);
    std::vector<optim::GroupOptions> gs;
    if (groups.is_none()) gs.push_back(group_options(py::dict(), 0));
    else if (py::isinstance<py::int_>(groups))
      for (std::size_t i = 0; i < groups.cast<std::size_t>(); ++i) gs.push_back(group_options(py::dict(), i));
    else
      for (auto g : groups) gs.push_back(group_options(py::reinterpret_borrow<py::dict>(g), gs.size()));
    // Both precisions now, so bad settings fail at make(); a step picks by its arrays' dtype.
    d_ = std::make_unique<optim::Optimizer<optim::EigenD>>(cfg, gs);
    f_ = std::make_unique<optim::Optimizer<optim::EigenF>>(cfg, gs);
  }

  void step(const py::object& params, const py::object& grads, double lr) {
    const std::size_t n = d_->groups().size();
    auto p = arrays_of(params, "params", n);
    auto g = arrays_of(grads, "grads", n);
    const bool single = p[0].dtype().is(py::dtype::of<float>());
    for (std::size_t i = 0; i < n; ++i) {
      const std::string pi = n == 1 && !py::isinstance<py::list>(params) ? "params" : "params[" + std::to_string(i) + "]";
      const std::string gi = n == 1 && !py::isinstance<py::list>(grads) ? "grads" : "grads[" + std::to_string(i) + "]";
      if (!p[i].dtype().is(p[0].dtype())) raise(PyExc_TypeError, pi + ": every group needs one dtype");
      if (!g[i].dtype().is(p[i].dtype()))
        raise(PyExc_TypeError, gi + ": dtype " + py::str(py::handle(g[i].dtype())).cast<std::string>() + " differs from " + pi + "'s " +
                                   py::str(py::handle(p[i].dtype())).cast<std::string>());
      if (!p[i].writeable()) raise(PyExc_ValueError, pi + ": must be writeable (updated in place)");
      if (g[i].ndim() != p[i].ndim() || !std::equal(p[i].shape(), p[i].shape() + p[i].ndim(), g[i].shape()))
        raise(PyExc_ValueError, gi + ": shape differs from " + pi + "'s");
    }
    if (dtype_set_ && single != single_)
      raise(PyExc_TypeError, std::string("params: ") + (single ? "float32" : "float64") + " after steps in " +
                                 (single_ ? "float32" : "float64") + ": an optimizer's state has one dtype");
    if (single) run<optim::EigenF>(*f_, p, g, lr);
    else run<optim::EigenD>(*d_, p, g, lr);
    dtype_set_ = true;
    single_ = single;
  }

  // precond: the curvature diagonal D of a group (optim/precond.h), in both precisions.
  void set_curvature(std::size_t group, const py::array_t<double, py::array::c_style | py::array::forcecast>& d) {
    if (group >= d_->groups().size()) raise(PyExc_ValueError, "group: " + std::to_string(group) + " out of range");
    if (d_->config().name != "precond") throw optim::ConfigError("set_curvature: only for precond, not " + d_->config().name);
    const Eigen::Map<const Eigen::VectorXd> dd(d.data(), d.size());
    optim::precond_rule(d_->rule()).set_curvature(group, dd);
    const Eigen::VectorXf df = dd.cast<float>();
    optim::precond_rule(f_->rule()).set_curvature(group, df);
  }

  std::int64_t steps() const { return dtype_set_ && single_ ? f_->steps() : d_->steps(); }
  std::vector<double> trust_ratios() const { return dtype_set_ && single_ ? f_->trust_ratios() : d_->trust_ratios(); }
  std::string name() const { return d_->rule().name(); }

 private:
  template <class B, class O>
  static void run(O& opt, std::vector<py::array>& p, const std::vector<py::array>& g, double lr) {
    using S = typename B::Scalar;
    using Vec = typename B::Buffer;
    std::vector<typename B::View> views;
    std::vector<typename B::CView> cviews;
    for (std::size_t i = 0; i < p.size(); ++i) {
      views.emplace_back(Eigen::Map<Vec>(static_cast<S*>(p[i].mutable_data()), p[i].size()));
      cviews.emplace_back(Eigen::Map<const Vec>(static_cast<const S*>(g[i].data()), g[i].size()));
    }
    py::gil_scoped_release nogil;
    opt.step(views, cviews, lr);
  }

  std::unique_ptr<optim::Optimizer<optim::EigenD>> d_;
  std::unique_ptr<optim::Optimizer<optim::EigenF>> f_;
  bool dtype_set_ = false, single_ = false;
};

}  // namespace
}  // namespace batchlab::python

PYBIND11_MODULE(_batchlab, m) {
  using namespace batchlab::python;
  namespace optim = batchlab::optim;
  m.doc() = "batchlab's C++ core (see the batchlab package for the documented interface)";
  g_config_error = py::register_exception<optim::ConfigError>(m, "ConfigError", PyExc_ValueError);
  m.def("run_command", &run_command, py::arg("argv"), py::arg("batchlab_exe"), py::arg("progress"));
  m.def("plot", &plot, py::arg("results_dir"));
  m.def("fit_critical_batch", &fit_critical_batch, py::arg("batch_sizes"), py::arg("steps"));
  m.def("nqm_steps_to_target", &nqm_steps_to_target, py::arg("lr"), py::arg("batch_size"), py::arg("settings"));
  m.def("nqm_expected_loss", &nqm_expected_loss, py::arg("lr"), py::arg("batch_size"), py::arg("steps"),
        py::arg("settings"));
  py::class_<PyOptimizer>(m, "Optimizer")
      .def(py::init<const std::string&, const py::dict&, const py::object&>(), py::arg("name"), py::arg("options"),
           py::arg("groups"))
      .def("step", &PyOptimizer::step, py::arg("params"), py::arg("grads"), py::arg("lr"))
      .def("set_curvature", &PyOptimizer::set_curvature, py::arg("group"), py::arg("curvature"))
      .def_property_readonly("steps", &PyOptimizer::steps)
      .def_property_readonly("trust_ratios", &PyOptimizer::trust_ratios)
      .def_property_readonly("name", &PyOptimizer::name);
  m.def("rule_names", &optim::rule_names);
}
