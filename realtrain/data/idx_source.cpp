#include <algorithm>
#include <utility>

#include "realtrain/data/data_error.h"
#include "realtrain/data/sources.h"

namespace batchlab::data {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct IdxArray {
  std::vector<std::int64_t> dims;
  std::vector<std::uint8_t> data;
};

std::uint32_t big_endian32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

// idx format: 0 0 <type 0x08 = ubyte> <ndim>, ndim big-endian u32 sizes, then the data.
IdxArray read_idx(const std::string& path, int expected_ndim) {
  std::vector<std::uint8_t> bytes = ends_with(path, ".gz") ? read_gzip_file_cached(path) : read_file(path);
  if (bytes.size() < 4) throw DataError(path, "idx file too short (" + std::to_string(bytes.size()) + " bytes)");
  if (bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 || bytes[3] != expected_ndim) {
    char magic[16];
    std::snprintf(magic, sizeof magic, "%02x%02x%02x%02x", bytes[0], bytes[1], bytes[2], bytes[3]);
    throw DataError(path, std::string("bad idx magic 0x") + magic + " (expected 0x000008" +
                              (expected_ndim == 1 ? "01" : "03") + ", ubyte with " +
                              std::to_string(expected_ndim) + " dimensions)");
  }
  const std::size_t header = 4 + 4 * static_cast<std::size_t>(expected_ndim);
  if (bytes.size() < header) throw DataError(path, "idx header truncated");
  IdxArray a;
  std::size_t expected = 1;
  for (int d = 0; d < expected_ndim; ++d) {
    a.dims.push_back(big_endian32(&bytes[4 + 4 * d]));
    expected *= static_cast<std::size_t>(a.dims.back());
  }
  if (bytes.size() != header + expected)
    throw DataError(path, "wrong size: " + std::to_string(bytes.size()) + " bytes, the header implies " +
                              std::to_string(header + expected) + " (truncated?)");
  bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(header));  // a move, not a copy
  a.data = std::move(bytes);
  return a;
}

}  // namespace

IdxSource::IdxSource(const std::string& images_path, const std::string& labels_path, float mean,
                     float std, int num_classes, std::string name)
    : name_(std::move(name)), images_path_(images_path), num_classes_(num_classes), mean_(mean), std_(std) {
  IdxArray images = read_idx(images_path, 3);
  IdxArray labels = read_idx(labels_path, 1);
  if (images.dims[0] != labels.dims[0])
    throw DataError(labels_path, std::to_string(labels.dims[0]) + " labels for " +
                                     std::to_string(images.dims[0]) + " images in " + images_path);
  if (images.dims[0] == 0) throw DataError(images_path, "holds no images");
  for (std::size_t i = 0; i < labels.data.size(); ++i)
    if (labels.data[i] >= num_classes)
      throw DataError(labels_path, "label " + std::to_string(labels.data[i]) + " of example " +
                                       std::to_string(i) + " is not below " + std::to_string(num_classes));
  count_ = images.dims[0];
  rows_ = static_cast<int>(images.dims[1]);
  cols_ = static_cast<int>(images.dims[2]);
  pixels_ = std::move(images.data);
  labels_ = std::move(labels.data);
}

std::int64_t IdxSource::write_example(std::int64_t index, bool, std::mt19937_64&, float* out) const {
  const std::size_t n = static_cast<std::size_t>(rows_) * cols_;
  const std::uint8_t* p = &pixels_[static_cast<std::size_t>(index) * n];
  const float scale = 1.0f / (255.0f * std_), shift = -mean_ / std_;
  for (std::size_t i = 0; i < n; ++i) out[i] = p[i] * scale + shift;
  return labels_[static_cast<std::size_t>(index)];
}

std::string IdxSource::description() const {
  return name_ + " idx " + images_path_ + ": " + std::to_string(count_) + " x " + std::to_string(rows_) +
         "x" + std::to_string(cols_) + ", " + std::to_string(num_classes_) + " classes";
}

}  // namespace batchlab::data
