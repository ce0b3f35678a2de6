#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "realtrain/data/data_error.h"
#include "realtrain/data/jpeg.h"
#include "realtrain/data/rng.h"
#include "realtrain/data/sources.h"

namespace batchlab::data {

namespace fs = std::filesystem;

// ---- JpegSource ----------------------------------------------------------------------------

JpegSource::JpegSource(JpegTransform transform) : transform_(transform) {
  if (transform_.crop_size < 1 || transform_.resize_size < transform_.crop_size)
    throw std::invalid_argument("JPEG transform: need 1 <= crop_size <= resize_size, got crop " +
                                std::to_string(transform_.crop_size) + ", resize " +
                                std::to_string(transform_.resize_size));
  if (!(transform_.min_scale > 0 && transform_.min_scale <= 1))
    throw std::invalid_argument("JPEG transform: min_scale must be in (0, 1], got " +
                                std::to_string(transform_.min_scale));
}

std::int64_t JpegSource::write_example(std::int64_t index, bool train, std::mt19937_64& rng,
                                       float* out) const {
  thread_local std::vector<std::uint8_t> scratch;
  std::size_t size = 0;
  std::string name;
  const std::uint8_t* bytes = jpeg_bytes(index, scratch, size, name);
  const RgbImage img = decode_jpeg(bytes, size, name);
  const int s = transform_.crop_size;
  CropBox box;
  bool flip = false;
  if (train) {
    box = random_resized_crop_box(img.height, img.width, transform_.min_scale, rng);
    flip = uniform_below(rng, 2) == 1;
  } else {
    box = resize_center_crop_box(img.height, img.width, transform_.resize_size, s);
  }
  resample_normalize(img.pixels.data(), img.height, img.width, 3, box, s, s, flip, transform_.norm, out);
  return label(index);
}

// ---- ImageFolderSource ---------------------------------------------------------------------

namespace {

bool is_jpeg_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg";
}

}  // namespace

ImageFolderSource::ImageFolderSource(const std::string& split_dir, JpegTransform transform)
    : JpegSource(transform), dir_(split_dir) {
  std::error_code ec;
  if (!fs::is_directory(split_dir, ec)) throw DataError(split_dir, "ImageFolder directory not found");
  for (const auto& e : fs::directory_iterator(split_dir))
    if (e.is_directory()) classes_.push_back(e.path().filename().string());
  std::sort(classes_.begin(), classes_.end());
  if (classes_.empty()) throw DataError(split_dir, "no class sub-directories (expected DIR/<class>/*.JPEG)");
  for (std::size_t c = 0; c < classes_.size(); ++c) {
    const fs::path class_dir = fs::path(split_dir) / classes_[c];
    std::vector<std::string> found;
    for (const auto& e : fs::recursive_directory_iterator(class_dir, fs::directory_options::follow_directory_symlink))
      if (e.is_regular_file() && is_jpeg_name(e.path())) found.push_back(e.path().string());
    if (found.empty()) throw DataError(class_dir.string(), "class folder holds no .jpg/.jpeg files");
    // torchvision's order: directories (os.walk roots) sorted, then file names within each.
    std::sort(found.begin(), found.end(), [](const std::string& a, const std::string& b) {
      const fs::path pa(a), pb(b);
      return std::pair(pa.parent_path().string(), pa.filename().string()) <
             std::pair(pb.parent_path().string(), pb.filename().string());
    });
    for (auto& f : found) {
      files_.push_back(std::move(f));
      labels_.push_back(static_cast<std::int32_t>(c));
    }
  }
}

const std::uint8_t* ImageFolderSource::jpeg_bytes(std::int64_t index, std::vector<std::uint8_t>& scratch,
                                                  std::size_t& size, std::string& name) const {
  name = files_[static_cast<std::size_t>(index)];
  scratch = read_file(name);
  size = scratch.size();
  return scratch.data();
}

std::string ImageFolderSource::description() const {
  return "ImageFolder " + dir_ + ": " + std::to_string(size()) + " JPEGs, " + std::to_string(num_classes()) +
         " classes -> 3x" + std::to_string(transform().crop_size) + "x" + std::to_string(transform().crop_size);
}

// ---- Packed shards -------------------------------------------------------------------------

std::string shard_file_name(int shard) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "shard-%05d.bin", shard);
  return buf;
}

namespace {

constexpr std::size_t kFixedHeader = 8 + 4 * 4 + 8 * 4;  // magic, 4 x u32, 4 x u64
constexpr std::size_t kEntryBytes = 24;

void put_u32(std::string& b, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put_u64(std::string& b, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
std::uint32_t get_u32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
std::uint64_t get_u64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::string join_names(const std::vector<std::string>& names) {
  std::string s;
  for (std::size_t i = 0; i < names.size(); ++i) s += (i ? "\n" : "") + names[i];
  return s;
}

std::vector<std::string> split_names(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t nl = s.find('\n', start);
    out.push_back(s.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) return out;
    start = nl + 1;
  }
}

}  // namespace

PackedSource::PackedSource(const std::string& dir, JpegTransform transform) : JpegSource(transform), dir_(dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw DataError(dir, "packed shard directory not found");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("shard-", 0) == 0 && n.size() > 4 && n.compare(n.size() - 4, 4, ".bin") == 0) names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  if (names.empty()) throw DataError(dir, "no shard-*.bin files (write them with `batchlab pack`)");

