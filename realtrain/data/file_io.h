// Whole-file reads (plain and gzip) and read-only memory maps, all failing with a DataError
// that names the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace batchlab::data {

std::vector<std::uint8_t> read_file(const std::string& path);
// The bytes of a file from byte `offset` on.
std::vector<std::uint8_t> read_file_from(const std::string& path, std::size_t offset);
// gzip-compressed file (zlib); a truncated or corrupt stream is an error, not a short read.
std::vector<std::uint8_t> read_gzip_file(const std::string& path);

// read_gzip_file through a cache of decoded copies, so a study's trials do not gunzip the same
// dataset again (Fashion-MNIST's 26 MB of .gz took 0.8 s of every `batchlab train`). The entry for
// a source is gunzip_cache_dir()/<hash of its absolute path>-<name without .gz> and starts with a
// header holding the source's size and mtime (ns) and the decoded size; an entry whose header
// does not match the source as it is now, or whose length is wrong, is rebuilt. Entries are
// written to a temporary file and renamed, so concurrent ranks and killed runs never leave a
// partial entry. A cache that cannot be written (read-only home) is not an error: the decoded
// bytes are returned anyway.
std::vector<std::uint8_t> read_gzip_file_cached(const std::string& path);
// $BATCHLAB_CACHE_DIR, else $XDG_CACHE_HOME/batchlab, else $HOME/.cache/batchlab; empty (no
// cache) when BATCHLAB_CACHE_DIR is set to "" or "off", or no home is known.
std::string gunzip_cache_dir();

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
