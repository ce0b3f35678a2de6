#include "experiments/engine/settings.h"

#include <stdexcept>

#include <boost/program_options.hpp>

#include "experiments/engine/grid.h"

namespace batchlab::experiments {

std::string full_name(const ConfigKey& k) { return std::string(k.section) + "." + k.name; }

void add_key_options(boost::program_options::options_description& d, std::span<const ConfigKey> keys) {
  for (const auto& k : keys)
    d.add_options()(full_name(k).c_str(), boost::program_options::value<std::string>(), k.help);
}

std::vector<std::pair<std::string, std::string>> table_defaults(std::span<const ConfigKey> keys) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& k : keys) out.emplace_back(full_name(k), k.def);
  return out;
}

std::string Settings::get(const std::string& key) const {
  if (auto it = values_.find(key); it != values_.end()) return it->second;
  for (const auto& k : table_)
    if (key == full_name(k)) return k.def;
  throw std::logic_error("no setting " + key);
}

std::int64_t Settings::get_int(const std::string& key, std::int64_t lo, const std::string& rule) const {
  const std::string v = get(key);
  const std::int64_t x = parse_int(key, v);
  if (x < lo) bad_setting(key, v, "must be " + rule);
  return x;
}

double Settings::get_double(const std::string& key) const { return parse_double(key, get(key)); }

double Settings::get_positive(const std::string& key) const {
  const double x = get_double(key);
  if (!(x > 0.0)) bad_setting(key, get(key), "must be > 0");
  return x;
}

}  // namespace batchlab::experiments
