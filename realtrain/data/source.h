// Example sources and the batch loader contract between the datasets (this folder, no torch)
// and the trainer (realtrain/). Images are held as uint8; the loader turns a batch into
// normalised float32 NCHW on its prefetching threads, so the trainer only wraps the memory.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace batchlab::data {

struct ImageShape {
  int channels = 1, height = 28, width = 28;
  std::int64_t numel() const { return std::int64_t{channels} * height * width; }
};

// A dataset split: random access to examples. Implementations: in-memory uint8 arrays (idx,
// CIFAR), an ImageFolder of JPEGs, packed shard files.
class ExampleSource {
 public:
  virtual ~ExampleSource() = default;
  virtual std::int64_t size() const = 0;
  virtual int num_classes() const = 0;
  // Shape of what write_example produces (after crop / resize).
  virtual ImageShape shape() const = 0;
  // Writes example `index` as normalised float32 CHW into out[0 .. shape().numel()), applying
  // training augmentation when `train` (random numbers from rng only), and returns its label.
  // Thread-safe: loaders call it from several threads at once.
  virtual std::int64_t write_example(std::int64_t index, bool train, std::mt19937_64& rng,
                                     float* out) const = 0;
  virtual std::string description() const = 0;
};

// Which examples a rank reads: every epoch a permutation of [0, size) drawn from (seed, epoch),
// the same whatever the number of ranks; global batch t of the epoch is elements
// [t B, (t+1) B) of it, and rank r takes the r-th contiguous slice of B / world of that batch.
// Without replacement within an epoch; the last partial batch of an epoch is dropped.
// B not divisible by world, B > dataset_size, or rank outside [0, world): std::invalid_argument.
class ShardedSampler {
 public:
  ShardedSampler(std::int64_t dataset_size, std::int64_t global_batch, int rank, int world,
                 std::uint64_t seed);
  std::int64_t steps_per_epoch() const;
  // Indices this rank reads at global step `step` (epoch = step / steps_per_epoch()). Not
  // thread-safe: it caches the current epoch's permutation (the Loader calls it under a lock).
  std::vector<std::int64_t> indices(std::int64_t step) const;
  std::int64_t local_batch() const;

 private:
  std::int64_t n_, batch_;
  int rank_, world_;
  std::uint64_t seed_;
  mutable std::int64_t cached_epoch_ = -1;
  mutable std::vector<std::int64_t> perm_;
};

struct Batch {
  std::int64_t step = 0;
  std::int64_t count = 0;
  std::vector<float> images;        // count x shape.numel(), normalised
  std::vector<std::int64_t> labels;  // count
};

// Assembles this rank's batches for steps start_step, start_step + 1, ... on `threads` worker
// threads, `prefetch` batches ahead. Deterministic: the augmentation RNG of an example is seeded
// from (seed, step, index), never shared across threads.
// An exception while building a batch (a DataError for a corrupt JPEG, say) is rethrown by the
// next() that reaches that step. The destructor lets batches in progress finish, then joins.
class Loader {
 public:
  Loader(std::shared_ptr<const ExampleSource> source, ShardedSampler sampler, bool train,
         std::uint64_t seed, int threads, int prefetch, std::int64_t start_step = 0);
  ~Loader();
  Batch next();                    // blocks until the next batch is ready
  double wait_seconds() const;     // total time next() spent waiting (the "data" time)
 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Image geometry of the JPEG datasets ("imagenet", "packed"): train crops are image_size
// square; eval resizes the shorter side to resize_size (0: round(image_size * 256 / 224), the
// standard 256 for 224) and centre-crops image_size.
struct DatasetOptions {
  int image_size = 224;
  int resize_size = 0;
};

// Loaders by dataset name: "fashion-mnist" / "mnist" (idx or idx.gz files in dir), "cifar10",
// "cifar100" (binary version), "imagenet" (ImageFolder dir/train, dir/val), "packed" (shards
// written by `batchlab pack`). split = "train" | "test". Throws DataError naming the file.
// Files per name and split (train / test):
//   fashion-mnist, mnist: dir/{train,t10k}-{images-idx3,labels-idx1}-ubyte, or the same + ".gz"
//   cifar10:  dir/data_batch_{1..5}.bin / dir/test_batch.bin (or under dir/cifar-10-batches-bin)
//   cifar100: dir/train.bin / dir/test.bin, fine labels (or under dir/cifar-100-binary)
//   imagenet: dir/train / dir/val, ImageFolders of JPEGs
//   packed:   dir/train / dir/val, each holding the shards `batchlab pack` wrote for that split
// An unknown name or split throws std::invalid_argument.
std::shared_ptr<const ExampleSource> open_dataset(const std::string& name, const std::string& dir,
                                                  const std::string& split);
std::shared_ptr<const ExampleSource> open_dataset(const std::string& name, const std::string& dir,
                                                  const std::string& split,
                                                  const DatasetOptions& options);

}  // namespace batchlab::data