  std::uint64_t expected_first = 0, total = 0;
  std::uint32_t num_shards = 0;
  for (std::size_t s = 0; s < names.size(); ++s) {
    const std::string path = (fs::path(dir) / names[s]).string();
    if (names[s] != shard_file_name(static_cast<int>(s)))
      throw DataError(path, "unexpected shard name (expected " + shard_file_name(static_cast<int>(s)) +
                                ": shards must be numbered 0, 1, ... without gaps)");
    auto file = std::make_unique<MappedFile>(path);
    const std::uint8_t* p = file->data();
    const std::size_t size = file->size();
    if (size < kFixedHeader)
      throw DataError(path, "wrong size: " + std::to_string(size) + " bytes, shorter than the " +
                                std::to_string(kFixedHeader) + "-byte header (truncated?)");
    if (std::memcmp(p, kPackMagic, sizeof kPackMagic) != 0) throw DataError(path, "bad magic (not a batchlab pack shard)");
    const std::uint32_t version = get_u32(p + 8), shard = get_u32(p + 12), shards = get_u32(p + 16),
                        classes = get_u32(p + 20);
    const std::uint64_t count = get_u64(p + 24), first = get_u64(p + 32), all = get_u64(p + 40),
                        names_bytes = get_u64(p + 48);
    if (version != kPackVersion)
      throw DataError(path, "unsupported pack version " + std::to_string(version) + " (reader knows " +
                                std::to_string(kPackVersion) + ")");
    if (s == 0) {
      num_shards = shards;
      total = all;
    }
    if (shard != s || shards != num_shards || all != total || first != expected_first)
      throw DataError(path, "header inconsistent with the other shards (shard " + std::to_string(shard) + " of " +
                                std::to_string(shards) + ", first example " + std::to_string(first) + ", expected " +
                                std::to_string(expected_first) + ")");
    if (names_bytes > size || count > size / kEntryBytes ||
        kFixedHeader + names_bytes + count * kEntryBytes > size)
      throw DataError(path, "wrong size: " + std::to_string(size) + " bytes cannot hold the header's " +
                                std::to_string(count) + " index entries (truncated?)");
    const std::vector<std::string> class_names =
        split_names(std::string(reinterpret_cast<const char*>(p + kFixedHeader), names_bytes));
    if (class_names.size() != classes || classes == 0)
      throw DataError(path, "header has " + std::to_string(classes) + " classes but " +
                                std::to_string(class_names.size()) + " class names");
    if (s == 0)
      classes_ = class_names;
    else if (class_names != classes_)
      throw DataError(path, "class names differ from " + shard_file_name(0));
    const std::uint8_t* index = p + kFixedHeader + names_bytes;
    std::uint64_t expected_offset = kFixedHeader + names_bytes + count * kEntryBytes;
    for (std::uint64_t i = 0; i < count; ++i) {
      const std::uint8_t* e = index + i * kEntryBytes;
      Entry entry{get_u64(e), get_u64(e + 8), static_cast<std::int64_t>(get_u64(e + 16)), static_cast<std::int32_t>(s)};
      if (entry.offset != expected_offset || entry.size == 0 || entry.size > size)
        throw DataError(path, "index entry " + std::to_string(i) + " (offset " + std::to_string(entry.offset) +
                                  ", size " + std::to_string(entry.size) + ") is not where the previous one ended (" +
                                  std::to_string(expected_offset) + ")");
      if (entry.label < 0 || entry.label >= static_cast<std::int64_t>(classes))
        throw DataError(path, "index entry " + std::to_string(i) + " has label " + std::to_string(entry.label) +
                                  " outside [0, " + std::to_string(classes) + ")");
      expected_offset += entry.size;
      entries_.push_back(entry);
    }
    if (expected_offset != size)
      throw DataError(path, "wrong size: " + std::to_string(size) + " bytes, the index says " +
                                std::to_string(expected_offset) + (expected_offset > size ? " (truncated)" : " (trailing bytes)"));
    expected_first += count;
    shards_.push_back(std::move(file));
  }
  if (shards_.size() != num_shards)
    throw DataError(dir, "found " + std::to_string(shards_.size()) + " shards, " + shard_file_name(0) + " says " +
                             std::to_string(num_shards));
  if (expected_first != total)
    throw DataError(dir, "shards hold " + std::to_string(expected_first) + " examples, headers say " +
                             std::to_string(total));
  if (total == 0) throw DataError(dir, "packed split holds no examples");
}

