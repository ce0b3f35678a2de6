// TextSource: byte-level text corpora for language models (sources.h has the split rule and
// the window placement).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "realtrain/data/data_error.h"
#include "realtrain/data/rng.h"
#include "realtrain/data/sources.h"

namespace batchlab::data {

namespace fs = std::filesystem;

namespace {

// Control characters that text does not contain: everything below 0x20 except tab, newline,
// vertical tab, form feed and carriage return, and DEL. Bytes >= 0x80 are allowed (UTF-8,
// Latin-1).
bool is_binary_byte(std::uint8_t b) { return (b < 0x20 && (b < 0x09 || b > 0x0d)) || b == 0x7f; }

// More than 1 in 1000 binary bytes: a compressed file gzip did not recognise, an image, an
// executable. Plain text has none; the threshold tolerates a stray form feed or escape.
void check_text(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::int64_t binary = 0, first = -1;
  for (std::size_t i = 0; i < bytes.size(); ++i)
    if (is_binary_byte(bytes[i])) {
      if (first < 0) first = static_cast<std::int64_t>(i);
      ++binary;
    }
  if (binary * 1000 > static_cast<std::int64_t>(bytes.size())) {
    char byte[8];
    std::snprintf(byte, sizeof byte, "0x%02x", bytes[static_cast<std::size_t>(first)]);
    throw DataError(path, "does not look like text: " + std::to_string(binary) + " of " +
                              std::to_string(bytes.size()) + " bytes are control characters (the first, " + byte +
                              ", at offset " + std::to_string(first) + "); expected plain, gzip or .dz text");
  }
}

// A file's text: gunzipped (through the decoded-copy cache) when it starts with the gzip magic
// 1f 8b, which covers .gz and dictd's .dz whatever the name, else the bytes as they are.
std::vector<std::uint8_t> read_text_file(const std::string& path) {
  std::uint8_t magic[2] = {0, 0};
  bool gzip = false;
  if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
    gzip = std::fread(magic, 1, 2, f) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    std::fclose(f);
  }
  std::vector<std::uint8_t> bytes = gzip ? read_gzip_file_cached(path) : read_file(path);
  check_text(path, bytes);
  return bytes;
}

std::vector<std::string> corpus_files(const std::string& dir) {
  std::vector<std::string> files;
  for (auto it = fs::recursive_directory_iterator(dir); it != fs::recursive_directory_iterator(); ++it) {
    if (it->path().filename().string().starts_with(".")) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file()) files.push_back(it->path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

std::vector<std::uint8_t> read_text_corpus(const std::string& path) {
  if (!fs::exists(path)) throw DataError(path, "text corpus not found (expected a text file or a folder of them)");
  if (!fs::is_directory(path)) {
    std::vector<std::uint8_t> bytes = read_text_file(path);
    if (bytes.empty()) throw DataError(path, "text corpus is empty");
    return bytes;
  }
  const std::vector<std::string> files = corpus_files(path);
  if (files.empty()) throw DataError(path, "folder holds no text files");
  std::vector<std::uint8_t> corpus;
  for (const auto& f : files) {
    const std::vector<std::uint8_t> bytes = read_text_file(f);
    corpus.insert(corpus.end(), bytes.begin(), bytes.end());
  }
  if (corpus.empty()) throw DataError(path, "text corpus is empty (" + std::to_string(files.size()) + " empty files)");
  return corpus;
}

TextSplits split_text_corpus(const std::vector<std::uint8_t>& corpus) {
  TextSplits s;
  const std::size_t n = corpus.size();
  for (std::size_t seg = 0; seg < kTextSegments; ++seg) {
    const std::size_t begin = seg * n / kTextSegments, end = (seg + 1) * n / kTextSegments;
    const std::size_t held = (end - begin) / kTextHoldoutDivisor;
    s.train.insert(s.train.end(), corpus.begin() + static_cast<std::ptrdiff_t>(begin),
                   corpus.begin() + static_cast<std::ptrdiff_t>(end - held));
    s.validation.insert(s.validation.end(), corpus.begin() + static_cast<std::ptrdiff_t>(end - held),
                        corpus.begin() + static_cast<std::ptrdiff_t>(end));
  }
  return s;
}

TextSource::TextSource(const std::string& path, const std::string& split, int context_length)
    : path_(path), split_(split), context_(context_length) {
  if (split != "train" && split != "test")
    throw std::invalid_argument("TextSource: unknown split '" + split + "' (expected train or test)");
  if (context_length < 1)
    throw std::invalid_argument("TextSource: context length must be >= 1, got " + std::to_string(context_length));
  std::vector<std::uint8_t> corpus = read_text_corpus(path);
  corpus_bytes_ = static_cast<std::int64_t>(corpus.size());
  TextSplits s = split_text_corpus(corpus);
  corpus.clear();
  corpus.shrink_to_fit();
  const std::size_t window = static_cast<std::size_t>(context_length) + 1;
  if (s.train.size() < window || s.validation.size() < window)
    throw DataError(path, "text corpus of " + std::to_string(corpus_bytes_) + " bytes is too short for context " +
                              std::to_string(context_length) + ": its training / validation splits hold " +
                              std::to_string(s.train.size()) + " / " + std::to_string(s.validation.size()) +
                              " bytes (the last 1/" + std::to_string(kTextHoldoutDivisor) + " of each of " +
                              std::to_string(kTextSegments) + " segments is validation), a window needs " +
                              std::to_string(window));
  bytes_ = split == "train" ? std::move(s.train) : std::move(s.validation);
}

std::int64_t TextSource::size() const { return (static_cast<std::int64_t>(bytes_.size()) - 1) / context_; }

std::int64_t TextSource::write_example(std::int64_t, bool, std::mt19937_64&, float*) const {
  throw std::logic_error("TextSource: a text example is a token sequence (write_tokens), not an image");
}

void TextSource::write_tokens(std::int64_t index, bool train, std::mt19937_64& rng, std::int64_t* out) const {
  const std::int64_t last_start = static_cast<std::int64_t>(bytes_.size()) - context_ - 1;
  std::int64_t start = index * context_;
  if (train) start = std::min(start + static_cast<std::int64_t>(uniform_below(rng, static_cast<std::uint64_t>(context_))), last_start);
  const std::uint8_t* p = bytes_.data() + start;
  for (std::int64_t t = 0; t <= context_; ++t) out[t] = p[t];
}

std::string TextSource::description() const {
  return "text " + path_ + ": " + std::to_string(corpus_bytes_) + " bytes, " +
         (split_ == "train" ? "training" : "validation") + " split " + std::to_string(bytes_.size()) +
         " bytes = " + std::to_string(size()) + " windows of " + std::to_string(context_) + "+1";
}

}  // namespace batchlab::data
