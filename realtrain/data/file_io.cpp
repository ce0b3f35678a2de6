#include "realtrain/data/file_io.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <system_error>

#include "realtrain/data/data_error.h"

namespace batchlab::data {

namespace {

[[noreturn]] void throw_errno(const std::string& path, const char* action) {
  throw DataError(path, std::string("cannot ") + action + " (" + std::strerror(errno) + ")");
}

}  // namespace

std::vector<std::uint8_t> read_file(const std::string& path) { return read_file_from(path, 0); }

std::vector<std::uint8_t> read_file_from(const std::string& path, std::size_t offset) {
  if (!std::filesystem::exists(path)) throw DataError(path, "file not found");
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw_errno(path, "open");
  // One read into a buffer of the file's size (a decoded Fashion-MNIST is 47 MB: growing a
  // vector chunk by chunk cost more than the read), then whatever the size did not announce.
  struct stat st {};
  std::size_t size = 0;
  if (::fstat(::fileno(f.get()), &st) == 0 && st.st_size > 0) size = static_cast<std::size_t>(st.st_size);
  if (offset > 0 && std::fseek(f.get(), static_cast<long>(offset), SEEK_SET) != 0) throw_errno(path, "seek in");
  std::vector<std::uint8_t> bytes(size > offset ? size - offset : 0);
  std::size_t got = bytes.empty() ? 0 : std::fread(bytes.data(), 1, bytes.size(), f.get());
  bytes.resize(got);
  std::uint8_t chunk[1 << 16];
  while (got == bytes.size() && !std::feof(f.get())) {
    const std::size_t more = std::fread(chunk, 1, sizeof chunk, f.get());
    if (more == 0) break;
    bytes.insert(bytes.end(), chunk, chunk + more);
    got = bytes.size();
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

namespace {

// Fixed-size header of a gunzip cache entry; the decoded bytes follow it.
constexpr std::size_t kCacheHeaderBytes = 96;
constexpr const char* kCacheMagic = "batchlab-gunzip-cache-v1";

// The source is identified by size, mtime (ns) and inode: a dataset replaced by another file
// (even of the same size) invalidates its entry.
std::string cache_header(const struct stat& src, std::size_t decoded) {
  const std::int64_t mtime_ns = static_cast<std::int64_t>(src.st_mtim.tv_sec) * 1000000000 + src.st_mtim.tv_nsec;
  char buf[kCacheHeaderBytes];
  std::memset(buf, ' ', sizeof buf);
  const int n = std::snprintf(buf, sizeof buf, "%s %jd %" PRId64 " %ju %zu", kCacheMagic,
                              static_cast<std::intmax_t>(src.st_size), mtime_ns,
                              static_cast<std::uintmax_t>(src.st_ino), decoded);
  buf[n] = ' ';  // snprintf's terminator; the header is space-padded to its fixed size
  buf[sizeof buf - 1] = '\n';
  return std::string(buf, sizeof buf);
}

std::uint64_t fnv1a64(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (const unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Writes header + bytes to `entry` through a temporary file and a rename; any failure leaves
// no entry (and is not reported: the cache is only an optimisation).
void write_cache_entry(const std::filesystem::path& entry, const std::string& header,
                       const std::vector<std::uint8_t>& bytes) {
  std::error_code ec;
  std::filesystem::create_directories(entry.parent_path(), ec);
  if (ec) return;
  const std::filesystem::path tmp = entry.string() + ".tmp." + std::to_string(::getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return;
  bool ok = std::fwrite(header.data(), 1, header.size(), f) == header.size() &&
            std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  ok = (std::fclose(f) == 0) && ok;
  if (ok) std::filesystem::rename(tmp, entry, ec);
  if (!ok || ec) std::filesystem::remove(tmp, ec);
}

}  // namespace

std::string gunzip_cache_dir() {
  if (const char* d = std::getenv("BATCHLAB_CACHE_DIR")) {
    const std::string s = d;
    return (s.empty() || s == "off") ? std::string() : s;
  }
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x != '\0')
    return std::string(x) + "/batchlab";
  if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') return std::string(h) + "/.cache/batchlab";
  return {};
}

std::vector<std::uint8_t> read_gzip_file_cached(const std::string& path) {
  namespace fs = std::filesystem;
  const std::string dir = gunzip_cache_dir();
  std::error_code ec;
  const fs::path abs = fs::absolute(path, ec);
  struct stat st {};
  if (dir.empty() || ec || ::stat(path.c_str(), &st) != 0) return read_gzip_file(path);
  std::string name = abs.filename().string();
  if (name.size() > 3 && name.ends_with(".gz")) name.resize(name.size() - 3);
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016" PRIx64, fnv1a64(abs.string()));
  const fs::path entry = fs::path(dir) / (std::string(hash) + "-" + name);
  if (fs::is_regular_file(entry, ec)) {
    // The header first: a stale entry costs one small read, a valid one a single read of the payload.
    std::vector<std::uint8_t> head(kCacheHeaderBytes);
    std::uintmax_t entry_size = fs::file_size(entry, ec);
    if (!ec && entry_size >= kCacheHeaderBytes) {
      std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(entry.c_str(), "rb"), &std::fclose);
      const bool head_ok = f && std::fread(head.data(), 1, head.size(), f.get()) == head.size();
      const std::string want = cache_header(st, static_cast<std::size_t>(entry_size) - kCacheHeaderBytes);
      if (head_ok && std::memcmp(head.data(), want.data(), kCacheHeaderBytes) == 0) {
        std::vector<std::uint8_t> cached = read_file_from(entry.string(), kCacheHeaderBytes);
        if (cached.size() == entry_size - kCacheHeaderBytes) return cached;
      }
    }
  }
  std::vector<std::uint8_t> bytes = read_gzip_file(path);
  write_cache_entry(entry, cache_header(st, bytes.size()), bytes);
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
