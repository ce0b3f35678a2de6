// Example sources and the batch loader contract between the datasets (this folder, no torch)
// and the trainer (realtrain/). Images are held as uint8; the loader turns a batch into
// normalised float32 NCHW on its prefetching threads, so the trainer only wraps the memory.
// Text is held as bytes; a text example is a window of token ids (int64, what an embedding
// lookup takes), written by the same prefetching threads.
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
// CIFAR), an ImageFolder of JPEGs, packed shard files, byte-level text (TextSource).
// Two kinds of example: images (sequence_length() == 0: write_example) and token sequences
// (sequence_length() > 0: write_tokens). A source implements the one its kind uses; the other
// throws std::logic_error.
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
  // Tokens per example of a sequence source (0: an image source). For a language model an
  // example is context + 1 consecutive tokens: the inputs are its first context tokens, the
  // targets its last context tokens (the same window shifted by one).
  virtual std::int64_t sequence_length() const { return 0; }
  // Writes example `index` as sequence_length() token ids into out; `train` draws the window's
  // random placement from rng (the only source of randomness), otherwise the window is fixed.
  // Thread-safe like write_example. num_classes() is the vocabulary size.
  virtual void write_tokens(std::int64_t index, bool train, std::mt19937_64& rng, std::int64_t* out) const;
};

// A phase of a batch-size schedule as the sampler sees it: from update `first_step` on, the
// global batch is `batch`. The trainer takes them from optim::BatchSchedule::phases() (the one
// implementation of the schedule: milestones in examples, factor, cap, rounding to the ranks);
// the data library stays free of optim/.
struct BatchPhase {
  std::int64_t first_step = 0;
  std::int64_t batch = 0;
};

// Which examples a rank reads: every epoch a permutation of [0, size) drawn from (seed, epoch),
// the same whatever the number of ranks. Updates walk the permutations in order: update k, of
// global batch B_k, reads elements [o_k, o_k + B_k) of epoch e_k's permutation, and rank r takes
// the r-th contiguous slice of B_k / world of them. The next update starts at o_k + B_k in the
// same epoch if its batch fits there (o_k + B_k + B_{k+1} <= size), otherwise at offset 0 of
// epoch e_k + 1: the tail of an epoch too short for the next batch is dropped.
// So within an epoch every example is read at most once, never twice; an epoch reads every
// example exactly once when its batches tile it (size a multiple of the batch within a phase,
// and a phase change at an offset from which the new batches tile the rest). With a constant
// batch B this is the classic drop-last order: global batch t of epoch e is [t B, (t+1) B),
// step = e x steps_per_epoch() + t. With a growing batch (Smith et al. 2018) update k simply
// takes the next B_k unread examples of the current epoch.
// A batch not divisible by world, a batch > dataset_size, phases not starting at step 0 or not
// strictly increasing in first_step, or rank outside [0, world): std::invalid_argument.
class ShardedSampler {
 public:
  // Constant global batch.
  ShardedSampler(std::int64_t dataset_size, std::int64_t global_batch, int rank, int world,
                 std::uint64_t seed);
  // Batch-size schedule: phases[0].first_step == 0, first_step strictly increasing.
  ShardedSampler(std::int64_t dataset_size, std::vector<BatchPhase> phases, int rank, int world,
                 std::uint64_t seed);
  // Of the first phase's batch: floor(size / B_0).
  std::int64_t steps_per_epoch() const;
  // Indices this rank reads at global step `step`: global_batch(step) / world of them. Not
  // thread-safe: it caches the current epoch's permutation (the Loader calls it under a lock).
  std::vector<std::int64_t> indices(std::int64_t step) const;
  std::int64_t local_batch() const;  // of the first phase
  std::int64_t global_batch(std::int64_t step) const;
  std::int64_t local_batch(std::int64_t step) const { return global_batch(step) / world_; }
  // Where update `step` reads: epoch e_k and offset o_k of its first element (global order).
  struct Position {
    std::int64_t epoch = 0, offset = 0;
  };
  Position position(std::int64_t step) const;

 private:
  const BatchPhase& phase_of(std::int64_t step) const;
  std::int64_t n_;
  std::vector<BatchPhase> phases_;
  // Cursor (epoch, next unread offset) at the start of each phase, before its fit check.
  std::vector<Position> phase_cursor_;
  int rank_, world_;
  std::uint64_t seed_;
  mutable std::int64_t cached_epoch_ = -1;
  mutable std::vector<std::int64_t> perm_;
};

// One rank's examples of one update: images and labels from an image source, or tokens (and
// no labels: the targets are the tokens shifted by one) from a sequence source.
struct Batch {
  std::int64_t step = 0;
  std::int64_t count = 0;
  std::vector<float> images;         // count x shape.numel(), normalised (image sources)
  std::vector<std::int64_t> labels;  // count (image sources)
  std::vector<std::int64_t> tokens;  // count x sequence_length() (sequence sources)
};

// Assembles this rank's batches for steps start_step, start_step + 1, ... on `threads` worker
// threads, `prefetch` batches ahead. Each batch is built from sampler.indices(step) for its own
// step, so under a batch-size schedule a batch built ahead already has its step's size. Deterministic: the augmentation RNG of an example is seeded
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
// context_length: the tokens a language model sees ("text": examples are context_length + 1
// bytes; must be >= 1 for "text", ignored by the image datasets).
struct DatasetOptions {
  int image_size = 224;
  int resize_size = 0;
  int context_length = 0;
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
//   text:     dir is a text file (plain, gzip or dictd .dz) or a folder of them; train / test
//             are the training / validation bytes of the fixed split rule of sources.h
//             (TextSource), in windows of options.context_length + 1 bytes
// An unknown name or split throws std::invalid_argument.
std::shared_ptr<const ExampleSource> open_dataset(const std::string& name, const std::string& dir,
                                                  const std::string& split);
std::shared_ptr<const ExampleSource> open_dataset(const std::string& name, const std::string& dir,
                                                  const std::string& split,
                                                  const DatasetOptions& options);

}  // namespace batchlab::data
