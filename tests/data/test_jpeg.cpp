// JPEG datasets: the resampler against hand algebra, torchvision's crop geometry, the
// ImageFolder layout, packed shards serving the same pixels, and the errors for corrupt files.
#include <gtest/gtest.h>

#include <turbojpeg.h>

#include <cmath>

#include "data_test_util.h"
#include "realtrain/data/data_error.h"
#include "realtrain/data/image_ops.h"
#include "realtrain/data/jpeg.h"
#include "realtrain/data/sources.h"

using namespace batchlab::data;
using namespace batchlab::data::testing;

namespace {

const Normalization kIdentity{{0, 0, 0}, {1, 1, 1}};  // out = v / 255

std::vector<float> resample_row(const std::vector<std::uint8_t>& row, int out_w, bool flip = false) {
  std::vector<float> out(static_cast<std::size_t>(out_w));
  resample_normalize(row.data(), 1, static_cast<int>(row.size()), 1, {0, 0, 1, double(row.size())}, 1, out_w,
                     flip, kIdentity, out.data());
  for (auto& v : out) v *= 255.0f;
  return out;
}

// width x height RGB image whose left half is `left` and right half `right`.
std::vector<std::uint8_t> two_tone(int width, int height, std::array<std::uint8_t, 3> left,
                                   std::array<std::uint8_t, 3> right) {
  std::vector<std::uint8_t> rgb;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c) rgb.push_back(x < width / 2 ? left[static_cast<std::size_t>(c)] : right[static_cast<std::size_t>(c)]);
  return rgb;
}

void write_jpeg(const std::string& path, const std::vector<std::uint8_t>& rgb, int w, int h) {
  write_bytes(path, encode_jpeg(rgb.data(), w, h, 95));
}

// Classes a_dog (label 0), b_cat (1), c_eel (2) with 2, 3, 4 JPEGs of differing sizes.
void write_folder(const std::string& split_dir) {
  const std::array<std::uint8_t, 3> colours[3] = {{200, 30, 30}, {30, 200, 30}, {30, 30, 200}};
  const char* names[3] = {"a_dog", "b_cat", "c_eel"};
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 2 + c; ++i) {
      const int w = 40 + 8 * i, h = 32 + 8 * c;
      write_jpeg(split_dir + "/" + names[c] + "/img" + std::to_string(i) + (i % 2 ? ".JPEG" : ".jpg"),
                 two_tone(w, h, colours[c], {250, 250, 250}), w, h);
    }
  write_bytes(split_dir + "/b_cat/notes.txt", {'h', 'i'});  // not an image: skipped
}

std::vector<float> example(const ExampleSource& s, std::int64_t i, bool train, std::uint64_t seed, std::int64_t* label = nullptr) {
  std::vector<float> out(static_cast<std::size_t>(s.shape().numel()));
  std::mt19937_64 rng(seed);
  const std::int64_t l = s.write_example(i, train, rng, out.data());
  if (label) *label = l;
  return out;
}

}  // namespace

TEST(Resample, UpscalingIsPlainBilinearWithHalfPixelCentres) {
  // Output centres of a 2 -> 4 upscale sit at source positions -0.25, 0.25, 0.75, 1.25.
  const auto out = resample_row({0, 100}, 4);
  EXPECT_FLOAT_EQ(out[0], 0.0f);
  EXPECT_NEAR(out[1], 25.0f, 1e-4);
  EXPECT_NEAR(out[2], 75.0f, 1e-4);
  EXPECT_NEAR(out[3], 100.0f, 1e-3);
}

