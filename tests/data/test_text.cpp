// The byte-level text dataset: the split rule on exact byte positions, plain / gzip / .dz /
// folder corpora reading the same bytes, evaluation windows that predict every validation byte
// once, training windows placed at random inside their region, batches sharded over ranks like
// the image datasets, and one clear DataError for empty, binary and too-short corpora.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <random>
#include <set>
#include <string>

#include "data_test_util.h"
#include "realtrain/data/sources.h"

using namespace batchlab::data;
using namespace batchlab::data::testing;

namespace {

// Printable text whose bytes encode their position (mod 95), so a window's offset can be read
// back from its contents.
std::vector<std::uint8_t> position_text(std::size_t n) {
  std::vector<std::uint8_t> b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(' ' + i % 95);
  return b;
}

std::vector<std::uint8_t> bytes_of(const std::string& s) { return {s.begin(), s.end()}; }

// An environment without a decoded-copy cache, so the tests never write to $HOME.
class NoCache {
 public:
  NoCache() {
    if (const char* v = std::getenv("BATCHLAB_CACHE_DIR")) old_ = v, had_ = true;
    ::setenv("BATCHLAB_CACHE_DIR", "off", 1);
  }
  ~NoCache() { had_ ? ::setenv("BATCHLAB_CACHE_DIR", old_.c_str(), 1) : ::unsetenv("BATCHLAB_CACHE_DIR"); }

 private:
  std::string old_;
  bool had_ = false;
};

}  // namespace

TEST(TextSplit, LastOneHundredTwentyEighthOfEachOfSixteenSegmentsIsValidation) {
  // 16 segments of 1000 bytes: each holds out floor(1000 / 128) = 7 bytes at its end.
  const auto corpus = position_text(16000);
  const TextSplits s = split_text_corpus(corpus);
  ASSERT_EQ(s.validation.size(), 16u * 7u);
  ASSERT_EQ(s.train.size(), 16000u - 16u * 7u);
  for (std::size_t seg = 0; seg < 16; ++seg)
    for (std::size_t k = 0; k < 7; ++k) {
      EXPECT_EQ(s.validation[seg * 7 + k], corpus[seg * 1000 + 993 + k]) << seg << " " << k;
      EXPECT_EQ(s.train[seg * 993 + k], corpus[seg * 1000 + k]) << seg << " " << k;
    }
  // Uneven segments: boundaries at floor(s n / 16); every byte lands in exactly one split.
  const auto odd = position_text(5003);
  const TextSplits t = split_text_corpus(odd);
  std::size_t held = 0;
  for (std::size_t seg = 0; seg < 16; ++seg) held += (((seg + 1) * 5003 / 16) - (seg * 5003 / 16)) / 128;
  EXPECT_EQ(t.validation.size(), held);
  EXPECT_EQ(t.train.size() + t.validation.size(), 5003u);
}

TEST(TextSource, PlainGzipDictzipAndFolderReadTheSameBytes) {
  ScratchDir dir;
  const NoCache no_cache;
  const auto text = position_text(40000);
  write_bytes(dir / "plain.txt", text);
  write_gzip(dir / "packed.gz", text);
  write_gzip(dir / "dict.dz", text);         // dictzip output is a gzip stream
  write_gzip(dir / "noext", text);           // recognised by its magic, not its name
  // A folder: files concatenated in sorted path order, hidden files and folders skipped.
  const std::vector<std::uint8_t> first(text.begin(), text.begin() + 15000), rest(text.begin() + 15000, text.end());
  write_bytes(dir / "folder/a.txt", first);
  std::filesystem::create_directories(dir / "folder/b");
  write_gzip(dir / "folder/b/c.gz", rest);
  write_bytes(dir / "folder/.hidden", bytes_of("\x01\x02 not part of the corpus"));
  write_bytes(dir / "folder/.git/x", bytes_of("not part either"));
  for (const char* name : {"plain.txt", "packed.gz", "dict.dz", "noext", "folder"})
    EXPECT_EQ(read_text_corpus(dir / name), text) << name;
}

