// Shared by the trainer tests (tests/realtrain, tests/mpi): a `batchlab train` output dir's
// metrics.csv read back as rows of columns, the header first.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace batchlab::realtrain::testing {

// Every line split at commas; a trailing empty column (an unmeasured value last) is kept.
inline std::vector<std::vector<std::string>> read_metrics_csv(const std::filesystem::path& dir) {
  std::ifstream f(dir / "metrics.csv");
  std::vector<std::vector<std::string>> rows;
  std::string line;
  while (std::getline(f, line)) {
    std::vector<std::string> cols;
    std::stringstream ss(line);
    std::string col;
    while (std::getline(ss, col, ',')) cols.push_back(col);
    if (!line.empty() && line.back() == ',') cols.push_back("");
    rows.push_back(cols);
  }
  return rows;
}

}  // namespace batchlab::realtrain::testing
