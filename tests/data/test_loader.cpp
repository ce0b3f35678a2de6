// Loader: batches in step order carrying the sampler's examples, identical for 1 and 3 worker
// threads, deterministic augmentation per (seed, step, index), waits recorded, errors passed
// to next(), clean shutdown with work in flight.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "realtrain/data/source.h"

using namespace batchlab::data;

namespace {

// example i, pixel k = 1000 i + k (+ one draw of the augmentation RNG when training).
class CountingSource : public ExampleSource {
 public:
  explicit CountingSource(std::int64_t n, int delay_ms = 0, std::int64_t poisoned = -1)
      : n_(n), delay_ms_(delay_ms), poisoned_(poisoned) {}
  std::int64_t size() const override { return n_; }
  int num_classes() const override { return 7; }
  ImageShape shape() const override { return {1, 2, 2}; }
  std::int64_t write_example(std::int64_t index, bool train, std::mt19937_64& rng, float* out) const override {
    if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
    if (index == poisoned_) throw std::runtime_error("poisoned example " + std::to_string(index));
    const float noise = train ? static_cast<float>(rng() % 1000) / 1000.0f : 0.0f;
    for (int k = 0; k < 4; ++k) out[k] = static_cast<float>(1000 * index + k) + noise;
    calls.fetch_add(1);
    return index % 7;
  }
  std::string description() const override { return "counting"; }
  mutable std::atomic<int> calls{0};

 private:
  std::int64_t n_;
  int delay_ms_;
  std::int64_t poisoned_;
};

std::vector<Batch> take(std::shared_ptr<const ExampleSource> s, int threads, int prefetch, std::int64_t start,
                        int count, bool train, int world = 1, int rank = 0) {
  Loader loader(s, ShardedSampler(s->size(), 8, rank, world, 3), train, 11, threads, prefetch, start);
  std::vector<Batch> out;
  for (int i = 0; i < count; ++i) out.push_back(loader.next());
  return out;
}

}  // namespace

TEST(Loader, BatchesComeInStepOrderWithTheSamplerExamples) {
  auto src = std::make_shared<CountingSource>(40);
  const auto batches = take(src, 3, 4, 2, 12, false);  // 5 steps per epoch: crosses two epochs
  ShardedSampler sampler(40, 8, 0, 1, 3);
  for (int i = 0; i < 12; ++i) {
    const Batch& b = batches[static_cast<std::size_t>(i)];
    ASSERT_EQ(b.step, 2 + i);
    ASSERT_EQ(b.count, 8);
    ASSERT_EQ(b.images.size(), 32u);
    const auto idx = sampler.indices(b.step);
    for (int k = 0; k < 8; ++k) {
      EXPECT_EQ(b.labels[static_cast<std::size_t>(k)], idx[static_cast<std::size_t>(k)] % 7);
      EXPECT_EQ(b.images[static_cast<std::size_t>(4 * k + 3)], 1000.0f * idx[static_cast<std::size_t>(k)] + 3);
    }
  }
}

TEST(Loader, OneAndThreeThreadsGiveIdenticalAugmentedBatches) {
  auto src = std::make_shared<CountingSource>(64, 1);
  const auto one = take(src, 1, 1, 0, 10, true);
  const auto three = take(src, 3, 6, 0, 10, true);
  for (std::size_t i = 0; i < one.size(); ++i) {
    EXPECT_EQ(one[i].step, three[i].step);
    EXPECT_EQ(one[i].labels, three[i].labels);
    EXPECT_EQ(one[i].images, three[i].images);
  }
  // Augmentation really happened (non-integer offsets) and differs between steps for the same
  // example: epoch 0 and epoch 1 both contain example 0.
  bool fractional = false;
  for (float v : one[0].images) fractional |= v != static_cast<float>(static_cast<int>(v));
  EXPECT_TRUE(fractional);
}

TEST(Loader, AugmentationOfAnExampleDoesNotDependOnTheRankThatReadsIt) {
  auto src = std::make_shared<CountingSource>(64);
  const auto whole = take(src, 2, 2, 0, 3, true, 1, 0);
  const auto half0 = take(src, 1, 2, 0, 3, true, 2, 0);
  const auto half1 = take(src, 2, 2, 0, 3, true, 2, 1);
  for (std::size_t i = 0; i < 3; ++i) {
    std::vector<float> joined = half0[i].images;
    joined.insert(joined.end(), half1[i].images.begin(), half1[i].images.end());
    EXPECT_EQ(joined, whole[i].images) << "step " << i;
  }
}

TEST(Loader, RecordsTheTimeNextWaitsForASlowSource) {
  auto src = std::make_shared<CountingSource>(32, 5);  // 8 examples x 5 ms = 40 ms a batch
  Loader loader(src, ShardedSampler(32, 8, 0, 1, 0), false, 0, 1, 1);
  EXPECT_EQ(loader.wait_seconds(), 0.0);
  for (int i = 0; i < 3; ++i) loader.next();
  EXPECT_GT(loader.wait_seconds(), 0.05);  // at least the first batch's 40 ms plus later ones
  EXPECT_LT(loader.wait_seconds(), 10.0);
}

TEST(Loader, PrefetchIsBounded) {
  auto src = std::make_shared<CountingSource>(400);
  Loader loader(src, ShardedSampler(400, 8, 0, 1, 0), false, 0, 2, 3);
  // Give the workers ample time (a shared machine can stall them), then check they stopped.
  auto settle = [&](int expected) {
    for (int i = 0; i < 500 && src->calls.load() < expected; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  };
  settle(3 * 8);
  EXPECT_EQ(src->calls.load(), 3 * 8) << "exactly `prefetch` batches built ahead";
  loader.next();
  settle(4 * 8);
  EXPECT_EQ(src->calls.load(), 4 * 8);
}

TEST(Loader, AnExampleErrorSurfacesFromNextAtItsStep) {
  ShardedSampler sampler(16, 8, 0, 1, 0);
  const std::int64_t bad = sampler.indices(1)[3];  // an example of step 1
  auto poisoned = std::make_shared<CountingSource>(16, 0, bad);
  Loader loader(poisoned, sampler, false, 0, 2, 2);
  EXPECT_NO_THROW(loader.next());
  try {
    loader.next();
    ADD_FAILURE() << "no error for the poisoned example";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("poisoned example " + std::to_string(bad)), std::string::npos);
  }
}

TEST(Loader, DestructorStopsWorkersWithBatchesInFlight) {
  auto src = std::make_shared<CountingSource>(800, 2);
  const auto t0 = std::chrono::steady_clock::now();
  {
    Loader loader(src, ShardedSampler(800, 8, 0, 1, 0), true, 0, 3, 8);
    loader.next();
  }  // workers are mid-batch here
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(s, 5.0);
  EXPECT_LT(src->calls.load(), 800) << "stopped long before the epoch was read";
}

TEST(Loader, RejectsBadSettings) {
  auto src = std::make_shared<CountingSource>(16);
  EXPECT_THROW(Loader(src, ShardedSampler(16, 8, 0, 1, 0), false, 0, 0, 1), std::invalid_argument);
  EXPECT_THROW(Loader(src, ShardedSampler(16, 8, 0, 1, 0), false, 0, 1, 0), std::invalid_argument);
  EXPECT_THROW(Loader(nullptr, ShardedSampler(16, 8, 0, 1, 0), false, 0, 1, 1), std::invalid_argument);
}