TEST(TextSource, EvaluationWindowsPredictEveryValidationByteOnce) {
  ScratchDir dir;
  const auto text = position_text(64000);
  write_bytes(dir / "c.txt", text);
  const int context = 16;
  TextSource val(dir / "c.txt", "test", context);
  const TextSplits s = split_text_corpus(text);
  const auto m = static_cast<std::int64_t>(s.validation.size());
  ASSERT_EQ(val.size(), (m - 1) / context);
  ASSERT_EQ(val.sequence_length(), context + 1);
  EXPECT_EQ(val.num_classes(), 256);
  std::mt19937_64 rng(1);
  std::vector<std::int64_t> targets_seen(static_cast<std::size_t>(m), 0);
  std::vector<std::int64_t> w(context + 1);
  for (std::int64_t i = 0; i < val.size(); ++i) {
    val.write_tokens(i, /*train=*/false, rng, w.data());
    for (int t = 0; t <= context; ++t) ASSERT_EQ(w[t], s.validation[static_cast<std::size_t>(i * context + t)]);
    for (int t = 1; t <= context; ++t) ++targets_seen[static_cast<std::size_t>(i * context + t)];
  }
  // Every byte after the first is a target once, except the < context bytes of a partial tail.
  const std::int64_t covered = val.size() * context;
  EXPECT_GT(covered, m - 1 - context);
  for (std::int64_t k = 1; k <= covered; ++k) ASSERT_EQ(targets_seen[static_cast<std::size_t>(k)], 1) << k;
  TextSource train(dir / "c.txt", "train", context);
  EXPECT_EQ(train.size(), (static_cast<std::int64_t>(s.train.size()) - 1) / context);
}

TEST(TextSource, TrainingWindowsStartAtRandomInsideTheirRegion) {
  ScratchDir dir;
  const auto text = position_text(64000);
  write_bytes(dir / "c.txt", text);
  const int context = 10;
  TextSource train(dir / "c.txt", "train", context);
  const TextSplits s = split_text_corpus(text);
  const auto m = static_cast<std::int64_t>(s.train.size());
  std::vector<std::int64_t> w(context + 1);
  std::set<std::int64_t> offsets_seen;
  for (std::int64_t i : {std::int64_t{0}, std::int64_t{7}, train.size() - 1}) {
    for (std::uint64_t seed = 0; seed < 200; ++seed) {
      std::mt19937_64 rng(seed);
      train.write_tokens(i, /*train=*/true, rng, w.data());
      // Find the window's start: the split's bytes encode positions, search the region.
      std::int64_t start = -1;
      for (std::int64_t a = i * context; a < i * context + context && a + context < m; ++a)
        if (std::equal(w.begin(), w.end(), s.train.begin() + a)) start = a;
      if (i == train.size() - 1 && start < 0) {
        // The clipped last region: the window ends at the end of the split.
        ASSERT_TRUE(std::equal(w.begin(), w.end(), s.train.end() - (context + 1)));
        start = m - context - 1;
      }
      ASSERT_GE(start, i * context) << i;
      ASSERT_LE(start, std::min(i * context + context - 1, m - context - 1)) << i;
      if (i == 7) offsets_seen.insert(start - i * context);
      std::mt19937_64 again(seed);
      std::vector<std::int64_t> w2(context + 1);
      train.write_tokens(i, true, again, w2.data());
      ASSERT_EQ(w, w2) << "the placement depends on the rng only";
    }
  }
  EXPECT_EQ(offsets_seen.size(), static_cast<std::size_t>(context)) << "every offset in [0, C) is drawn";
}

TEST(TextSource, LoaderShardsTextBatchesAcrossRanksLikeImages) {
  ScratchDir dir;
  write_bytes(dir / "c.txt", position_text(50000));
  auto src = std::make_shared<TextSource>(dir / "c.txt", "train", 8);
  const std::int64_t global = 12;
  Loader one(src, ShardedSampler(src->size(), global, 0, 1, 5), true, 9, 2, 3);
  Loader r0(src, ShardedSampler(src->size(), global, 0, 2, 5), true, 9, 1, 2);
  Loader r1(src, ShardedSampler(src->size(), global, 1, 2, 5), true, 9, 3, 2);
  for (int step = 0; step < 5; ++step) {
    const Batch b = one.next(), b0 = r0.next(), b1 = r1.next();
    ASSERT_EQ(b.count, global);
    ASSERT_EQ(b.tokens.size(), static_cast<std::size_t>(global * 9));
    EXPECT_TRUE(b.images.empty());
    EXPECT_TRUE(b.labels.empty());
    // Rank 0 reads the first half of the 1-rank batch, rank 1 the second, window for window.
    std::vector<std::int64_t> joined = b0.tokens;
    joined.insert(joined.end(), b1.tokens.begin(), b1.tokens.end());
    EXPECT_EQ(joined, b.tokens) << step;
    for (const std::int64_t t : b.tokens) ASSERT_TRUE(t >= ' ' && t < ' ' + 95);
  }
}

