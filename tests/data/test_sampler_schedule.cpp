// ShardedSampler and Loader under a batch-size schedule (Smith et al. 2018): update k takes the
// next B_k unread examples of its epoch's permutation, or starts the next epoch when fewer are
// left; every example at most once per epoch, exactly once where the batches tile the epoch;
// the same global order for any world size; the loader builds each step with its own size.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <stdexcept>

#include "realtrain/data/source.h"

using batchlab::data::Batch;
using batchlab::data::BatchPhase;
using batchlab::data::ExampleSource;
using batchlab::data::ImageShape;
using batchlab::data::Loader;
using batchlab::data::ShardedSampler;

namespace {

// The global batch of `step` read back from the 1-rank sampler.
std::vector<std::int64_t> global_indices(std::int64_t n, const std::vector<BatchPhase>& phases, std::uint64_t seed,
                                         std::int64_t step) {
  return ShardedSampler(n, phases, 0, 1, seed).indices(step);
}

std::int64_t batch_of(const std::vector<BatchPhase>& phases, std::int64_t step) {
  std::int64_t b = 0;
  for (const auto& p : phases)
    if (p.first_step <= step) b = p.batch;
  return b;
}

}  // namespace

TEST(SamplerSchedule, ConstantPhaseIsTheClassicDropLastOrder) {
  // One phase == the constant-batch constructor, position = (step / spe, (step % spe) B).
  const std::int64_t n = 100, b = 12;
  ShardedSampler a(n, b, 0, 1, 7), s(n, std::vector<BatchPhase>{{0, b}}, 0, 1, 7);
  ASSERT_EQ(a.steps_per_epoch(), 8);
  for (std::int64_t step = 0; step < 30; ++step) {
    const auto p = s.position(step);
    EXPECT_EQ(p.epoch, step / 8);
    EXPECT_EQ(p.offset, (step % 8) * b);
    EXPECT_EQ(s.indices(step), a.indices(step));
    EXPECT_EQ(s.global_batch(step), b);
  }
}

TEST(SamplerSchedule, GrowingBatchTilingTheEpochUsesEveryExampleExactlyOncePerEpoch) {
  // n = 48: 6 updates of 4 (24 examples), then batches of 12 from offset 24: 24, 36 end the
  // epoch exactly; later epochs hold 4 batches of 12. For 1, 2 and 4 ranks.
  const std::int64_t n = 48;
  const std::vector<BatchPhase> phases{{0, 4}, {6, 12}};
  for (int world : {1, 2, 4}) {
    std::vector<ShardedSampler> ranks;
    for (int r = 0; r < world; ++r) ranks.emplace_back(n, phases, r, world, 11);
    // epoch 0 = steps 0..7, epoch 1 = steps 8..11, epoch 2 = steps 12..15
    const std::vector<std::pair<std::int64_t, std::int64_t>> epochs{{0, 8}, {8, 12}, {12, 16}};
    for (std::size_t e = 0; e < epochs.size(); ++e) {
      std::vector<int> hits(static_cast<std::size_t>(n), 0);
      for (std::int64_t step = epochs[e].first; step < epochs[e].second; ++step) {
        EXPECT_EQ(ranks[0].position(step).epoch, static_cast<std::int64_t>(e)) << "step " << step;
        std::vector<std::int64_t> global;
        for (int r = 0; r < world; ++r) {
          const auto idx = ranks[static_cast<std::size_t>(r)].indices(step);
          ASSERT_EQ(static_cast<std::int64_t>(idx.size()), batch_of(phases, step) / world);
          ASSERT_EQ(ranks[static_cast<std::size_t>(r)].local_batch(step), batch_of(phases, step) / world);
          global.insert(global.end(), idx.begin(), idx.end());
        }
        // The ranks' slices in rank order are the 1-rank batch: same order for any world size.
        EXPECT_EQ(global, global_indices(n, phases, 11, step)) << "world " << world << " step " << step;
        for (auto i : global) ++hits[static_cast<std::size_t>(i)];
      }
      for (std::int64_t i = 0; i < n; ++i)
        EXPECT_EQ(hits[static_cast<std::size_t>(i)], 1) << "world " << world << " epoch " << e << " example " << i;
    }
  }
}

TEST(SamplerSchedule, TailTooShortForTheNextBatchIsDroppedAndNothingRepeatsWithinAnEpoch) {
  // n = 50: 5 updates of 4 (offsets 0..16, 20 read), then 12 at 20 and 32; 44 + 12 > 50, so
  // step 7 starts epoch 1 at offset 0 (6 examples of epoch 0 unread).
  const std::vector<BatchPhase> phases{{0, 4}, {5, 12}};
  ShardedSampler s(50, phases, 0, 1, 3);
  EXPECT_EQ(s.position(4).offset, 16);
  EXPECT_EQ(s.position(5).offset, 20);
  EXPECT_EQ(s.position(6).offset, 32);
  EXPECT_EQ(s.position(7).epoch, 1);
  EXPECT_EQ(s.position(7).offset, 0);
  EXPECT_EQ(s.position(10).epoch, 1);  // epoch 1: 4 batches of 12 (steps 7..10)
  EXPECT_EQ(s.position(11).epoch, 2);
  std::set<std::int64_t> epoch0;
  for (std::int64_t step = 0; step < 7; ++step)
    for (auto i : s.indices(step)) EXPECT_TRUE(epoch0.insert(i).second) << "example " << i << " twice";
  EXPECT_EQ(epoch0.size(), 44u);
}

