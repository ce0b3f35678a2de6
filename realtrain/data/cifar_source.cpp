#include "realtrain/data/data_error.h"
#include "realtrain/data/rng.h"
#include "realtrain/data/sources.h"

namespace batchlab::data {

namespace {
constexpr std::size_t kImageBytes = 3 * 32 * 32;
constexpr int kPad = 4;
}  // namespace

CifarSource::CifarSource(const std::vector<std::string>& files, int label_bytes, int num_classes,
                         const Normalization& norm, std::string name)
    : name_(std::move(name)), files_(files), num_classes_(num_classes), norm_(norm) {
  const std::size_t record = static_cast<std::size_t>(label_bytes) + kImageBytes;
  for (const auto& path : files) {
    const std::vector<std::uint8_t> bytes = read_file(path);
    if (bytes.empty() || bytes.size() % record != 0)
      throw DataError(path, "wrong size: " + std::to_string(bytes.size()) + " bytes is not a positive multiple of the " +
                                std::to_string(record) + "-byte record (" + std::to_string(label_bytes) +
                                " label byte(s) + 3072 pixels); truncated or not a CIFAR binary file");
    const std::size_t n = bytes.size() / record;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint8_t* r = &bytes[i * record];
      const std::uint8_t label = r[label_bytes - 1];
      if (label >= num_classes)
        throw DataError(path, "record " + std::to_string(i) + " has label " + std::to_string(label) +
                                  ", not below " + std::to_string(num_classes) + " (wrong CIFAR variant?)");
      labels_.push_back(label);
      pixels_.insert(pixels_.end(), r + label_bytes, r + record);
    }
  }
}

std::int64_t CifarSource::write_example(std::int64_t index, bool train, std::mt19937_64& rng,
                                        float* out) const {
  const std::uint8_t* img = &pixels_[static_cast<std::size_t>(index) * kImageBytes];
  // Crop offset (dy, dx) in the zero-padded 40x40 image; out(y, x) = padded(y + dy, x + dx).
  int dy = kPad, dx = kPad;
  bool flip = false;
  if (train) {
    dy = static_cast<int>(uniform_below(rng, 2 * kPad + 1));
    dx = static_cast<int>(uniform_below(rng, 2 * kPad + 1));
    flip = uniform_below(rng, 2) == 1;
  }
  for (int c = 0; c < 3; ++c) {
    const float scale = 1.0f / (255.0f * norm_.std[c]), shift = -norm_.mean[c] / norm_.std[c];
    const std::uint8_t* plane = img + c * 1024;
    for (int y = 0; y < 32; ++y) {
      const int sy = y + dy - kPad;
      for (int x = 0; x < 32; ++x) {
        // The flip mirrors the crop, so it picks column 31 - x of the cropped image.
        const int sx = (flip ? 31 - x : x) + dx - kPad;
        const bool inside = sy >= 0 && sy < 32 && sx >= 0 && sx < 32;
        const float v = inside ? plane[sy * 32 + sx] : 0.0f;
        out[c * 1024 + y * 32 + x] = v * scale + shift;
      }
    }
  }
  return labels_[static_cast<std::size_t>(index)];
}

std::string CifarSource::description() const {
  return name_ + " binary (" + std::to_string(files_.size()) + " files): " + std::to_string(size()) +
         " x 3x32x32, " + std::to_string(num_classes_) + " classes";
}

}  // namespace batchlab::data
