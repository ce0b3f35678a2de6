#include "realtrain/data/file_io.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "realtrain/data/data_error.h"

namespace batchlab::data {

namespace {

[[noreturn]] void throw_errno(const std::string& path, const char* action) {
  throw DataError(path, std::string("cannot ") + action + " (" + std::strerror(errno) + ")");
}

}  // namespace

std::vector<std::uint8_t> read_file(const std::string& path) {
  if (!std::filesystem::exists(path)) throw DataError(path, "file not found");
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw_errno(path, "open");
  std::vector<std::uint8_t> bytes;
  std::uint8_t chunk[1 << 16];
  for (;;) {
    const std::size_t got = std::fread(chunk, 1, sizeof chunk, f.get());
    bytes.insert(bytes.end(), chunk, chunk + got);
    if (got < sizeof chunk) break;
  }
  if (std::ferror(f.get())) throw_errno(path, "read");
  return bytes;
}

std::vector<std::uint8_t> read_gzip_file(const std::string& path) {
  if (!std::filesystem::exists(path)) throw DataError(path, "file not found");
  gzFile gz = gzopen(path.c_str(), "rb");
  if (gz == nullptr) throw_errno(path, "open");
  gzbuffer(gz, 1 << 18);
  std::vector<std::uint8_t> bytes;
  std::uint8_t chunk[1 << 16];
  for (;;) {
    const int got = gzread(gz, chunk, sizeof chunk);
    if (got < 0) break;
    bytes.insert(bytes.end(), chunk, chunk + got);
    if (got == 0) break;
  }
  int errnum = Z_OK;
  const char* msg = gzerror(gz, &errnum);
  const std::string message = msg ? msg : "";
  gzclose(gz);
  if (errnum != Z_OK && errnum != Z_STREAM_END)
    throw DataError(path, "corrupt or truncated gzip stream (" + message + ")");
  return bytes;
}

MappedFile::MappedFile(const std::string& path) : path_(path) {
  if (!std::filesystem::exists(path)) throw DataError(path, "file not found");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_errno(path, "open");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw_errno(path, "stat");
  }
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      throw_errno(path, "mmap");
    }
    data_ = static_cast<const std::uint8_t*>(p);
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<std::uint8_t*>(data_), size_);
}

}  // namespace batchlab::data
