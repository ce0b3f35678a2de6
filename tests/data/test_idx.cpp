// idx (MNIST / Fashion-MNIST) loading: raw and gzip files in the exact format, normalisation,
// the errors for malformed files, and the real Fashion-MNIST files when installed.
#include <gtest/gtest.h>

#include <filesystem>

#include "data_test_util.h"
#include "realtrain/data/data_error.h"
#include "realtrain/data/sources.h"
#include "tests/fashion_mnist.h"

using namespace batchlab::data;
using namespace batchlab::data::testing;

namespace {

// 3 images of 2x3 pixels: pixel value = 40 * image + 7 * position; labels 7, 0, 9.
std::vector<std::uint8_t> pixels() {
  std::vector<std::uint8_t> p;
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 6; ++k) p.push_back(static_cast<std::uint8_t>(40 * i + 7 * k));
  return p;
}
const std::vector<std::uint8_t> kLabels{7, 0, 9};

void write_split(const ScratchDir& dir, const std::string& prefix, bool gz) {
  auto images = idx_bytes({3, 2, 3}, pixels());
  auto labels = idx_bytes({3}, kLabels);
  if (gz) {
    write_gzip(dir / (prefix + "-images-idx3-ubyte.gz"), images);
    write_gzip(dir / (prefix + "-labels-idx1-ubyte.gz"), labels);
  } else {
    write_bytes(dir / (prefix + "-images-idx3-ubyte"), images);
    write_bytes(dir / (prefix + "-labels-idx1-ubyte"), labels);
  }
}

void expect_contents(const ExampleSource& s, float mean, float std) {
  ASSERT_EQ(s.size(), 3);
  EXPECT_EQ(s.num_classes(), 10);
  EXPECT_EQ(s.shape().channels, 1);
  EXPECT_EQ(s.shape().height, 2);
  EXPECT_EQ(s.shape().width, 3);
  std::mt19937_64 rng(1);
  float out[6];
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(s.write_example(i, true, rng, out), kLabels[static_cast<std::size_t>(i)]);
    for (int k = 0; k < 6; ++k) EXPECT_NEAR(out[k], ((40 * i + 7 * k) / 255.0 - mean) / std, 1e-6);
  }
}

}  // namespace

TEST(IdxSource, RawFilesGiveTheWrittenPixelsNormalisedWithFashionMnistStatistics) {
  ScratchDir dir;
  write_split(dir, "train", false);
  expect_contents(*open_dataset("fashion-mnist", dir.path().string(), "train"), 0.2860f, 0.3530f);
}

TEST(IdxSource, GzipFilesGiveTheSameExamplesAndMnistUsesItsOwnStatistics) {
  ScratchDir dir;
  write_split(dir, "t10k", true);
  expect_contents(*open_dataset("mnist", dir.path().string(), "test"), 0.1307f, 0.3081f);
}

TEST(IdxSource, TruncatedImageFileIsAnErrorNamingTheFile) {
  ScratchDir dir;
  write_split(dir, "train", false);
  auto bytes = read_bytes(dir / "train-images-idx3-ubyte");
  bytes.resize(bytes.size() - 5);
  write_bytes(dir / "train-images-idx3-ubyte", bytes);
  expect_data_error([&] { open_dataset("fashion-mnist", dir.path().string(), "train"); },
                    dir / "train-images-idx3-ubyte", "wrong size");
}

TEST(IdxSource, TruncatedGzipStreamIsAnErrorNamingTheFile) {
  ScratchDir dir;
  write_split(dir, "train", true);
  auto bytes = read_bytes(dir / "train-images-idx3-ubyte.gz");
  bytes.resize(bytes.size() / 2);
  write_bytes(dir / "train-images-idx3-ubyte.gz", bytes);
  expect_data_error([&] { open_dataset("fashion-mnist", dir.path().string(), "train"); },
                    dir / "train-images-idx3-ubyte.gz", "gzip");
}

TEST(IdxSource, BadMagicAndLabelCountMismatchAndMissingFileAreErrors) {
  ScratchDir dir;
  write_split(dir, "train", false);
  auto bytes = read_bytes(dir / "train-labels-idx1-ubyte");
  bytes[3] = 3;  // claims 3 dimensions
  write_bytes(dir / "train-labels-idx1-ubyte", bytes);
  expect_data_error([&] { open_dataset("mnist", dir.path().string(), "train"); }, dir / "train-labels-idx1-ubyte",
                    "bad idx magic");

  write_bytes(dir / "train-labels-idx1-ubyte", idx_bytes({2}, {1, 2}));
  expect_data_error([&] { open_dataset("mnist", dir.path().string(), "train"); }, dir / "train-labels-idx1-ubyte",
                    "2 labels for 3 images");

  write_bytes(dir / "train-labels-idx1-ubyte", idx_bytes({3}, {1, 10, 2}));
  expect_data_error([&] { open_dataset("mnist", dir.path().string(), "train"); }, dir / "train-labels-idx1-ubyte",
                    "label 10");

  expect_data_error([&] { open_dataset("mnist", dir.path().string(), "test"); }, dir / "t10k-images-idx3-ubyte",
                    "not found");
}

TEST(IdxSource, RealFashionMnistLoadsWhenInstalled) {
  const std::string dir = batchlab::testing::fashion_mnist_dir();
  if (!std::filesystem::exists(dir + "/train-images-idx3-ubyte.gz") &&
      !std::filesystem::exists(dir + "/train-images-idx3-ubyte"))
    GTEST_SKIP() << "Fashion-MNIST not installed in " << dir;
  const auto train = open_dataset("fashion-mnist", dir, "train");
  const auto test = open_dataset("fashion-mnist", dir, "test");
  EXPECT_EQ(train->size(), 60000);
  EXPECT_EQ(test->size(), 10000);
  EXPECT_EQ(train->shape().height, 28);
  EXPECT_EQ(train->shape().width, 28);
  EXPECT_EQ(train->shape().channels, 1);
  EXPECT_EQ(train->num_classes(), 10);
  // Every class occurs (6000 each in the real training set); the normalisation constants are
  // the training set's pixel mean and std, so normalised pixels have mean ~0 and variance ~1.
  std::vector<int> per_class(10, 0);
  std::vector<float> img(784);
  std::mt19937_64 rng(0);
  double sum = 0, sum_sq = 0;
  for (std::int64_t i = 0; i < train->size(); ++i) {
    ++per_class[static_cast<std::size_t>(train->write_example(i, false, rng, img.data()))];
    for (float v : img) {
      sum += v;
      sum_sq += double{v} * v;
    }
  }
  for (int c = 0; c < 10; ++c) EXPECT_EQ(per_class[static_cast<std::size_t>(c)], 6000) << "class " << c;
  const double n = 60000.0 * 784, mean = sum / n;
  EXPECT_NEAR(mean, 0.0, 0.01);
  EXPECT_NEAR(sum_sq / n - mean * mean, 1.0, 0.01);  // the std constant is the training set's
}
