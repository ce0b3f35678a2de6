// Shared by the C++ tests that read Fashion-MNIST (tests/data, tests/realtrain, tests/mpi): where
// it is. A test that needs it GTEST_SKIPs when it is missing; ctest lists that as skipped and
// scripts/test fails on any skip, since scripts/setup installs the dataset.
#pragma once

#include <cstdlib>
#include <string>

namespace batchlab::testing {

// $BATCHLAB_FMNIST_DIR (the same variable the CLI tests read, tests/cli/lib_fmnist.sh), else the
// directory of the Debian package dataset-fashion-mnist.
inline std::string fashion_mnist_dir() {
  const char* dir = std::getenv("BATCHLAB_FMNIST_DIR");
  return dir != nullptr && *dir != '\0' ? dir : "/usr/share/datasets/fashion-mnist";
}

}  // namespace batchlab::testing
