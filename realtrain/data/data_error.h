// Errors of the dataset loaders: always name the file and what is wrong with it.
#pragma once

#include <stdexcept>
#include <string>

namespace batchlab::data {

struct DataError : std::runtime_error {
  DataError(const std::string& path, const std::string& what)
      : std::runtime_error(path + ": " + what), path_(path) {}
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace batchlab::data