TEST(Resample, DownscalingAveragesWithTheWidenedTriangle) {
  // 4 -> 2: support 2 around centres 1 and 3 (continuous coords); pixel centres 0.5, 1.5, 2.5,
  // 3.5 get weights 3/4, 3/4, 1/4 (and 1/4, 3/4, 3/4), renormalised by 7/4.
  const auto out = resample_row({0, 60, 120, 180}, 2);
  EXPECT_NEAR(out[0], (0 * 0.75 + 60 * 0.75 + 120 * 0.25) / 1.75, 1e-3);
  EXPECT_NEAR(out[1], (60 * 0.25 + 120 * 0.75 + 180 * 0.75) / 1.75, 1e-3);
  const auto flipped = resample_row({0, 60, 120, 180}, 2, true);
  EXPECT_FLOAT_EQ(flipped[0], out[1]);
  EXPECT_FLOAT_EQ(flipped[1], out[0]);
}

TEST(Resample, MatchesNumpyReferenceOnCropBoxes) {
  // Output of tests/reference/resample_reference.py (dense per-axis weight matrices).
  std::vector<std::uint8_t> img;
  for (int i = 0; i < 7; ++i)
    for (int j = 0; j < 9; ++j) img.push_back(static_cast<std::uint8_t>((i * 37 + j * 11) % 256));
  const std::vector<float> down_ref = {82.218487f,  103.033024f, 124.261094f, 145.075630f,
                                       142.071429f, 162.885965f, 184.114035f, 194.071429f,
                                       201.924370f, 202.924665f, 168.672859f, 97.521008f};
  std::vector<float> out(12);
  resample_normalize(img.data(), 7, 9, 1, {1.5, 0.75, 5.0, 7.5}, 3, 4, false, kIdentity, out.data());
  for (std::size_t i = 0; i < 12; ++i) EXPECT_NEAR(out[i] * 255.0f, down_ref[i], 2e-3) << i;
  const std::vector<float> up_ref = {2.2f,  8.8f,  15.4f, 22.0f, 28.6f,  24.4f, 31.0f,  37.6f,  44.2f,
                                     50.8f, 46.6f, 53.2f, 59.8f, 66.4f, 73.0f,  68.8f, 75.4f,  82.0f,
                                     88.6f, 95.2f, 91.0f, 97.6f, 104.2f, 110.8f, 117.4f};
  out.resize(25);
  resample_normalize(img.data(), 7, 9, 1, {0.2, 0.4, 3.0, 3.0}, 5, 5, false, kIdentity, out.data());
  for (std::size_t i = 0; i < 25; ++i) EXPECT_NEAR(out[i] * 255.0f, up_ref[i], 2e-3) << i;
}

TEST(Resample, NormalisesPerChannelIntoChwAndKeepsConstantsConstant) {
  const std::vector<std::uint8_t> img = two_tone(10, 6, {51, 102, 153}, {51, 102, 153});
  const Normalization norm{{0.1f, 0.2f, 0.3f}, {0.5f, 0.25f, 2.0f}};
  std::vector<float> out(3 * 4 * 5);
  resample_normalize(img.data(), 6, 10, 3, {1.3, 2.1, 3.7, 6.2}, 4, 5, false, norm, out.data());
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 20; ++p)
      EXPECT_NEAR(out[static_cast<std::size_t>(c * 20 + p)], ((51.0f * (c + 1)) / 255.0f - norm.mean[c]) / norm.std[c], 1e-5);
}

TEST(CropGeometry, ResizeThenCentreCropMatchesTorchvisionArithmetic) {
  // 400x300 (w x h): Resize(256) -> 341x256 (int(256 * 400 / 300)); CenterCrop(224): top
  // round(16) = 16, left round(58.5) = 58 (Python rounds half to even).
  const CropBox b = resize_center_crop_box(300, 400, 256, 224);
  EXPECT_DOUBLE_EQ(b.y0, 16 * 300.0 / 256);
  EXPECT_DOUBLE_EQ(b.height, 224 * 300.0 / 256);
  EXPECT_DOUBLE_EQ(b.x0, 58 * 400.0 / 341);
  EXPECT_DOUBLE_EQ(b.width, 224 * 400.0 / 341);
}

