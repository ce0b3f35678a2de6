// JPEG loader throughput: images/s that the prefetching Loader delivers as normalised float
// 3 x S x S training crops (RandomResizedCrop + flip, TurboJPEG decode, antialiased bilinear
// resample), with 1 and 2 worker threads, from an ImageFolder and from its packed shards.
// (Named torch_* only so the bench CMake links batchlab_data; it does not use torch.)
//
//   bench_torch_data_loader [--images 256] [--width 500] [--height 375] [--batch 32]
//                           [--size 224] [--epochs 3] [--warmup 1] [--dir /tmp/batchlab_bench_loader]
//                           [--json FILE]
//
// Generates --images synthetic JPEGs (ImageNet's typical 500x375, smooth colour fields plus
// noise, quality 90) into DIR, packs them, then per (source, threads): one warm-up epoch (page
// cache, thread-local decoders; --warmup), then --epochs timed epochs; reports the median epoch as
// images/s, the share of the time next() waited, and images per CPU-second of the whole process
// (std::clock, all threads): the per-image cost, which a machine shared with other jobs does not
// distort the way it distorts wall-clock rates. Correctness check (#wrong): the packed
// source must produce bit-identical batches to the folder source, for either thread count.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "experiments/bench/harness.h"
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

// The options through the harness; false after a one-line error.
bool parse(int argc, char** argv, batchlab::bench::Harness& h, Options& o) {
  h.option("images", o.images, "synthetic JPEGs to generate");
  h.option("width", o.width, "their width", 8);
  h.option("height", o.height, "their height", 8);
  h.option("batch", o.batch, "batch size");
  h.option("size", o.size, "crop size");
  h.option("dir", o.dir, "scratch directory (removed at the end)");
  h.timing(1, 3, {"epochs"});
  h.parse(argc, argv);
  o.epochs = h.iters();
  if (o.images < o.batch) {
    std::fprintf(stderr, "bench_torch_data_loader: need images >= batch\n");
    return false;
  }
  return true;
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

Result run(const std::shared_ptr<const ExampleSource>& src, const Options& o, int threads, int warmup) {
  ShardedSampler sampler(src->size(), o.batch, 0, 1, 7);
  const std::int64_t steps = sampler.steps_per_epoch();
  Loader loader(src, sampler, true, 7, threads, 2 * threads);
  Result r{};
  auto epoch = [&] {
    for (std::int64_t t = 0; t < steps; ++t) {
      Batch b = loader.next();
      if (r.first_batch.empty() && t == 0) r.first_batch = std::move(b.images);
    }
  };
  for (int w = 0; w < warmup; ++w) epoch();
  const double wait0 = loader.wait_seconds();
  const batchlab::bench::Samples s = batchlab::bench::time_calls(0, o.epochs, epoch);
  double all = 0.0, cpu_s = 0.0;
  for (std::size_t e = 0; e < s.wall_s.size(); ++e) {
    all += s.wall_s[e];
    cpu_s += s.cpu_s[e];
  }
  r.images_per_cpu_s = static_cast<double>(steps * o.batch * o.epochs) / cpu_s;
  r.images_per_s = static_cast<double>(steps * o.batch) / s.median_wall();
  r.wait_share = (loader.wait_seconds() - wait0) / all;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  batchlab::bench::Harness h("bench_torch_data_loader", "images/s of the JPEG loader, folder and packed shards");
  Options o;
  if (!parse(argc, argv, h, o)) return 2;
  h.print_header();
  std::printf("# hardware threads: %u\n", std::thread::hardware_concurrency());
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
      const Result r = run(src, o, threads, h.warmup());
      if (threads == 1) base = r.images_per_s;
      std::printf("%-8s %8d %12.1f %12.2f %7.1f%% %14.1f\n", name, threads, r.images_per_s, r.images_per_s / base,
                  100 * r.wait_share, r.images_per_cpu_s);
      h.record({{"source", name}, {"threads", threads}, {"images_per_s", r.images_per_s},
                {"wait_share", r.wait_share}, {"images_per_cpu_s", r.images_per_cpu_s}});
      if (folder_first.empty()) folder_first = r.first_batch;
      for (std::size_t i = 0; i < r.first_batch.size(); ++i) wrong += r.first_batch[i] != folder_first[i];
    }
  }
  std::printf("# #wrong counts first-batch values that differ from the folder source's (1 thread)\n");
  fs::remove_all(o.dir);
  return h.finish(wrong);
}