TEST(TextSource, OpenDatasetNeedsAContextLength) {
  ScratchDir dir;
  write_bytes(dir / "c.txt", position_text(50000));
  EXPECT_THROW(open_dataset("text", dir / "c.txt", "train"), std::invalid_argument);
  DatasetOptions o;
  o.context_length = 32;
  const auto src = open_dataset("text", dir / "c.txt", "test", o);
  EXPECT_EQ(src->sequence_length(), 33);
  EXPECT_NE(src->description().find("validation split"), std::string::npos) << src->description();
  std::mt19937_64 rng(0);
  float img[1];
  EXPECT_THROW(src->write_example(0, false, rng, img), std::logic_error);
}

TEST(TextSource, EmptyBinaryCorruptAndTooShortCorporaNameTheFile) {
  ScratchDir dir;
  const NoCache no_cache;
  write_bytes(dir / "empty.txt", {});
  expect_data_error([&] { TextSource(dir / "empty.txt", "train", 8); }, dir / "empty.txt", "empty");
  std::filesystem::create_directories(dir / "nothing");
  expect_data_error([&] { TextSource(dir / "nothing", "train", 8); }, dir / "nothing", "no text files");
  write_bytes(dir / "blank/a.txt", {});
  expect_data_error([&] { TextSource(dir / "blank", "train", 8); }, dir / "blank", "empty");
  expect_data_error([&] { TextSource(dir / "missing.txt", "train", 8); }, dir / "missing.txt", "not found");

  std::vector<std::uint8_t> garbage(20000);
  std::mt19937_64 rng(3);
  for (auto& b : garbage) b = static_cast<std::uint8_t>(rng());
  write_bytes(dir / "garbage.bin", garbage);
  expect_data_error([&] { TextSource(dir / "garbage.bin", "train", 8); }, dir / "garbage.bin",
                    "does not look like text");
  // Binary inside a folder: the message names the file, not the folder.
  write_bytes(dir / "mixed/a.txt", position_text(30000));
  write_bytes(dir / "mixed/z.bin", garbage);
  expect_data_error([&] { TextSource(dir / "mixed", "train", 8); }, dir / "mixed/z.bin", "does not look like text");
  // A truncated gzip stream is an error, not a short corpus.
  write_gzip(dir / "full.gz", position_text(200000));
  auto gz = read_bytes(dir / "full.gz");
  gz.resize(gz.size() / 2);
  write_bytes(dir / "cut.dz", gz);
  expect_data_error([&] { TextSource(dir / "cut.dz", "train", 8); }, dir / "cut.dz", "corrupt or truncated");
  // 3000 bytes: each of the 16 segments (187 or 188 bytes) holds out 1 byte, 16 in all, fewer
  // than a window of 64 + 1.
  write_bytes(dir / "short.txt", position_text(3000));
  expect_data_error([&] { TextSource(dir / "short.txt", "test", 64); }, dir / "short.txt", "too short for context 64");
  EXPECT_NO_THROW(TextSource(dir / "short.txt", "test", 8));
}

TEST(TextSource, DebianGcideIsTheDefaultCorpus) {
  const std::string gcide = "/usr/share/dictd/gcide.dict.dz";
  if (!std::filesystem::exists(gcide)) GTEST_SKIP() << gcide << " not installed (scripts/setup installs dict-gcide)";
  TextSource val(gcide, "test", 128);
  // ~40 MB of decoded text; the validation split is about 1/128 of it.
  EXPECT_GT(val.bytes(), 39000000 / 128 - 1000);
  EXPECT_LT(val.bytes(), 41000000 / 128);
  std::mt19937_64 rng(0);
  std::vector<std::int64_t> w(129);
  val.write_tokens(val.size() / 2, false, rng, w.data());
  const auto letters = std::count_if(w.begin(), w.end(), [](std::int64_t c) { return std::isalpha(static_cast<int>(c)); });
  EXPECT_GT(letters, 60) << "English text";
}