TEST(CropGeometry, RandomResizedCropStaysInsideWithScaleAndRatioInRange) {
  for (std::uint64_t seed = 0; seed < 500; ++seed) {
    std::mt19937_64 rng(seed);
    const CropBox b = random_resized_crop_box(375, 500, 0.08, rng);
    ASSERT_GE(b.y0, 0);
    ASSERT_GE(b.x0, 0);
    ASSERT_LE(b.y0 + b.height, 375);
    ASSERT_LE(b.x0 + b.width, 500);
    const double area = b.height * b.width / (375.0 * 500.0), ratio = b.width / b.height;
    // Sizes are rounded to whole pixels, hence the small slack.
    EXPECT_GE(area, 0.08 * 0.98);
    EXPECT_LE(area, 1.0);
    EXPECT_GE(ratio, 0.75 * 0.97);
    EXPECT_LE(ratio, 4.0 / 3.0 * 1.03);
  }
}

TEST(CropGeometry, RandomResizedCropFallsBackToTheClampedCentreCrop) {
  // 1000 wide, 10 high: any crop of >= 8% area with ratio <= 4/3 is taller than 10 pixels, so
  // all 10 tries fail; fallback h = 10, w = round(10 * 4/3) = 13, centred: x0 = (1000-13) // 2.
  std::mt19937_64 rng(4);
  const CropBox b = random_resized_crop_box(10, 1000, 0.08, rng);
  EXPECT_EQ(b.y0, 0);
  EXPECT_EQ(b.height, 10);
  EXPECT_EQ(b.width, 13);
  EXPECT_EQ(b.x0, 493);
}

TEST(Jpeg, RoundTripKeepsASmoothImageWithinJpegError) {
  std::vector<std::uint8_t> rgb;
  for (int y = 0; y < 40; ++y)
    for (int x = 0; x < 48; ++x) rgb.insert(rgb.end(), {std::uint8_t(4 * x), std::uint8_t(5 * y), std::uint8_t(100)});
  const auto bytes = encode_jpeg(rgb.data(), 48, 40, 95);
  const RgbImage img = decode_jpeg(bytes.data(), bytes.size(), "mem");
  ASSERT_EQ(img.width, 48);
  ASSERT_EQ(img.height, 40);
  int worst = 0;
  for (std::size_t i = 0; i < rgb.size(); ++i) worst = std::max(worst, std::abs(int(rgb[i]) - int(img.pixels[i])));
  EXPECT_LE(worst, 6);
}

TEST(ImageFolder, ClassesSortedByNameLabelsByPositionAndCentreCropGeometry) {
  ScratchDir dir;
  write_folder(dir / "train");
  const auto src = open_dataset("imagenet", dir.path().string(), "train", {16, 16});
  ASSERT_EQ(src->size(), 2 + 3 + 4);
  EXPECT_EQ(src->num_classes(), 3);
  EXPECT_EQ(src->shape().numel(), 3 * 16 * 16);
  const auto& folder = dynamic_cast<const ImageFolderSource&>(*src);
  EXPECT_EQ(folder.classes(), (std::vector<std::string>{"a_dog", "b_cat", "c_eel"}));
  // Example 0: a_dog/img0.jpg, 40x32, left half (200,30,30), right half white. Resize(16) ->
  // 20x16, centre crop 16 from x = 2: source x in [4, 36): crop columns 0..5 are the dog colour,
  // columns 10..15 white (each more than one source pixel away from the edge at x = 20).
  std::int64_t label = -1;
  const auto out = example(*src, 0, false, 0, &label);
  EXPECT_EQ(label, 0);
  const float tol = 4.0f / 255.0f / 0.224f;
  for (int y = 0; y < 16; ++y) {
    for (int x : {0, 5}) {
      EXPECT_NEAR(out[static_cast<std::size_t>(y * 16 + x)], (200 / 255.0f - 0.485f) / 0.229f, tol);
      EXPECT_NEAR(out[static_cast<std::size_t>(256 + y * 16 + x)], (30 / 255.0f - 0.456f) / 0.224f, tol);
    }
    for (int x : {10, 15}) EXPECT_NEAR(out[static_cast<std::size_t>(512 + y * 16 + x)], (250 / 255.0f - 0.406f) / 0.225f, tol);
  }
  std::vector<std::int64_t> labels;
  for (std::int64_t i = 0; i < src->size(); ++i) {
    example(*src, i, false, 0, &label);
    labels.push_back(label);
  }
  EXPECT_EQ(labels, (std::vector<std::int64_t>{0, 0, 1, 1, 1, 2, 2, 2, 2}));
}

