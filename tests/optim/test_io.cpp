// The shared low-level helpers of optim/io.h: numbers that read back to themselves, files that
// are replaced or appended as one step, and the comma lists of config values with one-line
// errors naming the setting.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "optim/config.h"
#include "optim/io.h"
#include "optim/trial_status.h"

using namespace batchlab::optim;
namespace fs = std::filesystem;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST(FormatNumber, IsTheShortestTextThatReadsBackToTheSameDouble) {
  EXPECT_EQ(format_number(0.1), "0.1");
  EXPECT_EQ(format_number(1e-5), "1e-05");
  EXPECT_EQ(format_number(3.0), "3");
  EXPECT_EQ(format_number(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(format_number(std::nan("")), "nan");
  EXPECT_EQ(format_number(-std::numeric_limits<double>::infinity()), "-inf");
  for (double v : {1.0 / 3.0, 6.02214076e23, 2.5e-300, 0.0125})
    EXPECT_EQ(std::stod(format_number(v)), v) << format_number(v);
}

TEST(FormatNumber, WithSignificantDigitsIsPrintfsG) {
  EXPECT_EQ(format_number(1.0 / 3.0, 8), "0.33333333");
  EXPECT_EQ(format_number(12345.678, 4), "1.235e+04");
  EXPECT_EQ(format_number(0.5, 8), "0.5");
  EXPECT_EQ(format_number(std::numeric_limits<double>::infinity(), 8), "inf");
}

TEST(ToNumber, AcceptsOnlyAWholeNumber) {
  EXPECT_EQ(to_int(" 42 "), 42);
  EXPECT_FALSE(to_int("4x"));
  EXPECT_FALSE(to_int("1e3"));
  EXPECT_FALSE(to_int(""));
  EXPECT_EQ(to_double("1e-3"), 1e-3);
  EXPECT_FALSE(to_double("inf"));
  EXPECT_FALSE(to_double("0.1.2"));
}

TEST(SplitList, TrimsItemsAndKeepsEmptyOnes) {
  EXPECT_EQ(split_list(" a, b ,,c "), (std::vector<std::string>{"a", "b", "", "c"}));
  EXPECT_EQ(split_list(""), (std::vector<std::string>{""}));
  EXPECT_EQ(split_list("mpirun  -np 2", ' '), (std::vector<std::string>{"mpirun", "", "-np", "2"}));
}

TEST(ParseCountList, ReadsMilestonesAndNamesTheSettingInEveryError) {
  EXPECT_EQ(parse_count_list("k", "30, 60,80", true), (std::vector<std::int64_t>{30, 60, 80}));
  EXPECT_TRUE(parse_count_list("k", "", true).empty());
  EXPECT_EQ(parse_count_list("k", "60,30", false), (std::vector<std::int64_t>{60, 30}));
  EXPECT_EQ(error_of([] { parse_count_list("train.batch-milestones", "100,x", true); }),
            "train.batch-milestones = '100,x': 'x' is not a whole number > 0");
  EXPECT_EQ(error_of([] { parse_count_list("schedule.milestones", "5,,6", false); }),
            "schedule.milestones = '5,,6': '' is not a whole number > 0");
  EXPECT_EQ(error_of([] { parse_count_list("k", "0", false); }), "k = '0': '0' is not a whole number > 0");
  EXPECT_EQ(error_of([] { parse_count_list("train.batch-milestones", "100,50", true); }),
            "train.batch-milestones = '100,50': 50 does not exceed the previous milestone 100 (milestones must be "
            "strictly increasing)");
}

TEST(ParseNonnegativeList, ReadsEpochMilestones) {
  EXPECT_EQ(parse_nonnegative_list("train.milestones", "0.5,30"), (std::vector<double>{0.5, 30.0}));
  EXPECT_EQ(error_of([] { parse_nonnegative_list("train.milestones", "1,-2"); }),
            "train.milestones = '1,-2': '-2' is not a number >= 0");
}

TEST(AtomicWrites, ReplaceAndAppendLeaveNoTemporaryBehind) {
  const fs::path dir = fs::temp_directory_path() / ("batchlab_io_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path f = dir / "a.csv";
  write_file_atomic(f, "x\n1\n");
  append_file_atomic(f, "2\n");
  append_file_atomic(f, "3\n");
  EXPECT_EQ(slurp(f), "x\n1\n2\n3\n");
  write_file_atomic(f, "z\n", Durability::kProcessKill);
  EXPECT_EQ(slurp(f), "z\n");
  write_file_atomic(f, "y\n");
  EXPECT_EQ(slurp(f), "y\n");
  replace_file_atomic(dir / "b.bin", [](const fs::path& tmp) { std::ofstream(tmp) << "archive"; });
  EXPECT_EQ(slurp(dir / "b.bin"), "archive");
  // A writer that fails leaves the old file as it was.
  EXPECT_THROW(replace_file_atomic(f, [](const fs::path&) { throw std::runtime_error("disk full"); }),
               std::runtime_error);
  EXPECT_EQ(slurp(f), "y\n");
  EXPECT_FALSE(fs::exists(dir / "a.csv.tmp"));
  EXPECT_FALSE(fs::exists(dir / "b.bin.tmp"));
  fs::remove_all(dir);
}

TEST(TrialStatusText, ReadsBackWhatItWrites) {
  for (TrialStatus s : {TrialStatus::kReached, TrialStatus::kNotReached, TrialStatus::kDiverged, TrialStatus::kFailed})
    EXPECT_EQ(parse_trial_status(to_string(s)), s);
  EXPECT_EQ(to_string(TrialStatus::kNotReached), "not_reached");
  EXPECT_EQ(to_string(TrialStatus::kFailed), "failed");
  EXPECT_THROW(parse_trial_status("done"), std::invalid_argument);
}
