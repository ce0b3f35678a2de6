#include "realtrain/data/image_ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "realtrain/data/rng.h"

namespace batchlab::data {

namespace {

// Filter taps of every output pixel along one axis: window [first, first + count) and weights.
struct Taps {
  std::vector<int> first, count;
  std::vector<float> weights;  // out_n x max_taps
  int max_taps = 0;
};

Taps make_taps(double origin, double extent, int out_n, int src_n) {
  const double scale = extent / out_n;
  const double support = std::max(1.0, scale);
  Taps t;
  t.max_taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.first.resize(out_n);
  t.count.resize(out_n);
  t.weights.assign(static_cast<std::size_t>(out_n) * t.max_taps, 0.0f);
  for (int o = 0; o < out_n; ++o) {
    const double centre = origin + (o + 0.5) * scale;
    // Pixels with |k + 0.5 - centre| <= support: at most 2 ceil(support) + 1 of them.
    int lo = static_cast<int>(std::ceil(centre - support - 0.5));
    int hi = static_cast<int>(std::floor(centre + support - 0.5)) + 1;
    lo = std::max(lo, 0);
    hi = std::min(hi, src_n);
    double total = 0;
    float* w = &t.weights[static_cast<std::size_t>(o) * t.max_taps];
    int n = 0;
    for (int k = lo; k < hi && n < t.max_taps; ++k, ++n) {
      const double v = std::max(0.0, 1.0 - std::abs(k + 0.5 - centre) / support);
      w[n] = static_cast<float>(v);
      total += v;
    }
    if (total <= 0) {  // centre outside the image: nearest edge pixel
      lo = std::clamp(static_cast<int>(std::floor(centre)), 0, src_n - 1);
      n = 1;
      w[0] = 1.0f;
      total = 1.0;
    }
    for (int i = 0; i < n; ++i) w[i] = static_cast<float>(w[i] / total);
    t.first[o] = lo;
    t.count[o] = n;
  }
  return t;
}

}  // namespace

void resample_normalize(const std::uint8_t* src, int src_h, int src_w, int channels,
                        const CropBox& box, int out_h, int out_w, bool flip,
                        const Normalization& norm, float* out) {
  const Taps ty = make_taps(box.y0, box.height, out_h, src_h);
  const Taps tx = make_taps(box.x0, box.width, out_w, src_w);
  const int row_lo = ty.first.front();
  int row_hi = row_lo;
  for (int o = 0; o < out_h; ++o) row_hi = std::max(row_hi, ty.first[o] + ty.count[o]);

  // Horizontal pass over the source rows the vertical taps touch: rows x out_w x C floats.
  const int rows = row_hi - row_lo;
  std::vector<float> horiz(static_cast<std::size_t>(rows) * out_w * channels);
  for (int r = 0; r < rows; ++r) {
    const std::uint8_t* srow = src + static_cast<std::size_t>(row_lo + r) * src_w * channels;
    float* hrow = &horiz[static_cast<std::size_t>(r) * out_w * channels];
    for (int o = 0; o < out_w; ++o) {
      const float* w = &tx.weights[static_cast<std::size_t>(o) * tx.max_taps];
      const std::uint8_t* p = srow + static_cast<std::size_t>(tx.first[o]) * channels;
      for (int c = 0; c < channels; ++c) {
        float acc = 0;
        for (int i = 0; i < tx.count[o]; ++i) acc += w[i] * p[i * channels + c];
        hrow[o * channels + c] = acc;
      }
    }
  }

  // Vertical pass, normalisation and CHW layout in one go.
  const std::size_t plane = static_cast<std::size_t>(out_h) * out_w;
  float scale[3], shift[3];
  for (int c = 0; c < channels; ++c) {
    scale[c] = 1.0f / (255.0f * norm.std[c]);
    shift[c] = -norm.mean[c] / norm.std[c];
  }
  for (int o = 0; o < out_h; ++o) {
    const float* w = &ty.weights[static_cast<std::size_t>(o) * ty.max_taps];
    const int r0 = ty.first[o] - row_lo;
    for (int x = 0; x < out_w; ++x) {
      const int dst_x = flip ? out_w - 1 - x : x;
      for (int c = 0; c < channels; ++c) {
        float acc = 0;
        for (int i = 0; i < ty.count[o]; ++i)
          acc += w[i] * horiz[(static_cast<std::size_t>(r0 + i) * out_w + x) * channels + c];
        out[c * plane + static_cast<std::size_t>(o) * out_w + dst_x] = acc * scale[c] + shift[c];
      }
    }
  }
}

CropBox random_resized_crop_box(int src_h, int src_w, double min_scale, std::mt19937_64& rng) {
  const double area = static_cast<double>(src_h) * src_w;
  const double log_lo = std::log(3.0 / 4.0), log_hi = std::log(4.0 / 3.0);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * uniform_real(rng, min_scale, 1.0);
    const double aspect = std::exp(uniform_real(rng, log_lo, log_hi));
    // Python's round() is round-half-to-even, as is nearbyint in the default rounding mode.
    const int w = static_cast<int>(std::nearbyint(std::sqrt(target_area * aspect)));
    const int h = static_cast<int>(std::nearbyint(std::sqrt(target_area / aspect)));
    if (w > 0 && w <= src_w && h > 0 && h <= src_h) {
      const int i = static_cast<int>(uniform_below(rng, static_cast<std::uint64_t>(src_h - h + 1)));
      const int j = static_cast<int>(uniform_below(rng, static_cast<std::uint64_t>(src_w - w + 1)));
      return {double(i), double(j), double(h), double(w)};
    }
  }
  const double in_ratio = static_cast<double>(src_w) / src_h;
  int w = src_w, h = src_h;
  if (in_ratio < 3.0 / 4.0) {
    h = static_cast<int>(std::nearbyint(w / (3.0 / 4.0)));
  } else if (in_ratio > 4.0 / 3.0) {
    w = static_cast<int>(std::nearbyint(h * (4.0 / 3.0)));
  }
  return {double((src_h - h) / 2), double((src_w - w) / 2), double(h), double(w)};
}

CropBox resize_center_crop_box(int src_h, int src_w, int resize_size, int crop_size) {
  // Resize(int): the shorter side becomes resize_size, the longer int(resize_size * long / short).
  int rh = resize_size, rw = resize_size;
  if (src_w <= src_h)
    rh = static_cast<int>(static_cast<double>(resize_size) * src_h / src_w);
  else
    rw = static_cast<int>(static_cast<double>(resize_size) * src_w / src_h);
  const int top = static_cast<int>(std::nearbyint((rh - crop_size) / 2.0));
  const int left = static_cast<int>(std::nearbyint((rw - crop_size) / 2.0));
  const double sy = static_cast<double>(src_h) / rh, sx = static_cast<double>(src_w) / rw;
  return {top * sy, left * sx, crop_size * sy, crop_size * sx};
}

}  // namespace batchlab::data