TEST(ImageFolder, TrainCropsAreRandomDeterministicPerRngAndSometimesMirrored) {
  ScratchDir dir;
  write_folder(dir / "val");
  const auto src = open_dataset("imagenet", dir.path().string(), "test", {16, 0});
  EXPECT_EQ(example(*src, 4, true, 7), example(*src, 4, true, 7));
  EXPECT_NE(example(*src, 4, true, 7), example(*src, 4, true, 8));
  // a_dog's green channel is 30 on the left half and 250 on the right: unmirrored crops that
  // span the edge are bright on the right, mirrored ones on the left.
  int bright_left = 0, bright_right = 0;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    const auto out = example(*src, 0, true, seed);
    const float l = out[256 + 8 * 16 + 0], r = out[256 + 8 * 16 + 15];
    if (l > r + 1.0f) ++bright_left;
    if (r > l + 1.0f) ++bright_right;
  }
  EXPECT_GT(bright_left, 20);
  EXPECT_GT(bright_right, 20);
}

TEST(Packed, ShardsServeTheSamePixelsAndLabelsAsTheFolder) {
  ScratchDir dir;
  write_folder(dir / "images/train");
  // ~1 KB JPEGs and a 2.5 KB shard budget: several shards.
  const PackSummary summary = pack_image_folder(dir / "images/train", dir / "packed/train", 2500);
  EXPECT_EQ(summary.examples, 9);
  EXPECT_GT(summary.shards, 2);
  const auto folder = open_dataset("imagenet", dir / "images", "train", {24, 0});
  const auto packed = open_dataset("packed", dir / "packed", "train", {24, 0});
  ASSERT_EQ(packed->size(), folder->size());
  EXPECT_EQ(packed->num_classes(), folder->num_classes());
  EXPECT_EQ(dynamic_cast<const PackedSource&>(*packed).num_shards(), summary.shards);
  EXPECT_EQ(dynamic_cast<const PackedSource&>(*packed).classes(), dynamic_cast<const ImageFolderSource&>(*folder).classes());
  for (std::int64_t i = 0; i < folder->size(); ++i) {
    std::int64_t lf = -1, lp = -2;
    EXPECT_EQ(example(*folder, i, false, 0, &lf), example(*packed, i, false, 0, &lp)) << "eval example " << i;
    EXPECT_EQ(lf, lp);
    EXPECT_EQ(example(*folder, i, true, 100 + i), example(*packed, i, true, 100 + i)) << "train example " << i;
  }
  // The shards hold the files' bytes verbatim.
  std::vector<std::uint8_t> scratch;
  std::size_t size = 0;
  std::string name;
  const auto& p = dynamic_cast<const PackedSource&>(*packed);
  const std::uint8_t* bytes = p.jpeg_bytes(8, scratch, size, name);
  const auto original = read_bytes(dynamic_cast<const ImageFolderSource&>(*folder).files()[8]);
  EXPECT_EQ(std::vector<std::uint8_t>(bytes, bytes + size), original);
}

