// Shared by the MPI test programs (tests/mpi/*.cpp, each one ctest test under mpiexec -np 2):
// the end of their main.
#pragma once

#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>

namespace batchlab::testing {

// On the ranks that do not print: their failed assertions still reach stderr, with the rank, so a
// failure on rank 1 alone says what failed.
class FailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit FailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (r.failed())
      std::fprintf(stderr, "rank %d: %s:%d: failure\n%s\n", rank_, r.file_name() ? r.file_name() : "?",
                   r.line_number(), r.summary());
  }

 private:
  int rank_;
};

// ctest's SKIP_RETURN_CODE for the MPI tests (tests/CMakeLists.txt).
constexpr int kSkipExitCode = 77;

// Runs every test on this rank, printing on rank 0 only, and returns the job's exit status, the
// same on every rank: 1 if a test failed on some rank (only rank 0 prints, so rank 1's failure
// must still fail the job), else kSkipExitCode if a test skipped on some rank (a job that passes
// with a skipped test would hide that nothing was checked), else 0. Call after MPI_Init.
inline int run_on_all_ranks(int rank, const char* program) {
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new FailurePrinter(rank));
  }
  int outcome[2] = {RUN_ALL_TESTS() != 0 ? 1 : 0,
                    ::testing::UnitTest::GetInstance()->skipped_test_count() > 0 ? 1 : 0};
  MPI_Allreduce(MPI_IN_PLACE, outcome, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  const bool failed = outcome[0] != 0, skipped = outcome[1] != 0;
  if (rank == 0 && failed) std::fprintf(stderr, "%s: a test failed on some rank\n", program);
  if (rank == 0 && !failed && skipped)
    std::fprintf(stderr, "%s: a test skipped on some rank: exit %d (ctest: skipped)\n", program, kSkipExitCode);
  return failed ? 1 : skipped ? kSkipExitCode : 0;
}

}  // namespace batchlab::testing