TEST(SamplerSchedule, RandomSchedulesNeverRepeatWithinAnEpochAndDropLessThanABatch) {
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 200; ++trial) {
    const std::int64_t n = 20 + static_cast<std::int64_t>(rng() % 80);
    const int world = 1 + static_cast<int>(rng() % 3);
    std::vector<BatchPhase> phases;
    std::int64_t step = 0;
    const int count = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < count; ++k) {
      const std::int64_t b = world * (1 + static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(n / world)));
      phases.push_back({step, b});
      step += 1 + static_cast<std::int64_t>(rng() % 12);
    }
    ShardedSampler s(n, phases, 0, 1, trial);
    std::map<std::int64_t, std::set<std::int64_t>> seen;  // epoch -> examples read
    std::int64_t prev_epoch = 0, prev_end = 0;
    for (std::int64_t k = 0; k < step + 30; ++k) {
      const auto p = s.position(k);
      const std::int64_t b = batch_of(phases, k);
      ASSERT_LE(p.offset + b, n);
      if (p.epoch == prev_epoch) {
        ASSERT_EQ(p.offset, prev_end) << "trial " << trial << " step " << k;  // contiguous
      } else {
        ASSERT_EQ(p.epoch, prev_epoch + 1);
        ASSERT_EQ(p.offset, 0);
        ASSERT_GT(prev_end + b, n) << "epoch ended although the batch fitted";  // dropped tail < B_k
      }
      const auto idx = s.indices(k);
      ASSERT_EQ(static_cast<std::int64_t>(idx.size()), b);
      for (auto i : idx) ASSERT_TRUE(seen[p.epoch].insert(i).second) << "example " << i << " twice in epoch " << p.epoch;
      prev_epoch = p.epoch;
      prev_end = p.offset + b;
    }
  }
}

TEST(SamplerSchedule, EmptyPhasesAreSkippedAndBadPhasesRejected) {
  // Two milestones passed in one update: the later phase holds.
  ShardedSampler s(100, std::vector<BatchPhase>{{0, 4}, {3, 8}, {3, 20}}, 0, 1, 0);
  EXPECT_EQ(s.global_batch(2), 4);
  EXPECT_EQ(s.global_batch(3), 20);
  EXPECT_EQ(s.position(3).offset, 12);
  using V = std::vector<BatchPhase>;
  EXPECT_THROW(ShardedSampler(100, V{}, 0, 1, 0), std::invalid_argument);
  EXPECT_THROW(ShardedSampler(100, V{{1, 4}}, 0, 1, 0), std::invalid_argument);           // not from step 0
  EXPECT_THROW(ShardedSampler(100, V{{0, 4}, {5, 8}, {4, 16}}, 0, 1, 0), std::invalid_argument);  // decreasing
  EXPECT_THROW(ShardedSampler(100, V{{0, 4}, {5, 9}}, 0, 2, 0), std::invalid_argument);  // 9 % 2
  EXPECT_THROW(ShardedSampler(100, V{{0, 4}, {5, 101}}, 0, 1, 0), std::invalid_argument);  // > dataset
  EXPECT_THROW(s.position(-1), std::invalid_argument);
}

namespace {

class IndexSource : public ExampleSource {
 public:
  explicit IndexSource(std::int64_t n) : n_(n) {}
  std::int64_t size() const override { return n_; }
  int num_classes() const override { return 3; }
  ImageShape shape() const override { return {1, 1, 2}; }
  std::int64_t write_example(std::int64_t index, bool, std::mt19937_64&, float* out) const override {
    out[0] = static_cast<float>(index);
    out[1] = -static_cast<float>(index);
    return index % 3;
  }
  std::string description() const override { return "index"; }

 private:
  std::int64_t n_;
};

}  // namespace

TEST(LoaderSchedule, PrefetchedBatchesHaveTheirOwnStepsSize) {
  // Batches are built up to 6 ahead on 3 threads across two phase changes; each has its step's
  // size and examples, also when the loader starts mid-run (a resume) inside the second phase.
  auto src = std::make_shared<IndexSource>(64);
  const std::vector<BatchPhase> phases{{0, 4}, {5, 8}, {9, 32}};
  for (int world : {1, 2}) {
    for (std::int64_t start : {0, 7}) {
      for (int r = 0; r < world; ++r) {
        ShardedSampler ref(64, phases, r, world, 9);
        Loader loader(src, ShardedSampler(64, phases, r, world, 9), true, 1, 3, 6, start);
        for (std::int64_t step = start; step < 16; ++step) {
          const Batch b = loader.next();
          ASSERT_EQ(b.step, step);
          ASSERT_EQ(b.count, batch_of(phases, step) / world) << "step " << step;
          const auto idx = ref.indices(step);
          for (std::int64_t k = 0; k < b.count; ++k)
            ASSERT_EQ(b.images[static_cast<std::size_t>(2 * k)], static_cast<float>(idx[static_cast<std::size_t>(k)]));
        }
      }
    }
  }
}
