// Geometry and resampling for the JPEG datasets: torchvision's RandomResizedCrop / Resize +
// CenterCrop box arithmetic and an antialiased bilinear resampler, written out so the loader
// needs neither PIL nor torch.
#pragma once

#include <cstdint>
#include <random>

namespace batchlab::data {

// A source region in continuous pixel coordinates: pixel k covers [k, k + 1).
struct CropBox {
  double y0 = 0, x0 = 0, height = 0, width = 0;
};

// Per-channel normalisation out = (v / 255 - mean) / std.
struct Normalization {
  float mean[3] = {0, 0, 0};
  float std[3] = {1, 1, 1};
};

// Resamples `box` of an interleaved HWC uint8 image into out_h x out_w and writes normalised
// float CHW (mirrored left-right when `flip`). Output pixel o samples the source around
// c = y0 + (o + 0.5) * height / out_h with the triangle (bilinear) kernel widened by the
// downscale factor s = max(1, height / out_h): w(k) = max(0, 1 - |k + 0.5 - c| / s), weights
// renormalised over the pixels inside the image. At s = 1 this is plain bilinear
// interpolation (half-pixel centres, edge clamp); for s > 1 it averages every covered pixel as
// PIL's antialiased BILINEAR resize does, instead of aliasing.
void resample_normalize(const std::uint8_t* src, int src_h, int src_w, int channels,
                        const CropBox& box, int out_h, int out_w, bool flip,
                        const Normalization& norm, float* out);

// torchvision RandomResizedCrop.get_params: 10 tries of area fraction U(min_scale, 1) and
// log-uniform aspect ratio in [3/4, 4/3]; a crop that fits is placed uniformly. Otherwise the
// centre crop with the aspect ratio clamped into [3/4, 4/3]. Integer box in source pixels.
CropBox random_resized_crop_box(int src_h, int src_w, double min_scale, std::mt19937_64& rng);

// torchvision Resize(resize_size) (shorter side -> resize_size, longer side truncated) then
// CenterCrop(crop_size), expressed as the source region the crop covers.
CropBox resize_center_crop_box(int src_h, int src_w, int resize_size, int crop_size);

}  // namespace batchlab::data
