// The concrete ExampleSources behind open_dataset, and the packed shard format of
// `batchlab pack`. All hold or map uint8 data and normalise on write_example.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "realtrain/data/file_io.h"
#include "realtrain/data/image_ops.h"
#include "realtrain/data/source.h"

namespace batchlab::data {

// MNIST-format idx files (LeCun et al. 1998): images idx3-ubyte N x rows x cols, labels
// idx1-ubyte N; a path ending in ".gz" is read through zlib. Grey-scale, no augmentation
// (the usual MNIST / Fashion-MNIST recipe).
class IdxSource final : public ExampleSource {
 public:
  IdxSource(const std::string& images_path, const std::string& labels_path, float mean, float std,
            int num_classes, std::string name);
  std::int64_t size() const override { return count_; }
  int num_classes() const override { return num_classes_; }
  ImageShape shape() const override { return {1, rows_, cols_}; }
  std::int64_t write_example(std::int64_t index, bool train, std::mt19937_64& rng,
                             float* out) const override;
  std::string description() const override;

 private:
  std::string name_, images_path_;
  std::int64_t count_ = 0;
  int rows_ = 0, cols_ = 0, num_classes_ = 0;
  float mean_, std_;
  std::vector<std::uint8_t> pixels_, labels_;
};

// CIFAR binary version (Krizhevsky 2009): records of `label_bytes` label bytes then 3072 bytes
// of 32x32 planar RGB. CIFAR-10: 1 label byte; CIFAR-100: coarse then fine byte, the label is
// the last (fine) one. Train augmentation as in He et al. 2016: 4-pixel zero padding, random
// 32x32 crop, horizontal flip with probability 1/2.
class CifarSource final : public ExampleSource {
 public:
  CifarSource(const std::vector<std::string>& files, int label_bytes, int num_classes,
              const Normalization& norm, std::string name);
  std::int64_t size() const override { return static_cast<std::int64_t>(labels_.size()); }
  int num_classes() const override { return num_classes_; }
  ImageShape shape() const override { return {3, 32, 32}; }
  std::int64_t write_example(std::int64_t index, bool train, std::mt19937_64& rng,
                             float* out) const override;
  std::string description() const override;

 private:
  std::string name_;
  std::vector<std::string> files_;
  int num_classes_;
  Normalization norm_;
  std::vector<std::uint8_t> pixels_, labels_;  // N x 3072 planar, N
};

// Byte-level text (vocabulary 256: a token is a byte, so there is no tokenizer to fetch), for
// language models. The corpus is a file, plain or gzip-compressed (dictd's .dz is gzip with an
// index in the header; both are recognised by the gzip magic bytes, not the name), or a folder
// of such files (all regular files below it whose names do not start with '.', in sorted path
// order, concatenated).
//
// Split rule (fixed; the same for every corpus): the corpus is cut into kTextSegments = 16
// consecutive segments, segment s = bytes [floor(s n / 16), floor((s + 1) n / 16)); the last
// floor(len / kTextHoldoutDivisor) = floor(len / 128) bytes of each segment are validation, the
// rest training; each split is its 16 pieces concatenated in corpus order. Holding out a tail
// of every segment rather than the corpus's tail keeps the validation text representative of
// sorted corpora such as a dictionary (the last 1% of GCIDE is the letter Z).
//
// Examples: with context C, a split of m bytes has floor((m - 1) / C) examples. Evaluation
// (train = false) reads example i as bytes [i C, i C + C + 1): every byte but the first is a
// target exactly once, with 0 .. C - 1 bytes of context before it. Training (train = true)
// shifts window i by a uniform j in [0, C) drawn from the example's rng, to
// [min(i C + j, m - C - 1), + C + 1): an epoch (a permutation of the examples) then reads the
// whole split once, in windows placed at random.
//
// Refused with a DataError naming the file: an empty corpus, a file with more than 1 in 1000
// bytes that are control characters other than tab, newline, vertical tab, form feed and
// carriage return (binary data, or a corrupt archive), and a corpus whose training or
// validation split is shorter than one window (C + 1 bytes).
inline constexpr int kTextSegments = 16;
inline constexpr int kTextHoldoutDivisor = 128;

struct TextSplits {
  std::vector<std::uint8_t> train, validation;
};
// The corpus of `path` (file or folder), checked (empty, binary) as above.
std::vector<std::uint8_t> read_text_corpus(const std::string& path);
// The split rule above. No checks.
TextSplits split_text_corpus(const std::vector<std::uint8_t>& corpus);

class TextSource final : public ExampleSource {
 public:
  // Reads `path` and keeps the bytes of `split` ("train" or "test" = validation); throws
  // DataError when either split is shorter than one window of context_length + 1 bytes.
  TextSource(const std::string& path, const std::string& split, int context_length);
  std::int64_t size() const override;
  int num_classes() const override { return 256; }
  ImageShape shape() const override { return {0, 0, 0}; }  // no image: see sequence_length
  std::int64_t write_example(std::int64_t index, bool train, std::mt19937_64& rng, float* out) const override;
  std::int64_t sequence_length() const override { return context_ + 1; }
  void write_tokens(std::int64_t index, bool train, std::mt19937_64& rng, std::int64_t* out) const override;
  std::string description() const override;
  std::int64_t bytes() const { return static_cast<std::int64_t>(bytes_.size()); }