TEST(Packed, TruncatedBadMagicAndMissingShardsAreErrorsNamingTheFile) {
  ScratchDir dir;
  write_folder(dir / "src");
  pack_image_folder(dir / "src", dir / "p/train", 2500);
  const std::string root = dir / "p";
  const std::string s1 = dir / "p/train/shard-00001.bin";
  const auto good = read_bytes(s1);

  auto cut = good;
  cut.resize(cut.size() - 10);
  write_bytes(s1, cut);
  expect_data_error([&] { open_dataset("packed", root, "train"); }, s1, "truncated");
  write_bytes(s1, {good.begin(), good.begin() + 20});
  expect_data_error([&] { open_dataset("packed", root, "train"); }, s1, "wrong size");

  auto magic = good;
  magic[0] = 'X';
  write_bytes(s1, magic);
  expect_data_error([&] { open_dataset("packed", root, "train"); }, s1, "bad magic");

  write_bytes(s1, good);
  std::size_t shards = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir / "p/train")) shards += e.is_regular_file();
  std::filesystem::remove(dir / ("p/train/" + shard_file_name(static_cast<int>(shards) - 1)));
  expect_data_error([&] { open_dataset("packed", root, "train"); }, dir / "p/train", "found " + std::to_string(shards - 1));

  std::filesystem::remove(s1);
  expect_data_error([&] { open_dataset("packed", root, "train"); }, dir / "p/train/shard-00002.bin",
                    "unexpected shard name");
}

TEST(Jpeg, CorruptFilesAreErrorsNamingTheFileAndPackLeavesNoShard) {
  ScratchDir dir;
  write_folder(dir / "train");
  const std::string victim = dir / "train/b_cat/img1.JPEG";
  auto bytes = read_bytes(victim);
  bytes.resize(bytes.size() * 2 / 3);
  write_bytes(victim, bytes);
  const auto src = open_dataset("imagenet", dir.path().string(), "train", {16, 0});
  expect_data_error([&] { example(*src, 3, false, 0); }, victim, "truncated JPEG");
  expect_data_error([&] { pack_image_folder(dir / "train", dir / "out", 1 << 20); }, victim, "truncated JPEG");
  EXPECT_TRUE(std::filesystem::is_empty(dir / "out")) << "no shard or partial file left behind";

  write_bytes(victim, {'G', 'I', 'F', '8', '9', 'a', 0, 0});
  expect_data_error([&] { example(*src, 3, false, 0); }, victim, "not a JPEG");
  auto garbled = read_bytes(dir / "train/a_dog/img0.jpg");
  for (std::size_t i = 2; i < 200 && i < garbled.size(); ++i) garbled[i] = 0x5A;  // header destroyed
  write_bytes(victim, garbled);
  expect_data_error([&] { example(*src, 3, false, 0); }, victim, "corrupt JPEG");
}

TEST(ImageFolder, MissingSplitAndEmptyClassAreErrors) {
  ScratchDir dir;
  expect_data_error([&] { open_dataset("imagenet", dir.path().string(), "train"); }, dir / "train", "not found");
  std::filesystem::create_directories(dir / "train/empty_class");
  expect_data_error([&] { open_dataset("imagenet", dir.path().string(), "train"); }, dir / "train/empty_class",
                    "no .jpg");
  EXPECT_THROW(open_dataset("imagenet", dir.path().string(), "validation"), std::invalid_argument);
  EXPECT_THROW(open_dataset("svhn", dir.path().string(), "train"), std::invalid_argument);
}

TEST(Packed, LoaderBatchesFromShardsAreIdenticalForOneAndThreeThreadsAndMatchTheFolder) {
  ScratchDir dir;
  write_folder(dir / "images/val");
  pack_image_folder(dir / "images/val", dir / "packed/val", 3000);
  const auto folder = open_dataset("imagenet", dir / "images", "test", {16, 0});
  const auto packed = open_dataset("packed", dir / "packed", "test", {16, 0});
  auto batches = [](std::shared_ptr<const ExampleSource> s, int threads) {
    Loader loader(s, ShardedSampler(s->size(), 3, 0, 1, 5), true, 9, threads, 4);
    std::vector<Batch> out;
    for (int i = 0; i < 6; ++i) out.push_back(loader.next());  // two epochs of 3 steps
    return out;
  };
  const auto one = batches(packed, 1), three = batches(packed, 3), ref = batches(folder, 2);
  for (std::size_t i = 0; i < one.size(); ++i) {
    EXPECT_EQ(one[i].step, static_cast<std::int64_t>(i));
    EXPECT_EQ(one[i].images, three[i].images) << "step " << i;
    EXPECT_EQ(one[i].labels, three[i].labels);
    EXPECT_EQ(one[i].images, ref[i].images) << "step " << i;
    EXPECT_EQ(one[i].labels, ref[i].labels);
  }
}

