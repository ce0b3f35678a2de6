// The settings table of a study command (`batchlab sweep`, `batchlab study`): every key as
// "section.name" with its default and help. The same names work on the command line
// (--section.name=value) and in the INI file ([section] name = value); an explicit value on the
// command line beats the file, which beats the table's default.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <boost/program_options/options_description.hpp>

namespace batchlab::experiments {

struct ConfigKey {
  const char* section;
  const char* name;
  const char* def;  // "auto": resolved from other settings by the command
  const char* help;
};

std::string full_name(const ConfigKey& k);  // "section.name"
// One string-valued --section.name option per key.
void add_key_options(boost::program_options::options_description& d, std::span<const ConfigKey> keys);

// The table as (key, default) pairs: ResultsWriter::Options::defaults.
std::vector<std::pair<std::string, std::string>> table_defaults(std::span<const ConfigKey> keys);

class Settings {
 public:
  explicit Settings(std::span<const ConfigKey> table) : table_(table) {}
  // Records an explicit value; the first one wins (read the command line before the file).
  void set(const std::string& key, const std::string& value) { values_.emplace(key, value); }
  bool given(const std::string& key) const { return values_.count(key) != 0; }
  // The explicit value, else the table's default. std::logic_error for a key in neither.
  std::string get(const std::string& key) const;
  // Parsed values; ConfigError "KEY = 'VALUE': ..." when not a number or out of range.
  std::int64_t get_int(const std::string& key, std::int64_t lo, const std::string& rule) const;
  double get_double(const std::string& key) const;
  double get_positive(const std::string& key) const;
  const std::map<std::string, std::string>& explicit_values() const { return values_; }

 private:
  std::span<const ConfigKey> table_;
  std::map<std::string, std::string> values_;
};

}  // namespace batchlab::experiments