 private:
  std::string path_, split_;
  std::int64_t context_;
  std::int64_t corpus_bytes_ = 0;
  std::vector<std::uint8_t> bytes_;
};

// Geometry of the JPEG datasets: train = RandomResizedCrop(crop_size, scale (min_scale, 1))
// + horizontal flip; eval = Resize(resize_size) + CenterCrop(crop_size).
struct JpegTransform {
  int crop_size = 224;
  int resize_size = 256;
  double min_scale = 0.08;
  Normalization norm{{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}};  // ImageNet RGB
};

// An example source whose examples are JPEG bytes; subclasses say where the bytes are.
class JpegSource : public ExampleSource {
 public:
  explicit JpegSource(JpegTransform transform);
  ImageShape shape() const override { return {3, transform_.crop_size, transform_.crop_size}; }
  std::int64_t write_example(std::int64_t index, bool train, std::mt19937_64& rng,
                             float* out) const override;
  virtual std::int64_t label(std::int64_t index) const = 0;
  // The encoded bytes of an example; `scratch` may hold them. `name` is set for error messages.
  virtual const std::uint8_t* jpeg_bytes(std::int64_t index, std::vector<std::uint8_t>& scratch,
                                         std::size_t& size, std::string& name) const = 0;
  const JpegTransform& transform() const { return transform_; }

 private:
  JpegTransform transform_;
};

// torchvision-style ImageFolder: split_dir/<class>/**/*.jpg|jpeg (any case); classes are the
// sub-folders sorted by name, label = position; within a class, files ordered as torchvision
// orders them (sub-directories sorted, then file names sorted within each).
class ImageFolderSource final : public JpegSource {
 public:
  ImageFolderSource(const std::string& split_dir, JpegTransform transform = {});
  std::int64_t size() const override { return static_cast<std::int64_t>(files_.size()); }
  int num_classes() const override { return static_cast<int>(classes_.size()); }
  std::int64_t label(std::int64_t index) const override { return labels_[index]; }
  const std::uint8_t* jpeg_bytes(std::int64_t index, std::vector<std::uint8_t>& scratch,
                                 std::size_t& size, std::string& name) const override;
  std::string description() const override;
  const std::vector<std::string>& classes() const { return classes_; }
  const std::vector<std::string>& files() const { return files_; }

 private:
  std::string dir_;
  std::vector<std::string> classes_, files_;
  std::vector<std::int32_t> labels_;
};

// Packed shards (`batchlab pack`): OUT_DIR/shard-00000.bin, shard-00001.bin, ... Each file,
// little-endian:
//   magic "BLABPACK" | u32 version (1) | u32 shard | u32 num_shards | u32 num_classes
//   | u64 count | u64 first_example | u64 total_examples | u64 names_bytes | class names
//   ('\n'-separated) | count x {u64 offset, u64 size, i64 label} | the JPEG bytes, back to
//   back in example order, ending exactly at the end of the file.
// A shard is one sequential write and, read in order, one sequential read; the reader maps
// the files and serves exactly the examples (same order, labels, bytes) of the ImageFolder.
inline constexpr char kPackMagic[8] = {'B', 'L', 'A', 'B', 'P', 'A', 'C', 'K'};
inline constexpr std::uint32_t kPackVersion = 1;
std::string shard_file_name(int shard);

class PackedSource final : public JpegSource {
 public:
  PackedSource(const std::string& dir, JpegTransform transform = {});
  std::int64_t size() const override { return static_cast<std::int64_t>(entries_.size()); }
  int num_classes() const override { return static_cast<int>(classes_.size()); }
  std::int64_t label(std::int64_t index) const override { return entries_[index].label; }
  const std::uint8_t* jpeg_bytes(std::int64_t index, std::vector<std::uint8_t>& scratch,
                                 std::size_t& size, std::string& name) const override;
  std::string description() const override;
  const std::vector<std::string>& classes() const { return classes_; }
  int num_shards() const { return static_cast<int>(shards_.size()); }

 private:
  struct Entry {
    std::uint64_t offset, size;
    std::int64_t label;
    std::int32_t shard;
  };
  std::string dir_;
  std::vector<std::string> classes_;
  std::vector<std::unique_ptr<MappedFile>> shards_;
  std::vector<Entry> entries_;
};

struct PackSummary {
  std::int64_t examples = 0;
  int shards = 0;
  std::int64_t payload_bytes = 0;
};

// Packs an ImageFolder split into shards of about shard_bytes of JPEG payload each (a shard
// holds at least one example). Every JPEG is checked (header, end marker) on the way; a bad one
// throws DataError naming it and leaves no shard behind. `progress` gets a line per shard.
PackSummary pack_image_folder(const std::string& split_dir, const std::string& out_dir,
                              std::int64_t shard_bytes,
                              const std::function<void(const std::string&)>& progress = {});

}  // namespace batchlab::data
