// JPEG loader throughput: images/s that the prefetching Loader delivers as normalised float
// 3 x S x S training crops (RandomResizedCrop + flip, TurboJPEG decode, antialiased bilinear
// resample), with 1 and 2 worker threads, from an ImageFolder and from its packed shards.
// (Named torch_* only so the bench CMake links batchlab_data; it does not use torch.)
//
//   bench_torch_data_loader [--images 256] [--width 500] [--height 375] [--batch 32]
//                           [--size 224] [--epochs 3] [--dir /tmp/batchlab_bench_loader]
//
// Generates --images synthetic JPEGs (ImageNet's typical 500x375, smooth colour fields plus
// noise, quality 90) into DIR, packs them, then per (source, threads): one warm-up epoch (page
// cache, thread-local decoders), then --epochs timed epochs; reports the median epoch as
// images/s, the share of the time next() waited, and images per CPU-second of the whole process
// (std::clock, all threads): the per-image cost, which a machine shared with other jobs does not
// distort the way it distorts wall-clock rates. Correctness check (#wrong): the packed
// source must produce bit-identical batches to the folder source, for either thread count.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "realtrain/data/jpeg.h"
#include "realtrain/data/source.h"
#include "realtrain/data/sources.h"

using namespace batchlab::data;
namespace fs = std::filesystem;

namespace {

struct Options {
  int images = 256, width = 500, height = 375, batch = 32, size = 224, epochs = 3;
  std::string dir = "/tmp/batchlab_bench_loader";
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "bench_torch_data_loader: %s needs a value\n", a.c_str());
      std::exit(2);
    }
    const char* v = argv[++i];
    if (a == "--images") o.images = std::atoi(v);
    else if (a == "--width") o.width = std::atoi(v);
    else if (a == "--height") o.height = std::atoi(v);
    else if (a == "--batch") o.batch = std::atoi(v);
    else if (a == "--size") o.size = std::atoi(v);
    else if (a == "--epochs") o.epochs = std::atoi(v);
    else if (a == "--dir") o.dir = v;
    else {
      std::fprintf(stderr, "bench_torch_data_loader: unknown option '%s'\n", a.c_str());
      std::exit(2);
    }
  }
  if (o.images < o.batch || o.batch < 1 || o.width < 8 || o.height < 8 || o.size < 1 || o.epochs < 1) {
    std::fprintf(stderr, "bench_torch_data_loader: need images >= batch >= 1, width/height >= 8, size, epochs >= 1\n");
    std::exit(2);
  }
  return o;
}

void generate(const Options& o) {
  fs::remove_all(o.dir);
  std::mt19937 rng(1);
  for (int i = 0; i < o.images; ++i) {
    std::vector<std::uint8_t> rgb(static_cast<std::size_t>(o.width) * o.height * 3);
    const int a = static_cast<int>(rng() % 200), b = static_cast<int>(rng() % 200);
    for (int y = 0; y < o.height; ++y)
      for (int x = 0; x < o.width; ++x) {
        std::uint8_t* p = &rgb[(static_cast<std::size_t>(y) * o.width + x) * 3];
        const int n = static_cast<int>(rng() % 24);
        p[0] = static_cast<std::uint8_t>((a + x * 50 / o.width + n) % 256);
        p[1] = static_cast<std::uint8_t>((b + y * 50 / o.height + n) % 256);
        p[2] = static_cast<std::uint8_t>((a + b + (x + y) % 40 + n) % 256);
      }
    const auto jpg = encode_jpeg(rgb.data(), o.width, o.height, 90);
    const fs::path f = fs::path(o.dir) / "images/train" / ("class" + std::to_string(i % 10)) / ("img" + std::to_string(i) + ".jpg");
    fs::create_directories(f.parent_path());
    std::ofstream(f, std::ios::binary).write(reinterpret_cast<const char*>(jpg.data()), static_cast<std::streamsize>(jpg.size()));
  }
  pack_image_folder(o.dir + "/images/train", o.dir + "/packed/train", 64 << 20);
}

struct Result {
  double images_per_s, images_per_cpu_s, wait_share;
  std::vector<float> first_batch;
};

Result run(const std::shared_ptr<const ExampleSource>& src, const Options& o, int threads) {
  ShardedSampler sampler(src->size(), o.batch, 0, 1, 7);
  const std::int64_t steps = sampler.steps_per_epoch();
  Loader loader(src, sampler, true, 7, threads, 2 * threads);
  Result r{};
  for (std::int64_t t = 0; t < steps; ++t) {
    Batch b = loader.next();
    if (t == 0) r.first_batch = std::move(b.images);
  }
  std::vector<double> epoch_s;
  const double wait0 = loader.wait_seconds();
  const auto t_all = std::chrono::steady_clock::now();
  const std::clock_t cpu0 = std::clock();
  for (int e = 0; e < o.epochs; ++e) {
    const auto t0 = std::chrono::steady_clock::now();
    for (std::int64_t t = 0; t < steps; ++t) loader.next();
    epoch_s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  const double all = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_all).count();
  const double cpu_s = static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC;
  r.images_per_cpu_s = static_cast<double>(steps * o.batch * o.epochs) / cpu_s;
  std::sort(epoch_s.begin(), epoch_s.end());
  r.images_per_s = static_cast<double>(steps * o.batch) / epoch_s[epoch_s.size() / 2];
  r.wait_share = (loader.wait_seconds() - wait0) / all;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  std::printf("#");
  for (int i = 0; i < argc; ++i) std::printf(" %s", argv[i]);
  std::printf("\n# hardware threads: %u\n", std::thread::hardware_concurrency());
  generate(o);
  DatasetOptions dopt;
  dopt.image_size = o.size;
  const auto folder = open_dataset("imagenet", o.dir + "/images", "train", dopt);
  const auto packed = open_dataset("packed", o.dir + "/packed", "train", dopt);
  std::printf("# %d JPEGs %dx%d -> 3x%dx%d train crops, batch %d, median of %d epochs\n", o.images, o.width, o.height,
              o.size, o.size, o.batch, o.epochs);
  std::printf("%-8s %8s %12s %12s %8s %14s\n", "source", "threads", "images/s", "speedup", "wait%", "images/cpu-s");
  long wrong = 0;
  std::vector<float> folder_first;  // the first batch of the first run: every run must match it
  for (const auto& [name, src] : {std::pair{"folder", folder}, std::pair{"packed", packed}}) {
    double base = 0;
    for (int threads : {1, 2}) {
      const Result r = run(src, o, threads);
      if (threads == 1) base = r.images_per_s;
      std::printf("%-8s %8d %12.1f %12.2f %7.1f%% %14.1f\n", name, threads, r.images_per_s, r.images_per_s / base,
                  100 * r.wait_share, r.images_per_cpu_s);
      if (folder_first.empty()) folder_first = r.first_batch;
      for (std::size_t i = 0; i < r.first_batch.size(); ++i) wrong += r.first_batch[i] != folder_first[i];
    }
  }
  std::printf("# #wrong (first batch differs from folder, 1 thread): %ld\n", wrong);
  fs::remove_all(o.dir);
  return wrong == 0 ? 0 : 1;
}
