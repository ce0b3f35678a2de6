#include "experiments/engine/grid.h"

#include <algorithm>
#include <cmath>
#include <string_view>

#include "optim/config.h"
#include "optim/io.h"

namespace batchlab::experiments {
namespace {

using optim::ConfigError;

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

void sort_unique(std::vector<double>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

}  // namespace

double parse_double(const std::string& key, const std::string& text) {
  if (text.find_first_not_of(" \t") == std::string::npos) bad_setting(key, text, "empty value, expected a number");
  const auto v = optim::to_double(text);
  if (!v) bad_setting(key, text, "not a finite number");
  return *v;
}

std::int64_t parse_int(const std::string& key, const std::string& text) {
  if (text.find_first_not_of(" \t") == std::string::npos) bad_setting(key, text, "empty value, expected an integer");
  const auto v = optim::to_int(text);
  if (!v) bad_setting(key, text, "not an integer");
  return *v;
}

bool parse_bool(const std::string& key, const std::string& text) {
  const std::string t = trim(text);
  if (t == "true" || t == "1" || t == "yes" || t == "on") return true;
  if (t == "false" || t == "0" || t == "no" || t == "off") return false;
  bad_setting(key, text, "not a boolean (true/false)");
}

std::vector<double> linspace(double lo, double hi, int n) {
  std::vector<double> v(static_cast<std::size_t>(n));
  if (n == 1) {
    v[0] = lo;
    return v;
  }
  // numpy: step = (stop - start) / (num - 1); y = arange(num) * step + start; y[-1] = stop.
  const double step = (hi - lo) / static_cast<double>(n - 1);
  for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = static_cast<double>(i) * step + lo;
  v.back() = hi;
  return v;
}

std::vector<double> logspace_values(double lo, double hi, int n) {
  std::vector<double> e = linspace(std::log10(lo), std::log10(hi), n);
  for (auto& x : e) x = std::pow(10.0, x);
  return e;
}

Grid parse_grid(const std::string& key, const std::string& text) {
  const std::string t = trim(text);
  if (t.empty()) bad_setting(key, text, "empty grid");
  Grid g;
  const auto colon = t.find(':');
  if (colon != std::string::npos) {
    const std::string kind = t.substr(0, colon);
    const auto parts = split_list(t.substr(colon + 1), ':');
    if (kind != "log" && kind != "lin" && kind != "scaled")
      bad_setting(key, text, "unknown grid kind '" + kind + "' (log:LO:HI:N, lin:LO:HI:N, scaled:LO:HI:N, or a list)");
    if (parts.size() != 3) bad_setting(key, text, "expected " + kind + ":LO:HI:N");
    double lo = 0, hi = 0;
    std::int64_t n = 0;
    try {
      lo = parse_double(key, parts[0]);
      hi = parse_double(key, parts[1]);
      n = parse_int(key, parts[2]);
    } catch (const ConfigError&) {
      bad_setting(key, text, "expected " + kind + ":LO:HI:N with numbers LO, HI and an integer N");
    }
    if (n < 1 || n > 100000) bad_setting(key, text, "N = " + std::to_string(n) + " must be in [1, 100000]");
    if (kind == "lin") {
      g.values = linspace(lo, hi, static_cast<int>(n));
    } else {
      if (!(lo > 0.0 && hi > 0.0)) bad_setting(key, text, "log-spaced grids need LO > 0 and HI > 0");
      g.values = logspace_values(lo, hi, static_cast<int>(n));
      g.scaled = kind == "scaled";
    }
  } else {
    for (const auto& item : split_list(t, ',')) {
      try {
        g.values.push_back(parse_double(key, item));
      } catch (const ConfigError&) {
        bad_setting(key, text, "'" + item + "' is not a finite number (grids: list, log:LO:HI:N, lin:LO:HI:N, scaled:LO:HI:N)");
      }
    }
  }
  sort_unique(g.values);
  return g;
}

std::vector<std::int64_t> parse_batch_sizes(const std::string& key, const std::string& text) {
  const std::string t = trim(text);
  std::vector<std::int64_t> out;
  if (t.starts_with("pow2:")) {
    const auto parts = split_list(t.substr(5), ':');
    if (parts.size() != 2) bad_setting(key, text, "expected pow2:LO:HI (exponents: 2^LO .. 2^HI)");
    std::int64_t lo = 0, hi = 0;
    try {
      lo = parse_int(key, parts[0]);
      hi = parse_int(key, parts[1]);
    } catch (const ConfigError&) {
      bad_setting(key, text, "expected pow2:LO:HI with integer exponents");
    }
    if (lo < 0 || hi > 40 || lo > hi) bad_setting(key, text, "need 0 <= LO <= HI <= 40 (exponents of 2)");
    for (std::int64_t e = lo; e <= hi; ++e) out.push_back(std::int64_t{1} << e);
    return out;
  }
  if (t.empty()) bad_setting(key, text, "empty list of batch sizes");
  for (const auto& item : split_list(t, ',')) {
    std::int64_t b = 0;
    try {
      b = parse_int(key, item);
    } catch (const ConfigError&) {
      bad_setting(key, text, "'" + item + "' is not an integer (list, or pow2:LO:HI)");
    }
    if (b <= 0) bad_setting(key, text, "batch size " + std::to_string(b) + " must be > 0");
    out.push_back(b);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::uint64_t> parse_seeds(const std::string& key, const std::string& text) {
  const std::string t = trim(text);
  if (t.empty()) bad_setting(key, text, "empty list of seeds");
  std::vector<std::uint64_t> out;
  for (const auto& item : split_list(t, ',')) {
    const std::int64_t s = parse_int(key, item);
    if (s < 0) bad_setting(key, text, "seed " + std::to_string(s) + " must be >= 0");
    if (std::find(out.begin(), out.end(), static_cast<std::uint64_t>(s)) != out.end())
      bad_setting(key, text, "seed " + std::to_string(s) + " listed twice");
    out.push_back(static_cast<std::uint64_t>(s));
  }
  return out;
}

void bad_setting(const std::string& key, const std::string& value, const std::string& why) {
  throw ConfigError(key + " = '" + value + "': " + why);
}

std::vector<double> parse_targets(const std::string& key, const std::string& text) {
  if (text == "none") return {};
  std::vector<double> out;
  for (const std::string& item : split_list(text)) {
    const double t = parse_double(key, item);
    if (!(t > 0.0)) bad_setting(key, text, "target " + item + " must be > 0");
    for (double u : out)
      if (u == t) bad_setting(key, text, "target " + item + " is listed twice");
    out.push_back(t);
  }
  if (out.size() < 2) bad_setting(key, text, "give at least 2 targets (one target: study.target / train.target)");
  return out;
}

}  // namespace batchlab::experiments
