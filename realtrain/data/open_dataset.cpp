#include <cmath>
#include <filesystem>
#include <stdexcept>

#include "realtrain/data/data_error.h"
#include "realtrain/data/sources.h"

namespace batchlab::data {

namespace fs = std::filesystem;

namespace {

// Raw file if present, else the .gz next to it; neither -> DataError naming both.
std::string idx_path(const std::string& dir, const std::string& stem) {
  const std::string raw = (fs::path(dir) / stem).string();
  if (fs::exists(raw)) return raw;
  if (fs::exists(raw + ".gz")) return raw + ".gz";
  throw DataError(raw, "file not found (nor " + stem + ".gz)");
}

// The CIFAR archives unpack into a sub-folder; accept dir itself or that folder.
std::string cifar_dir(const std::string& dir, const std::string& archive_folder, const std::string& probe) {
  if (fs::exists(fs::path(dir) / probe)) return dir;
  const fs::path nested = fs::path(dir) / archive_folder;
  if (fs::exists(nested / probe)) return nested.string();
  return dir;  // read_file names the missing file under dir
}

std::string folder_split(const std::string& split) { return split == "train" ? "train" : "val"; }

}  // namespace

std::shared_ptr<const ExampleSource> open_dataset(const std::string& name, const std::string& dir,
                                                  const std::string& split) {
  return open_dataset(name, dir, split, DatasetOptions{});
}

std::shared_ptr<const ExampleSource> open_dataset(const std::string& name, const std::string& dir,
                                                  const std::string& split, const DatasetOptions& options) {
  if (split != "train" && split != "test")
    throw std::invalid_argument("open_dataset: unknown split '" + split + "' (expected train or test)");
  const bool train = split == "train";
  if (name == "fashion-mnist" || name == "mnist") {
    // Training-set pixel statistics (/255) commonly used for each dataset.
    const float mean = name == "mnist" ? 0.1307f : 0.2860f;
    const float std = name == "mnist" ? 0.3081f : 0.3530f;
    const std::string prefix = train ? "train" : "t10k";
    const std::string images = idx_path(dir, prefix + "-images-idx3-ubyte");
    const std::string labels = idx_path(dir, prefix + "-labels-idx1-ubyte");
    return std::make_shared<IdxSource>(images, labels, mean, std, 10, name);
  }
  if (name == "cifar10") {
    const std::string d = cifar_dir(dir, "cifar-10-batches-bin", train ? "data_batch_1.bin" : "test_batch.bin");
    std::vector<std::string> files;
    if (train)
      for (int i = 1; i <= 5; ++i) files.push_back((fs::path(d) / ("data_batch_" + std::to_string(i) + ".bin")).string());
    else
      files.push_back((fs::path(d) / "test_batch.bin").string());
    // Per-channel mean / std of the CIFAR-10 training images.
    const Normalization norm{{0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}};
    return std::make_shared<CifarSource>(files, 1, 10, norm, name);
  }
  if (name == "cifar100") {
    const std::string file = train ? "train.bin" : "test.bin";
    const std::string d = cifar_dir(dir, "cifar-100-binary", file);
    const Normalization norm{{0.5071f, 0.4865f, 0.4409f}, {0.2673f, 0.2564f, 0.2762f}};
    return std::make_shared<CifarSource>(std::vector<std::string>{(fs::path(d) / file).string()}, 2, 100, norm, name);
  }
  if (name == "text") {
    if (options.context_length < 1)
      throw std::invalid_argument("open_dataset: text needs a context length >= 1, got " +
                                  std::to_string(options.context_length));
    return std::make_shared<TextSource>(dir, split, options.context_length);
  }
  if (name == "imagenet" || name == "packed") {
    if (options.image_size < 1)
      throw std::invalid_argument("open_dataset: image size must be >= 1, got " + std::to_string(options.image_size));
    JpegTransform t;
    t.crop_size = options.image_size;
    t.resize_size = options.resize_size > 0
                        ? options.resize_size
                        : static_cast<int>(std::lround(options.image_size * 256.0 / 224.0));
    const std::string split_dir = (fs::path(dir) / folder_split(split)).string();
    if (name == "imagenet") return std::make_shared<ImageFolderSource>(split_dir, t);
    return std::make_shared<PackedSource>(split_dir, t);
  }
  throw std::invalid_argument("open_dataset: unknown dataset '" + name +
                              "' (expected fashion-mnist, mnist, cifar10, cifar100, imagenet, packed, text)");
}

}  // namespace batchlab::data
