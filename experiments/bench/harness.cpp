#include "experiments/bench/harness.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <utility>

#include "experiments/engine/provenance.h"
#include "optim/io.h"

namespace batchlab::bench {

double median(std::vector<double> v) {
  if (v.empty()) throw std::invalid_argument("median of no samples");
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double Samples::min_wall() const { return *std::min_element(wall_s.begin(), wall_s.end()); }
double Samples::min_cpu() const { return *std::min_element(cpu_s.begin(), cpu_s.end()); }
double Samples::mean_wall() const {
  double s = 0.0;
  for (double x : wall_s) s += x;
  return s / static_cast<double>(wall_s.size());
}

Samples time_calls(int warmup, int iters, const std::function<void()>& f) {
  for (int i = 0; i < warmup; ++i) f();
  Samples s;
  for (int i = 0; i < iters; ++i) {
    const double c0 = cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    f();
    s.wall_s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    s.cpu_s.push_back(cpu_seconds() - c0);
  }
  return s;
}

Harness::Harness(std::string name, std::string about)
    : name_(std::move(name)), about_(std::move(about)), versions_(experiments::library_versions()),
      started_utc_(experiments::utc_now_iso()) {
  add({"json", "write the results as JSON to this file", &json_path_});
}

void Harness::add(Option o) { options_.push_back(std::move(o)); }

void Harness::option(const std::string& name, std::int64_t& v, const std::string& help, std::int64_t min) {
  add({name, help, &v, min});
}
void Harness::option(const std::string& name, int& v, const std::string& help, int min) { add({name, help, &v, min}); }
void Harness::option(const std::string& name, double& v, const std::string& help) { add({name, help, &v}); }
void Harness::option(const std::string& name, std::string& v, const std::string& help) { add({name, help, &v}); }
void Harness::option(const std::string& name, std::vector<std::string>& v, const std::string& help) {
  add({name, help, &v});
}
void Harness::repeated(const std::string& name, std::vector<std::string>& v, const std::string& help) {
  add({name, help, &v, 0, /*repeated=*/true});
}

void Harness::timing(int warmup, int iters, const std::vector<std::string>& iters_aliases) {
  timed_ = true;
  warmup_ = warmup;
  iters_ = iters;
  add({"warmup", "untimed iterations first", &warmup_, 0});
  add({"iters", "timed iterations (the median is reported)", &iters_, 1});
  for (const auto& a : iters_aliases) add({a, "same as --iters", &iters_, 1});
}

void Harness::usage_error(const std::string& why) const {
  std::fprintf(stderr, "%s: %s\n", name_.c_str(), why.c_str());
  std::exit(2);
}

void Harness::set(const Option& o, const std::string& value) {
  const std::string what = "--" + o.name + " = '" + value + "': ";
  if (auto* p = std::get_if<std::int64_t*>(&o.target); p || std::holds_alternative<int*>(o.target)) {
    const auto v = optim::to_int(value);
    if (!v) usage_error(what + "not an integer");
    if (*v < o.min) usage_error(what + "must be >= " + std::to_string(o.min));
    if (p) **p = *v;
    else *std::get<int*>(o.target) = static_cast<int>(*v);
  } else if (auto* d = std::get_if<double*>(&o.target)) {
    const auto v = optim::to_double(value);
    if (!v) usage_error(what + "not a finite number");
    **d = *v;
  } else if (auto* s = std::get_if<std::string*>(&o.target)) {
    **s = value;
  } else {
    auto& list = *std::get<std::vector<std::string>*>(o.target);
    if (o.repeated) {
      list.push_back(value);
      return;
    }
    list = optim::split_list(value);
    for (const auto& item : list)
      if (item.empty()) usage_error(what + "empty item in the list");
  }
}

void Harness::parse(int argc, char** argv) {
  argv_.assign(argv, argv + argc);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf("%s: %s\noptions:\n", name_.c_str(), about_.c_str());
      for (const auto& o : options_) std::printf("  --%-16s %s\n", o.name.c_str(), o.help.c_str());
      std::exit(0);
    }
    if (!a.starts_with("--")) usage_error("unexpected argument '" + a + "' (options are --name VALUE; --help)");
    std::string value;
    const auto eq = a.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
    }
    const auto it = std::find_if(options_.begin(), options_.end(), [&](const Option& o) { return "--" + o.name == a; });
    if (it == options_.end()) usage_error("unknown option '" + a + "' (--help lists them)");
    if (!inline_value) {
      if (i + 1 >= argc) usage_error(a + " needs a value");
      value = argv[++i];
    }
    set(*it, value);
  }
}

void Harness::version(const std::string& library, const std::string& text) { versions_[library] = text; }

void Harness::print_header(std::FILE* out) const {
  std::string cmd = "#", versions;
  for (const auto& a : argv_) cmd.append(" ").append(a);
  for (const auto& [library, text] : versions_.items())
    versions.append(versions.empty() ? "" : ", ").append(library).append(" ").append(text.is_string() ? text.get<std::string>() : text.dump());
  std::fprintf(out, "%s\n# git %s; %s; host %s; %s\n", cmd.c_str(), experiments::git_sha().c_str(), versions.c_str(),
               experiments::hostname().c_str(), started_utc_.c_str());
  if (timed_) std::fprintf(out, "# %d warm-up + %d timed iterations (median)\n", warmup_, iters_);
}

void Harness::record(nlohmann::json row) { results_.push_back(std::move(row)); }

int Harness::finish(std::int64_t wrong, bool report) const {
  if (!report) return wrong == 0 ? 0 : 1;
  std::printf("# #wrong %lld\n", static_cast<long long>(wrong));
  if (!json_path_.empty()) {
    const nlohmann::json j = {{"benchmark", name_},  {"argv", argv_},       {"git_sha", experiments::git_sha()},
                              {"versions", versions_}, {"host", experiments::hostname()},
                              {"started_utc", started_utc_}, {"warmup", warmup_}, {"iters", iters_},
                              {"results", results_}, {"wrong", wrong}};
    optim::write_file_atomic(json_path_, j.dump(2) + "\n");
  }
  return wrong == 0 ? 0 : 1;
}

}  // namespace batchlab::bench