const std::uint8_t* PackedSource::jpeg_bytes(std::int64_t index, std::vector<std::uint8_t>&, std::size_t& size,
                                             std::string& name) const {
  const Entry& e = entries_[static_cast<std::size_t>(index)];
  const MappedFile& f = *shards_[static_cast<std::size_t>(e.shard)];
  size = e.size;
  name = f.path() + " (example " + std::to_string(index) + ")";
  return f.data() + e.offset;
}

std::string PackedSource::description() const {
  return "packed " + dir_ + ": " + std::to_string(size()) + " JPEGs in " + std::to_string(shards_.size()) +
         " shards, " + std::to_string(num_classes()) + " classes -> 3x" + std::to_string(transform().crop_size) +
         "x" + std::to_string(transform().crop_size);
}

PackSummary pack_image_folder(const std::string& split_dir, const std::string& out_dir, std::int64_t shard_bytes,
                              const std::function<void(const std::string&)>& progress) {
  if (shard_bytes <= 0) throw std::invalid_argument("pack: shard size must be positive");
  const ImageFolderSource folder(split_dir);
  const std::vector<std::string>& files = folder.files();
  const std::int64_t n = folder.size();

  // Plan the shards from the file sizes so every header can carry num_shards up front.
  std::vector<std::uint64_t> sizes(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) sizes[static_cast<std::size_t>(i)] = fs::file_size(files[static_cast<std::size_t>(i)]);
  std::vector<std::int64_t> shard_start{0};
  std::uint64_t filled = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    if (filled > 0 && filled + sizes[static_cast<std::size_t>(i)] > static_cast<std::uint64_t>(shard_bytes)) {
      shard_start.push_back(i);
      filled = 0;
    }
    filled += sizes[static_cast<std::size_t>(i)];
  }
  shard_start.push_back(n);
  const int num_shards = static_cast<int>(shard_start.size()) - 1;

  fs::create_directories(out_dir);
  const std::string names = join_names(folder.classes());
  PackSummary summary;
  std::vector<std::string> written;
  try {
    for (int s = 0; s < num_shards; ++s) {
      const std::int64_t lo = shard_start[static_cast<std::size_t>(s)], hi = shard_start[static_cast<std::size_t>(s) + 1];
      std::string head(kPackMagic, sizeof kPackMagic);
      put_u32(head, kPackVersion);
      put_u32(head, static_cast<std::uint32_t>(s));
      put_u32(head, static_cast<std::uint32_t>(num_shards));
      put_u32(head, static_cast<std::uint32_t>(folder.num_classes()));
      put_u64(head, static_cast<std::uint64_t>(hi - lo));
      put_u64(head, static_cast<std::uint64_t>(lo));
      put_u64(head, static_cast<std::uint64_t>(n));
      put_u64(head, names.size());
      head += names;
      std::uint64_t offset = head.size() + static_cast<std::uint64_t>(hi - lo) * kEntryBytes;
      for (std::int64_t i = lo; i < hi; ++i) {
        put_u64(head, offset);
        put_u64(head, sizes[static_cast<std::size_t>(i)]);
        put_u64(head, static_cast<std::uint64_t>(folder.label(i)));
        offset += sizes[static_cast<std::size_t>(i)];
      }
      // Written under a temporary name and renamed when complete: an interrupted pack never
      // leaves a shard that looks valid.
      const std::string final_path = (fs::path(out_dir) / shard_file_name(s)).string();
      const std::string tmp_path = final_path + ".partial";
      written.push_back(tmp_path);
      std::ofstream out(tmp_path, std::ios::binary | std::ios::trunc);
      if (!out) throw DataError(tmp_path, "cannot create shard file");
      out.write(head.data(), static_cast<std::streamsize>(head.size()));
      for (std::int64_t i = lo; i < hi; ++i) {
        const std::string& f = files[static_cast<std::size_t>(i)];
        const std::vector<std::uint8_t> bytes = read_file(f);
        if (bytes.size() != sizes[static_cast<std::size_t>(i)])
          throw DataError(f, "changed size while packing (" + std::to_string(sizes[static_cast<std::size_t>(i)]) +
                                 " -> " + std::to_string(bytes.size()) + " bytes)");
        check_jpeg(bytes.data(), bytes.size(), f);
        out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
        summary.payload_bytes += static_cast<std::int64_t>(bytes.size());
      }
      out.close();
      if (!out) throw DataError(tmp_path, "write failed (disk full?)");
      if (progress)
        progress(shard_file_name(s) + ": examples " + std::to_string(lo) + ".." + std::to_string(hi - 1) + ", " +
                 std::to_string(offset) + " bytes");
    }
    for (int s = 0; s < num_shards; ++s) {
      const std::string final_path = (fs::path(out_dir) / shard_file_name(s)).string();
      fs::rename(final_path + ".partial", final_path);
    }
  } catch (...) {
    std::error_code ignored;
    for (const auto& p : written) fs::remove(p, ignored);
    throw;
  }
  summary.examples = n;
  summary.shards = num_shards;
  return summary;
}

}  // namespace batchlab::data
