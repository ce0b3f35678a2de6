// batchlab pack SRC_IMAGEFOLDER_SPLIT OUT_DIR [--shard-mb 256]: rewrites an ImageFolder split
// as a few large shard files (realtrain/data/sources.h has the format), so a training run
// reads big sequential files instead of a million small ones.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "experiments/cli/commands.h"
#include "realtrain/data/data_error.h"
#include "realtrain/data/sources.h"

namespace batchlab::cli {

namespace {

constexpr const char* kUsage = "usage: batchlab pack SRC_IMAGEFOLDER_SPLIT OUT_DIR [--shard-mb 256]";

int bad(const std::string& what) {
  std::fprintf(stderr, "batchlab pack: %s\n", what.c_str());
  return 2;
}

}  // namespace

int cmd_pack(int argc, char** argv) {
  namespace fs = std::filesystem;
  std::vector<std::string> positional;
  std::string shard_mb_text = "256";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::printf("%s\n  Packs DIR/<class>/*.jpg|jpeg into OUT_DIR/shard-00000.bin ... of about --shard-mb MiB of JPEG\n"
                  "  bytes each; open them with dataset name 'packed' (OUT_DIR is then DATA_DIR/train or DATA_DIR/val).\n",
                  kUsage);
      return 0;
    }
    if (a == "--shard-mb") {
      if (i + 1 >= argc) return bad("--shard-mb needs a value (" + std::string(kUsage) + ")");
      shard_mb_text = argv[++i];
    } else if (a.rfind("--shard-mb=", 0) == 0) {
      shard_mb_text = a.substr(11);
    } else if (a.rfind("--", 0) == 0) {
      return bad("unknown option '" + a + "' (" + kUsage + ")");
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() != 2)
    return bad("expected SRC_IMAGEFOLDER_SPLIT and OUT_DIR, got " + std::to_string(positional.size()) +
               " arguments (" + kUsage + ")");
  char* end = nullptr;
  errno = 0;
  const double shard_mb = std::strtod(shard_mb_text.c_str(), &end);
  if (shard_mb_text.empty() || *end != '\0' || errno != 0 || !(shard_mb > 0) || shard_mb > 1e6)
    return bad("--shard-mb must be a positive number of MiB (at most 1e6), got '" + shard_mb_text + "'");
  const std::string& src = positional[0];
  const std::string& out = positional[1];
  std::error_code ec;
  if (!fs::is_directory(src, ec)) return bad("source '" + src + "' is not a directory");
  if (fs::exists(out, ec)) {
    if (!fs::is_directory(out, ec)) return bad("output '" + out + "' exists and is not a directory");
    for (const auto& e : fs::directory_iterator(out, ec))
      if (e.path().filename().string().rfind("shard-", 0) == 0)
        return bad("output '" + out + "' already holds shard files; refusing to mix packs");
  }
  // The folder scan (class list, file list) is input validation: its errors are exit 2 too.
  try {
    const data::ImageFolderSource probe(src);
    (void)probe;
  } catch (const data::DataError& e) {
    return bad(e.what());
  }

  try {
    const auto summary = data::pack_image_folder(
        src, out, static_cast<std::int64_t>(shard_mb * 1024 * 1024),
        [](const std::string& line) { std::printf("  %s\n", line.c_str()); });
    std::printf("packed %lld examples into %d shard(s), %.1f MiB of JPEG in %s\n",
                static_cast<long long>(summary.examples), summary.shards,
                summary.payload_bytes / (1024.0 * 1024.0), out.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "batchlab pack: %s\n", e.what());
    return 1;
  }
}

}  // namespace batchlab::cli