namespace {

// A JPEG from raw pixels in any TurboJPEG pixel format (grey and CMYK files exist in ImageNet).
std::vector<std::uint8_t> encode_raw(const std::vector<std::uint8_t>& pixels, int w, int h, int pixel_format,
                                     int subsampling) {
  tjhandle t = tjInitCompress();
  unsigned char* out = nullptr;
  unsigned long size = 0;
  EXPECT_EQ(tjCompress2(t, pixels.data(), w, 0, h, pixel_format, &out, &size, subsampling, 95, 0), 0)
      << tjGetErrorStr2(t);
  std::vector<std::uint8_t> bytes(out, out + size);
  tjFree(out);
  tjDestroy(t);
  return bytes;
}

}  // namespace

TEST(Jpeg, GreyJpegsDecodeToEqualRgbChannels) {
  const std::vector<std::uint8_t> grey(16 * 8, 90);
  const auto bytes = encode_raw(grey, 16, 8, TJPF_GRAY, TJSAMP_GRAY);
  const RgbImage img = decode_jpeg(bytes.data(), bytes.size(), "grey");
  ASSERT_EQ(img.pixels.size(), 16u * 8 * 3);
  for (std::size_t p = 0; p < 16 * 8; ++p)
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(img.pixels[3 * p + static_cast<std::size_t>(c)], 90, 1);
}

TEST(Jpeg, CmykJpegsDecodeWithInvertedInksAsLibjpegTurboStoresThem) {
  // Stored (inverted) C, M, Y, K = 200, 100, 50, 255 -> R, G, B = C K / 255 ... = 200, 100, 50;
  // with K = 128: 100, 50, 25.
  std::vector<std::uint8_t> cmyk;
  for (int p = 0; p < 16 * 16; ++p) cmyk.insert(cmyk.end(), {200, 100, 50, std::uint8_t(p < 128 ? 255 : 128)});
  const auto bytes = encode_raw(cmyk, 16, 16, TJPF_CMYK, TJSAMP_444);
  const RgbImage img = decode_jpeg(bytes.data(), bytes.size(), "cmyk");
  ASSERT_EQ(img.pixels.size(), 16u * 16 * 3);
  const int top[3] = {200, 100, 50}, bottom[3] = {100, 50, 25};
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(img.pixels[static_cast<std::size_t>(3 * (2 * 16 + 5) + c)], top[c], 4) << "channel " << c;
    EXPECT_NEAR(img.pixels[static_cast<std::size_t>(3 * (13 * 16 + 5) + c)], bottom[c], 4) << "channel " << c;
  }
}

TEST(ImageFolder, NestedFilesFollowTorchvisionOrderDirectoryThenName) {
  // os.walk roots sorted ("cls" < "cls/a"), names sorted within each: cls/b.jpg precedes
  // cls/a/x.jpg although a plain path sort would put it after.
  ScratchDir dir;
  const auto rgb = two_tone(8, 8, {10, 20, 30}, {10, 20, 30});
  for (const char* f : {"train/cls/b.jpg", "train/cls/a/x.jpg", "train/cls/a.jpg", "train/cls/a/b/y.jpg"})
    write_jpeg(dir / f, rgb, 8, 8);
  const ImageFolderSource src(dir / "train");
  std::vector<std::string> rel;
  for (const auto& f : src.files()) rel.push_back(f.substr((dir / "train/").size()));
  EXPECT_EQ(rel, (std::vector<std::string>{"cls/a.jpg", "cls/b.jpg", "cls/a/x.jpg", "cls/a/b/y.jpg"}));
}
