// The decoded-dataset cache of read_gzip_file_cached: a hit returns what gunzip would, the entry
// is rebuilt when the source changes (size, mtime, inode), and a cache that cannot be used is
// never an error.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "data_test_util.h"
#include "realtrain/data/file_io.h"

using namespace batchlab::data;
using namespace batchlab::data::testing;
namespace fs = std::filesystem;

namespace {

// Sets BATCHLAB_CACHE_DIR for one test and restores the previous value.
class CacheDirEnv {
 public:
  explicit CacheDirEnv(const std::string& dir) {
    if (const char* v = std::getenv("BATCHLAB_CACHE_DIR")) old_ = v, had_ = true;
    ::setenv("BATCHLAB_CACHE_DIR", dir.c_str(), 1);
  }
  ~CacheDirEnv() { had_ ? ::setenv("BATCHLAB_CACHE_DIR", old_.c_str(), 1) : ::unsetenv("BATCHLAB_CACHE_DIR"); }

 private:
  std::string old_;
  bool had_ = false;
};

std::vector<std::uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

std::vector<fs::path> entries(const fs::path& dir) {
  std::vector<fs::path> out;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  return out;
}

}  // namespace

TEST(GunzipCache, HitServesTheEntryWrittenByTheFirstRead) {
  ScratchDir dir;
  const CacheDirEnv env(dir / "cache");
  write_gzip(dir / "a.gz", bytes_of("first contents"));
  EXPECT_EQ(read_gzip_file_cached(dir / "a.gz"), bytes_of("first contents"));
  const auto made = entries(dir / "cache");
  ASSERT_EQ(made.size(), 1u);
  EXPECT_TRUE(made[0].filename().string().ends_with("-a")) << made[0];
  // Overwrite the entry's payload (same length, header kept): a hit must return the entry, which
  // shows the second read did not gunzip the source.
  auto entry = read_bytes(made[0]);
  std::fill(entry.end() - 5, entry.end(), static_cast<std::uint8_t>('#'));
  write_bytes(made[0], entry);
  EXPECT_EQ(read_gzip_file_cached(dir / "a.gz"), bytes_of("first con#####"));
}

TEST(GunzipCache, ChangedSourceRebuildsTheEntry) {
  ScratchDir dir;
  const CacheDirEnv env(dir / "cache");
  write_gzip(dir / "a.gz", bytes_of("old"));
  EXPECT_EQ(read_gzip_file_cached(dir / "a.gz"), bytes_of("old"));
  // A new file of a different size under the same name (new inode, size and mtime).
  fs::remove(dir / "a.gz");
  write_gzip(dir / "a.gz", bytes_of("a longer new text"));
  EXPECT_EQ(read_gzip_file_cached(dir / "a.gz"), bytes_of("a longer new text"));
  EXPECT_EQ(entries(dir / "cache").size(), 1u);  // replaced, not added
}

TEST(GunzipCache, TruncatedEntryIsRebuiltNotServed) {
  ScratchDir dir;
  const CacheDirEnv env(dir / "cache");
  write_gzip(dir / "a.gz", bytes_of("0123456789"));
  (void)read_gzip_file_cached(dir / "a.gz");
  const auto made = entries(dir / "cache");
  ASSERT_EQ(made.size(), 1u);
  auto entry = read_bytes(made[0]);
  entry.resize(entry.size() - 3);
  write_bytes(made[0], entry);
  EXPECT_EQ(read_gzip_file_cached(dir / "a.gz"), bytes_of("0123456789"));
  EXPECT_EQ(read_bytes(made[0]).size(), entry.size() + 3);
}

TEST(GunzipCache, OffOrUnwritableCacheStillReturnsTheBytes) {
  ScratchDir dir;
  write_gzip(dir / "a.gz", bytes_of("payload"));
  {
    const CacheDirEnv env("off");
    EXPECT_EQ(gunzip_cache_dir(), "");
    EXPECT_EQ(read_gzip_file_cached(dir / "a.gz"), bytes_of("payload"));
  }
  write_bytes(dir / "not_a_dir", bytes_of("x"));  // a file where the cache dir should be
  const CacheDirEnv env(dir / "not_a_dir/cache");
  EXPECT_EQ(read_gzip_file_cached(dir / "a.gz"), bytes_of("payload"));
}

TEST(GunzipCache, MissingOrCorruptSourceIsTheSameErrorAsWithoutCache) {
  ScratchDir dir;
  const CacheDirEnv env(dir / "cache");
  EXPECT_THROW((void)read_gzip_file_cached(dir / "missing.gz"), DataError);
  write_gzip(dir / "bad.gz", std::vector<std::uint8_t>(4096, 7));
  auto gz = read_bytes(dir / "bad.gz");
  gz.resize(gz.size() / 2);  // a truncated stream
  write_bytes(dir / "bad.gz", gz);
  EXPECT_THROW((void)read_gzip_file_cached(dir / "bad.gz"), DataError);
  EXPECT_TRUE(entries(dir / "cache").empty());
}
