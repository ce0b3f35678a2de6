// JPEG decode/encode through the TurboJPEG API (libjpeg-turbo), one handle per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace batchlab::data {

struct RgbImage {
  int width = 0, height = 0;
  std::vector<std::uint8_t> pixels;  // height x width x 3, interleaved RGB
};

// Decodes to RGB (grey and CMYK/YCCK JPEGs are converted). A fatal decoder error, or a
// stream that ends before its end-of-image marker, throws DataError(name, ...).
RgbImage decode_jpeg(const std::uint8_t* data, std::size_t size, const std::string& name);

// Cheap validity check used by `batchlab pack`: the header parses, the dimensions are sane
// and the stream ends with an end-of-image marker. Returns {width, height}.
std::pair<int, int> check_jpeg(const std::uint8_t* data, std::size_t size, const std::string& name);

// Baseline JPEG of an interleaved RGB image, 4:4:4 chroma (tests, benchmarks).
std::vector<std::uint8_t> encode_jpeg(const std::uint8_t* rgb, int width, int height, int quality);

}  // namespace batchlab::data
