#!/usr/bin/python3
"""Reference for tests/data/test_jpeg.cpp (Resample.MatchesNumpyReferenceOnACropBox).

Antialiased bilinear resampling of a source region, written independently of the C++ code as a
dense 2-D weight matrix per axis (numpy): output pixel o samples around
c = origin + (o + 0.5) * extent / n_out with the triangle kernel of half-width
s = max(1, extent / n_out), w(k) = max(0, 1 - |k + 0.5 - c| / s) over pixels inside the image,
rows renormalised (PIL's BILINEAR with its support scaled on downsampling). Prints the
resampled pixel values (0..255 scale) that the test embeds.
"""
import numpy as np


def axis_weights(origin, extent, n_out, n_src):
    scale = extent / n_out
    support = max(1.0, scale)
    centres = origin + (np.arange(n_out) + 0.5) * scale
    k = np.arange(n_src) + 0.5
    w = np.clip(1.0 - np.abs(k[None, :] - centres[:, None]) / support, 0.0, None)
    return w / w.sum(axis=1, keepdims=True)


def resample(img, box, out_h, out_w):
    y0, x0, h, w = box
    wy = axis_weights(y0, h, out_h, img.shape[0])
    wx = axis_weights(x0, w, out_w, img.shape[1])
    return wy @ img @ wx.T


img = np.array([[(i * 37 + j * 11) % 256 for j in range(9)] for i in range(7)], dtype=np.float64)
for box, oh, ow in [((1.5, 0.75, 5.0, 7.5), 3, 4), ((0.2, 0.4, 3.0, 3.0), 5, 5)]:
    out = resample(img, box, oh, ow)
    print(f"box {box} -> {oh}x{ow}:")
    print(",\n".join(", ".join(f"{v:.6f}" for v in row) for row in out))
