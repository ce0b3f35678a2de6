// Whole-file reads (plain and gzip) and read-only memory maps, all failing with a DataError
// that names the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace batchlab::data {

std::vector<std::uint8_t> read_file(const std::string& path);
// gzip-compressed file (zlib); a truncated or corrupt stream is an error, not a short read.
std::vector<std::uint8_t> read_gzip_file(const std::string& path);

// Read-only mmap of a file: the packed shards are served from the page cache without
// copying every JPEG into the process.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace batchlab::data
