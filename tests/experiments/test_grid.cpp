// Grid notations of study configs against numpy (tests/reference/exp_grids.py) and hand lists.
#include <gtest/gtest.h>

#include "experiments/engine/grid.h"
#include "optim/config.h"

using namespace batchlab::experiments;
using batchlab::optim::ConfigError;

namespace {

void expect_close(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 4e-16 * std::abs(want[i])) << i;
}

std::string error_of(const std::string& key, const std::string& text) {
  try {
    parse_grid(key, text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Grid, LogGridIsNumpyLogspaceOnTheValues) {
  // python3 tests/reference/exp_grids.py
  expect_close(parse_grid("study.lr_grid", "log:1e-3:10:9").values,
               {0.001, 0.0031622776601683794, 0.01, 0.03162277660168379, 0.1, 0.31622776601683794, 1.0,
                3.1622776601683795, 10.0});
  expect_close(parse_grid("study.lr_grid", "log:0.01:4:7").values,
               {0.01, 0.027144176165949066, 0.07368062997280773, 0.20000000000000004, 0.5428835233189814,
                1.473612599456155, 4.0});
  EXPECT_FALSE(parse_grid("study.lr_grid", "log:0.01:4:7").scaled);
}

TEST(Grid, LinGridIsNumpyLinspace) {
  expect_close(parse_grid("k", "lin:0.1:0.9:5").values, {0.1, 0.30000000000000004, 0.5, 0.7000000000000001, 0.9});
  expect_close(parse_grid("k", "lin:0:1:4").values, {0.0, 0.3333333333333333, 0.6666666666666666, 1.0});
}

TEST(Grid, OnePointGridIsItsStart) {
  EXPECT_EQ(parse_grid("k", "log:0.5:2:1").values, std::vector<double>{0.5});
  EXPECT_EQ(parse_grid("k", "lin:3:4:1").values, std::vector<double>{3.0});
}

TEST(Grid, ScaledGridHoldsLogSpacedMultipliers) {
  const Grid g = parse_grid("k", "scaled:0.25:4:5");
  EXPECT_TRUE(g.scaled);
  expect_close(g.values, {0.25, 0.5, 1.0, 2.0, 4.0});
}

TEST(Grid, ListsAndReversedRangesComeBackSortedWithoutDuplicates) {
  EXPECT_EQ(parse_grid("k", " 0.3, 0.1,0.2 ,0.1").values, (std::vector<double>{0.1, 0.2, 0.3}));
  expect_close(parse_grid("k", "log:10:0.1:3").values, {0.1, 1.0, 10.0});
}

TEST(Grid, BadGridsNameTheKeyAndTheValue) {
  for (const char* bad : {"log:1:0.1:x", "log:0:1:3", "log:-1:1:3", "lin:1:2", "cubic:1:2:3", "log:1:2:0",
                          "0.1,abc", "", "lin:1:2:3:4", "log:1:inf:3"}) {
    const std::string msg = error_of("study.lr_grid", bad);
    EXPECT_NE(msg.find("study.lr_grid = '"), std::string::npos) << bad << " -> " << msg;
    EXPECT_NE(msg.find(std::string("'") + bad + "'"), std::string::npos) << bad << " -> " << msg;
  }
}

TEST(Grid, BatchSizesPow2UsesExponents) {
  EXPECT_EQ(parse_batch_sizes("study.batch_sizes", "pow2:2:5"), (std::vector<std::int64_t>{4, 8, 16, 32}));
  EXPECT_EQ(parse_batch_sizes("study.batch_sizes", "64, 8,8"), (std::vector<std::int64_t>{8, 64}));
  EXPECT_EQ(parse_batch_sizes("study.batch_sizes", "pow2:20:20"), (std::vector<std::int64_t>{1 << 20}));
}

TEST(Grid, NonPositiveOrMalformedBatchSizesAreErrors) {
  for (const char* bad : {"0", "-4", "8,0", "pow2:3:2", "pow2:1", "pow2:1:99", "4.5", "x"})
    EXPECT_THROW(parse_batch_sizes("study.batch_sizes", bad), ConfigError) << bad;
}

TEST(Grid, SeedsAreDistinctNonNegativeIntegers) {
  EXPECT_EQ(parse_seeds("study.seeds", "3,1,2"), (std::vector<std::uint64_t>{3, 1, 2}));
  EXPECT_THROW(parse_seeds("study.seeds", "1,1"), ConfigError);
  EXPECT_THROW(parse_seeds("study.seeds", "-1"), ConfigError);
  EXPECT_THROW(parse_seeds("study.seeds", "1.5"), ConfigError);
}

TEST(Grid, NumbersMustBeWholeStrings) {
  EXPECT_DOUBLE_EQ(parse_double("k", " 1e-3 "), 1e-3);
  EXPECT_THROW(parse_double("k", "1e-3x"), ConfigError);
  EXPECT_THROW(parse_double("k", "nan"), ConfigError);
  EXPECT_THROW(parse_int("k", "12.0"), ConfigError);
  EXPECT_TRUE(parse_bool("k", "true"));
  EXPECT_FALSE(parse_bool("k", "0"));
  EXPECT_THROW(parse_bool("k", "maybe"), ConfigError);
}
