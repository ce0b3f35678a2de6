// CIFAR-10/100 binary files: record layout, fine labels, normalisation, and the pad-crop-flip
// augmentation checked against an explicit pad / crop / mirror of the image.
#include <gtest/gtest.h>

#include <set>
#include <tuple>

#include "data_test_util.h"
#include "realtrain/data/data_error.h"
#include "realtrain/data/sources.h"

using namespace batchlab::data;
using namespace batchlab::data::testing;

namespace {

constexpr float kMean10[3] = {0.4914f, 0.4822f, 0.4465f};
constexpr float kStd10[3] = {0.2470f, 0.2435f, 0.2616f};

std::uint8_t pixel(int example, int c, int y, int x) {
  return static_cast<std::uint8_t>((example * 31 + c * 71 + y * 7 + x * 3) % 256);
}

std::vector<std::uint8_t> records(int first_example, int count, std::vector<std::uint8_t> label_prefix) {
  std::vector<std::uint8_t> b;
  for (int e = first_example; e < first_example + count; ++e) {
    for (std::size_t k = 0; k < label_prefix.size(); ++k)
      b.push_back(static_cast<std::uint8_t>((label_prefix[k] + e) % (k + 1 == label_prefix.size() ? 10 : 20)));
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) b.push_back(pixel(e, c, y, x));
  }
  return b;
}

// Five training batches of 2 examples each (labels e % 10) and a test batch of 3.
void write_cifar10(const std::string& dir) {
  for (int i = 1; i <= 5; ++i)
    write_bytes(dir + "/data_batch_" + std::to_string(i) + ".bin", records(2 * (i - 1), 2, {0}));
  write_bytes(dir + "/test_batch.bin", records(100, 3, {0}));
}

// Reference augmentation: build the zero-padded 40x40 image, crop at (dy, dx), then mirror.
std::vector<float> reference(int example, int dy, int dx, bool flip) {
  std::vector<float> out(3 * 32 * 32);
  for (int c = 0; c < 3; ++c) {
    std::vector<int> padded(40 * 40, 0);
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) padded[static_cast<std::size_t>((y + 4) * 40 + x + 4)] = pixel(example, c, y, x);
    std::vector<int> crop(32 * 32);
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) crop[static_cast<std::size_t>(y * 32 + x)] = padded[static_cast<std::size_t>((y + dy) * 40 + x + dx)];
    for (int y = 0; y < 32; ++y)
      for (int x = 0; x < 32; ++x) {
        const int v = crop[static_cast<std::size_t>(y * 32 + (flip ? 31 - x : x))];
        out[static_cast<std::size_t>(c * 1024 + y * 32 + x)] = (v / 255.0f - kMean10[c]) / kStd10[c];
      }
  }
  return out;
}

bool close(const std::vector<float>& a, const float* b) {
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::abs(a[i] - b[i]) > 1e-5f) return false;
  return true;
}

}  // namespace

TEST(CifarSource, Cifar10TrainConcatenatesTheFiveBatchesAndEvalIsTheUnchangedImage) {
  ScratchDir dir;
  write_cifar10(dir.path().string());
  const auto train = open_dataset("cifar10", dir.path().string(), "train");
  const auto test = open_dataset("cifar10", dir.path().string(), "test");
  ASSERT_EQ(train->size(), 10);
  ASSERT_EQ(test->size(), 3);
  EXPECT_EQ(train->num_classes(), 10);
  EXPECT_EQ(train->shape().numel(), 3 * 32 * 32);
  std::vector<float> out(3072);
  std::mt19937_64 rng(0);
  for (int e = 0; e < 10; ++e) {
    EXPECT_EQ(train->write_example(e, false, rng, out.data()), e % 10);
    EXPECT_TRUE(close(reference(e, 4, 4, false), out.data())) << "example " << e;
  }
  EXPECT_EQ(test->write_example(2, false, rng, out.data()), 102 % 10);
  EXPECT_TRUE(close(reference(102, 4, 4, false), out.data()));
}

TEST(CifarSource, TrainAugmentationIsAPaddedCropPlusFlipAndReachesEveryOffset) {
  ScratchDir dir;
  write_cifar10(dir.path().string());
  const auto train = open_dataset("cifar10", dir.path().string(), "train");
  std::vector<std::vector<float>> candidates;
  std::vector<std::tuple<int, int, bool>> params;
  for (int dy = 0; dy <= 8; ++dy)
    for (int dx = 0; dx <= 8; ++dx)
      for (bool flip : {false, true}) {
        candidates.push_back(reference(3, dy, dx, flip));
        params.emplace_back(dy, dx, flip);
      }
  std::set<std::size_t> seen;
  std::vector<float> out(3072);
  for (std::uint64_t seed = 0; seed < 2000; ++seed) {
    std::mt19937_64 rng(seed);
    train->write_example(3, true, rng, out.data());
    std::size_t match = candidates.size();
    for (std::size_t k = 0; k < candidates.size() && match == candidates.size(); ++k)
      if (close(candidates[k], out.data())) match = k;
    ASSERT_LT(match, candidates.size()) << "seed " << seed << " produced no pad/crop/flip of the image";
    seen.insert(match);
  }
  EXPECT_EQ(seen.size(), candidates.size()) << "every offset 0..8 in y and x, with and without flip";
}

TEST(CifarSource, Cifar100UsesTheFineLabelFromANestedArchiveFolder) {
  ScratchDir dir;
  const std::string nested = dir / "cifar-100-binary";
  // coarse label byte (e + 5) % 20, fine label byte 50 + e.
  std::vector<std::uint8_t> b;
  for (int e = 0; e < 4; ++e) {
    b.push_back(static_cast<std::uint8_t>((e + 5) % 20));
    b.push_back(static_cast<std::uint8_t>(50 + e));
    for (int k = 0; k < 3072; ++k) b.push_back(static_cast<std::uint8_t>(k % 256));
  }
  write_bytes(nested + "/train.bin", b);
  const auto train = open_dataset("cifar100", dir.path().string(), "train");
  ASSERT_EQ(train->size(), 4);
  EXPECT_EQ(train->num_classes(), 100);
  std::vector<float> out(3072);
  std::mt19937_64 rng(0);
  for (int e = 0; e < 4; ++e) EXPECT_EQ(train->write_example(e, false, rng, out.data()), 50 + e);
  EXPECT_FLOAT_EQ(out[1024 + 5], (5 / 255.0f - 0.4865f) / 0.2564f);  // green plane, pixel 5
}

TEST(CifarSource, TruncatedRecordOutOfRangeLabelAndMissingBatchAreErrorsNamingTheFile) {
  ScratchDir dir;
  write_cifar10(dir.path().string());
  auto bytes = read_bytes(dir / "data_batch_2.bin");
  bytes.resize(bytes.size() - 100);
  write_bytes(dir / "data_batch_2.bin", bytes);
  expect_data_error([&] { open_dataset("cifar10", dir.path().string(), "train"); }, dir / "data_batch_2.bin",
                    "wrong size");

  auto t = records(0, 1, {0});
  t[0] = 12;  // a CIFAR-100 style label in a CIFAR-10 file
  write_bytes(dir / "test_batch.bin", t);
  expect_data_error([&] { open_dataset("cifar10", dir.path().string(), "test"); }, dir / "test_batch.bin",
                    "label 12");

  std::filesystem::remove(dir / "data_batch_2.bin");
  expect_data_error([&] { open_dataset("cifar10", dir.path().string(), "train"); }, dir / "data_batch_2.bin",
                    "not found");
}
