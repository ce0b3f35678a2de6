// Grid notations of a study config ([study] batch_sizes, lr_grid, momentum_grid, ema_grid, seeds).
//
//   batch_sizes   "4,8,16" (explicit)  |  "pow2:LO:HI" = 2^LO, 2^(LO+1), ..., 2^HI (exponents)
//   lr grids      "0.1,0.2" (explicit)
//                 "log:LO:HI:N"    N values geometrically spaced from LO to HI, computed as
//                                  numpy.logspace(log10(LO), log10(HI), N) (LO and HI are values,
//                                  not exponents; both must be > 0)
//                 "lin:LO:HI:N"    numpy.linspace(LO, HI, N)
//                 "scaled:LO:HI:N" log-spaced multipliers (as log:) applied to the scaling rule's
//                                  lr at each batch size ([scaling] rule, batch_ref, lr_ref, max_lr)
// Every grid is returned sorted ascending without duplicates, so "index 0" and "index N-1" are
// the edges whatever order the user wrote. Errors are ConfigError naming the key and the value.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "optim/io.h"

namespace batchlab::experiments {

struct Grid {
  std::vector<double> values;  // ascending; for scaled grids these are the multipliers
  bool scaled = false;
};

// `key` (e.g. "study.lr_grid") only names the setting in error messages.
Grid parse_grid(const std::string& key, const std::string& text);
std::vector<std::int64_t> parse_batch_sizes(const std::string& key, const std::string& text);
std::vector<std::uint64_t> parse_seeds(const std::string& key, const std::string& text);
// study.targets: "none" (the one-target form, study.target / train.target) -> empty, or a comma
// list of at least 2 distinct positive numbers, kept in the order written.
std::vector<double> parse_targets(const std::string& key, const std::string& text);

// numpy.logspace(log10(lo), log10(hi), n) and numpy.linspace(lo, hi, n), unsorted.
std::vector<double> logspace_values(double lo, double hi, int n);
std::vector<double> linspace(double lo, double hi, int n);

// Strict number parsing for config values: the whole string must be a finite number.
// Throws ConfigError "KEY = 'TEXT': not a number".
double parse_double(const std::string& key, const std::string& text);
std::int64_t parse_int(const std::string& key, const std::string& text);
bool parse_bool(const std::string& key, const std::string& text);

// Items of a comma list, trimmed, empty items kept (optim/io.h: the one list splitter).
using optim::split_list;
// The one-line form of every config error: throws ConfigError "KEY = 'VALUE': WHY".
[[noreturn]] void bad_setting(const std::string& key, const std::string& value, const std::string& why);

}  // namespace batchlab::experiments
