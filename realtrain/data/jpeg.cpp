#include "realtrain/data/jpeg.h"

#include <turbojpeg.h>

#include <memory>
#include <stdexcept>

#include "realtrain/data/data_error.h"

namespace batchlab::data {

namespace {

// TurboJPEG handles are not thread-safe; each thread keeps its own for its lifetime.
struct Handle {
  explicit Handle(bool compress) : h(compress ? tjInitCompress() : tjInitDecompress()) {
    if (h == nullptr) throw std::runtime_error("TurboJPEG: cannot create a handle");
  }
  ~Handle() { tjDestroy(h); }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  tjhandle h;
};

// After a failed call libjpeg-turbo 2.1 can leave a decompressor in a state where the next,
// valid, stream fails too ("SOS before SOF"); a handle that saw an error is replaced.
thread_local std::unique_ptr<Handle> t_decoder;

tjhandle decoder() {
  if (!t_decoder) t_decoder = std::make_unique<Handle>(false);
  return t_decoder->h;
}

[[noreturn]] void fail(const std::string& name, const std::string& what) {
  t_decoder.reset();
  throw DataError(name, what);
}

// A stream cut short still decodes (libjpeg pads it with grey and only warns), so truncation
// is detected by the end-of-image marker FF D9, allowing a little trailing padding after it.
bool has_end_marker(const std::uint8_t* data, std::size_t size) {
  const std::size_t look = size < 1024 ? size : 1024;
  for (std::size_t i = size - look; i + 1 < size; ++i)
    if (data[i] == 0xFF && data[i + 1] == 0xD9) return true;
  return false;
}

struct Header {
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
};

Header read_header(tjhandle h, const std::uint8_t* data, std::size_t size, const std::string& name) {
  if (size < 4 || data[0] != 0xFF || data[1] != 0xD8)
    fail(name, "not a JPEG (no start-of-image marker FF D8)");
  if (!has_end_marker(data, size))
    fail(name, "truncated JPEG (no end-of-image marker FF D9), " + std::to_string(size) + " bytes");
  Header hd;
  if (tjDecompressHeader3(h, data, static_cast<unsigned long>(size), &hd.width, &hd.height,
                          &hd.subsampling, &hd.colorspace) != 0)
    fail(name, std::string("corrupt JPEG header (") + tjGetErrorStr2(h) + ")");
  if (hd.width <= 0 || hd.height <= 0 || std::int64_t{hd.width} * hd.height > (std::int64_t{1} << 28))
    fail(name, "corrupt JPEG header (dimensions " + std::to_string(hd.width) + "x" + std::to_string(hd.height) + ")");
  return hd;
}

}  // namespace

std::pair<int, int> check_jpeg(const std::uint8_t* data, std::size_t size, const std::string& name) {
  const Header hd = read_header(decoder(), data, size, name);
  return {hd.width, hd.height};
}

RgbImage decode_jpeg(const std::uint8_t* data, std::size_t size, const std::string& name) {
  tjhandle h = decoder();
  const Header hd = read_header(h, data, size, name);
  RgbImage img;
  img.width = hd.width;
  img.height = hd.height;
  const bool cmyk = hd.colorspace == TJCS_CMYK || hd.colorspace == TJCS_YCCK;
  const int pixel_format = cmyk ? TJPF_CMYK : TJPF_RGB;
  std::vector<std::uint8_t> buffer(static_cast<std::size_t>(hd.width) * hd.height * tjPixelSize[pixel_format]);
  if (tjDecompress2(h, data, static_cast<unsigned long>(size), buffer.data(), hd.width, 0, hd.height,
                    pixel_format, 0) != 0) {
    // Warnings (e.g. extraneous bytes, which PIL accepts as well) keep the decoded image.
    const bool fatal = tjGetErrorCode(h) == TJERR_FATAL;
    const std::string why = tjGetErrorStr2(h);
    t_decoder.reset();
    if (fatal) throw DataError(name, "corrupt JPEG data (" + why + ")");
  }
  if (!cmyk) {
    img.pixels = std::move(buffer);
    return img;
  }
  // Adobe CMYK JPEGs store inverted inks; libjpeg-turbo's own convention: R = C K / 255.
  img.pixels.resize(static_cast<std::size_t>(hd.width) * hd.height * 3);
  for (std::size_t p = 0, n = static_cast<std::size_t>(hd.width) * hd.height; p < n; ++p) {
    const unsigned k = buffer[4 * p + 3];
    for (int c = 0; c < 3; ++c)
      img.pixels[3 * p + c] = static_cast<std::uint8_t>((buffer[4 * p + c] * k + 127) / 255);
  }
  return img;
}

std::vector<std::uint8_t> encode_jpeg(const std::uint8_t* rgb, int width, int height, int quality) {
  thread_local Handle encoder(true);
  unsigned char* out = nullptr;
  unsigned long out_size = 0;
  if (tjCompress2(encoder.h, rgb, width, 0, height, TJPF_RGB, &out, &out_size, TJSAMP_444, quality,
                  TJFLAG_ACCURATEDCT) != 0) {
    const std::string why = tjGetErrorStr2(encoder.h);
    tjFree(out);
    throw std::runtime_error("JPEG encode failed: " + why);
  }
  std::vector<std::uint8_t> bytes(out, out + out_size);
  tjFree(out);
  return bytes;
}

}  // namespace batchlab::data
