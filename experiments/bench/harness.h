// The harness every benchmark in experiments/bench shares, in the manner of nccl-tests' common
// code: argument parsing, warm-up + timed iterations with the median, the header every report
// starts with (argv, git SHA, library versions, host, time) and a JSON record of the results.
// A benchmark file then holds only what it measures and how it checks it (#wrong).
//
//   Harness h("bench_x", "what it measures");
//   h.option("n", n, "elements");                  // --n 1000 or --n=1000
//   h.timing(/*warmup=*/3, /*iters=*/15);          // --warmup N --iters N
//   h.parse(argc, argv);                           // bad input: one line, exit 2; --help: exit 0
//   h.print_header();
//   const Samples s = h.time([&] { work(); });     // warm-up calls, then timed ones
//   h.record({{"kernel", "sgd"}, {"median_s", s.median_wall()}});
//   return h.finish(wrong);                        // "# #wrong N", --json FILE; 0 iff N == 0
//
// Every benchmark takes --json FILE: {"benchmark", "argv", "git_sha", "versions", "host",
// "started_utc", "warmup", "iters", "results": [the recorded rows], "wrong"}.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace batchlab::bench {

// of a non-empty vector (the mean of the two middle values for an even count).
double median(std::vector<double> v);
// CPU seconds of the whole process, all threads (CLOCK_PROCESS_CPUTIME_ID): on a machine shared
// with other jobs it is inflated much less than wall time.
double cpu_seconds();

// Wall and process-CPU seconds of each timed iteration.
struct Samples {
  std::vector<double> wall_s, cpu_s;
  double median_wall() const { return median(wall_s); }
  double median_cpu() const { return median(cpu_s); }
  double min_wall() const;
  double min_cpu() const;
  double mean_wall() const;
};

// `warmup` untimed calls of f, then `iters` timed ones.
Samples time_calls(int warmup, int iters, const std::function<void()>& f);

class Harness {
 public:
  Harness(std::string name, std::string about);

  // Options, declared before parse(); `--name VALUE` or `--name=VALUE`. Integers must be >= min.
  void option(const std::string& name, std::int64_t& value, const std::string& help, std::int64_t min = 1);
  void option(const std::string& name, int& value, const std::string& help, int min = 1);
  void option(const std::string& name, double& value, const std::string& help);  // finite
  void option(const std::string& name, std::string& value, const std::string& help);
  // A comma list ("a,b,c"); given again, it replaces the list.
  void option(const std::string& name, std::vector<std::string>& value, const std::string& help);
  // Each occurrence adds one value.
  void repeated(const std::string& name, std::vector<std::string>& values, const std::string& help);
  // --warmup N (>= 0) and --iters N (>= 1) with these defaults; `iters_aliases` are older names
  // of --iters that the benchmark's documented commands use (e.g. "repeat", "epochs").
  void timing(int warmup, int iters, const std::vector<std::string>& iters_aliases = {});

  // Reads argv[1..]. Bad input: "NAME: ..." on stderr, exit 2. --help: usage on stdout, exit 0.
  void parse(int argc, char** argv);

  int warmup() const { return warmup_; }
  int iters() const { return iters_; }
  // time_calls(warmup(), iters(), f).
  Samples time(const std::function<void()>& f) const { return time_calls(warmup_, iters_, f); }

  // A version shown in the header and the JSON beside the built-in ones (compiler, Eigen, ...).
  void version(const std::string& library, const std::string& text);
  // "# NAME ARGS" and "# git SHA, versions, host, UTC start" (and "# warm-up W, timed I" when
  // timing() was declared).
  void print_header(std::FILE* out = stdout) const;
  // One result row of the JSON record.
  void record(nlohmann::json row);
  // "# #wrong N" on stdout, the JSON record to --json FILE (when given); returns the exit status,
  // 0 iff wrong == 0. `report` false: neither (an MPI rank other than 0).
  int finish(std::int64_t wrong, bool report = true) const;

 private:
  using Target = std::variant<std::int64_t*, int*, double*, std::string*, std::vector<std::string>*>;
  struct Option {
    std::string name, help;
    Target target;
    std::int64_t min = 0;
    bool repeated = false;
  };
  [[noreturn]] void usage_error(const std::string& why) const;
  void set(const Option& o, const std::string& value);
  void add(Option o);

  std::string name_, about_;
  std::vector<Option> options_;
  std::vector<std::string> argv_;
  std::string json_path_;
  bool timed_ = false;
  int warmup_ = 0, iters_ = 1;
  nlohmann::json versions_, results_ = nlohmann::json::array();
  std::string started_utc_;
};

}  // namespace batchlab::bench
